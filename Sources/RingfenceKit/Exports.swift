// The host side re-exports everything the guest side defines.
@_exported import RingfenceCore
