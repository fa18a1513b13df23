import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A booted VM's raw outcome.
public struct BootOutcome {
    public var console: String
    public var qemuLog: String
    public var timedOut = false
    /// QEMU's exit code, nil when ringfence killed it.
    public var qemuExit: Int32?
    /// The exit marker arrived but the guest did not power off in time.
    public var noPowerOff = false
    public var kvmFailed: String?
    /// The kernel printed nothing for this many seconds after QEMU started
    /// (a damaged image): QEMU was stopped.
    public var silentFor: Double?
    /// The x86 boot stub halted before the kernel started (its last line).
    public var haltedEarly: String?
    public var seconds: Double = 0
    /// Seconds from QEMU's start to the guest's first line and to its exit marker.
    public var firstGuestLine: Double?
    public var exitMarker: Double?
}
