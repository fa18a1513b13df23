// The io_uring BPF filter ABI, as include/uapi/linux/io_uring/bpf_filter.h
// (Linux 7.3) defines it. Structures are encoded byte by byte at fixed
// offsets rather than through Swift memory layout, so every field (reserved
// ones included) can be set to any value a case asks for.
// Tests/RingfenceKitTests/ABILayoutTests.swift checks every offset against
// the C header itself.

public enum FilterABI {
    /// IORING_REGISTER_BPF_FILTER, the io_uring_register(2) opcode.
    public static let registerOpcode: UInt32 = 37
    /// IORING_REGISTER_RESTRICTIONS and IORING_REGISTER_ENABLE_RINGS.
    public static let registerRestrictions: UInt32 = 11
    public static let registerEnableRings: UInt32 = 12
    public static let registerProbe: UInt32 = 8
    /// IORING_REGISTER_USE_REGISTERED_RING, or-ed into the opcode.
    public static let useRegisteredRing: UInt32 = 1 << 31
    /// IO_URING_BPF_CMD_FILTER
    public static let cmdFilter: UInt16 = 1
    /// BPF_MAXINSNS from include/uapi/linux/bpf_common.h
    public static let maxInstructions = 4096
    /// BPF_MEMWORDS: scratch memory M[0..15]
    public static let memWords = 16

    public struct Flag: OptionSet, Hashable, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// IO_URING_BPF_FILTER_DENY_REST: every opcode without a filter gets a deny filter.
        public static let denyRest = Flag(rawValue: 1)
        /// IO_URING_BPF_FILTER_SZ_STRICT: fail unless pdu_size equals the kernel's.
        public static let sizeStrict = Flag(rawValue: 2)
        public static let known: Flag = [.denyRest, .sizeStrict]
        public static let names: [(String, Flag)] = [("DENY_REST", .denyRest), ("SZ_STRICT", .sizeStrict)]
    }

    /// struct io_uring_bpf: 72 bytes.
    public enum Registration {
        public static let size = 72
        public static let cmdType = 0      // __u16
        public static let cmdFlags = 2     // __u16
        public static let resv = 4         // __u32
        public static let filter = 8       // struct io_uring_bpf_filter
    }

    /// struct io_uring_bpf_filter: 64 bytes, offsets relative to its start.
    public enum Filter {
        public static let size = 64
        public static let opcode = 0       // __u32
        public static let flags = 4        // __u32
        public static let filterLen = 8    // __u32
        public static let pduSize = 12     // __u8
        public static let resv = 13        // __u8[3]
        public static let resvCount = 3
        public static let filterPtr = 16   // __u64
        public static let resv2 = 24       // __u64[5]
        public static let resv2Count = 5
    }

    /// struct io_uring_bpf_ctx: 40 bytes, what a filter's BPF_ABS loads read.
    public enum Context {
        public static let size = 40
        public static let userData = 0     // __u64
        public static let opcode = 8       // __u8
        public static let sqeFlags = 9     // __u8
        public static let pduSize = 10     // __u8
        public static let pad = 11         // __u8[5]
        public static let union = 16
        public enum Socket { public static let family = 16, type = 20, proto = 24, size = 12 }
        public enum Open { public static let flags = 16, mode = 24, resolve = 32, size = 24 }
        public enum Connect {
            public static let family = 16, port = 20, pad = 22, v4Addr = 24, v6Addr = 24, size = 24
        }
    }

    /// struct io_uring_task_restriction: 16-byte header, then io_uring_restriction[nr_res].
    public enum TaskRestriction {
        public static let size = 16
        public static let flags = 0        // __u16
        public static let nrRes = 2        // __u16
        public static let resv = 4         // __u32[3]
    }

    /// struct io_uring_restriction: 16 bytes.
    public enum Restriction {
        public static let size = 16
        public static let opcode = 0       // __u16 IORING_RESTRICTION_*
        public static let value = 2        // __u8 register_op / sqe_op / sqe_flags (union)
        public static let resv = 3
        public static let kindRegisterOp: UInt16 = 0
        public static let kindSQEOp: UInt16 = 1
        public static let kindSQEFlagsAllowed: UInt16 = 2
        public static let kindSQEFlagsRequired: UInt16 = 3
    }
}

/// Little-endian byte buffer with fixed-offset stores; the kernel ABI is
/// native-endian and ringfence only runs on little-endian x86-64 (and arm64).
public struct ByteImage: Equatable, Sendable {
    public var bytes: [UInt8]
    public init(size: Int) { bytes = Array(repeating: 0, count: size) }
    public init(bytes: [UInt8]) { self.bytes = bytes }

    public mutating func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { raw in
            for (i, b) in raw.enumerated() { bytes[offset + i] = b }
        }
    }

    public func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var v: T = 0
        withUnsafeMutableBytes(of: &v) { raw in
            for i in 0..<raw.count { raw[i] = bytes[offset + i] }
        }
        return T(littleEndian: v)
    }
}
