// The io_uring flag words as OptionSets, one definition each: IORING_SETUP_*
// and IOSQE_* from Linux 7.3's include/uapi/linux/io_uring.h, and the O_* and
// RESOLVE_* bits of struct open_how (include/uapi/asm-generic/fcntl.h,
// include/uapi/linux/openat2.h) that the model decides OPENAT/OPENAT2 with.
// `names` spell the case language (the C name without its prefix).
// Tests/RingfenceKitTests/ABIFlagTests.swift checks every bit and name
// against the C headers in Tests/CKernelABI.

/// IORING_SETUP_*: io_uring_params.flags.
public struct SetupFlags: OptionSet, Hashable, Sendable, Codable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let iopoll = SetupFlags(rawValue: 1 << 0)
    public static let sqpoll = SetupFlags(rawValue: 1 << 1)
    public static let sqAff = SetupFlags(rawValue: 1 << 2)
    public static let cqSize = SetupFlags(rawValue: 1 << 3)
    public static let clamp = SetupFlags(rawValue: 1 << 4)
    public static let attachWQ = SetupFlags(rawValue: 1 << 5)
    public static let rDisabled = SetupFlags(rawValue: 1 << 6)
    public static let submitAll = SetupFlags(rawValue: 1 << 7)
    public static let coopTaskrun = SetupFlags(rawValue: 1 << 8)
    public static let taskrunFlag = SetupFlags(rawValue: 1 << 9)
    public static let sqe128 = SetupFlags(rawValue: 1 << 10)
    public static let cqe32 = SetupFlags(rawValue: 1 << 11)
    public static let singleIssuer = SetupFlags(rawValue: 1 << 12)
    public static let deferTaskrun = SetupFlags(rawValue: 1 << 13)
    public static let noMmap = SetupFlags(rawValue: 1 << 14)
    public static let registeredFDOnly = SetupFlags(rawValue: 1 << 15)
    public static let noSQArray = SetupFlags(rawValue: 1 << 16)
    public static let hybridIOPoll = SetupFlags(rawValue: 1 << 17)
    public static let cqeMixed = SetupFlags(rawValue: 1 << 18)
    public static let sqeMixed = SetupFlags(rawValue: 1 << 19)
    public static let sqRewind = SetupFlags(rawValue: 1 << 20)

    /// Without the IORING_SETUP_ prefix, in bit order.
    public static let names: [(String, SetupFlags)] = [
        ("IOPOLL", .iopoll), ("SQPOLL", .sqpoll), ("SQ_AFF", .sqAff), ("CQSIZE", .cqSize),
        ("CLAMP", .clamp), ("ATTACH_WQ", .attachWQ), ("R_DISABLED", .rDisabled),
        ("SUBMIT_ALL", .submitAll), ("COOP_TASKRUN", .coopTaskrun), ("TASKRUN_FLAG", .taskrunFlag),
        ("SQE128", .sqe128), ("CQE32", .cqe32), ("SINGLE_ISSUER", .singleIssuer),
        ("DEFER_TASKRUN", .deferTaskrun), ("NO_MMAP", .noMmap), ("REGISTERED_FD_ONLY", .registeredFDOnly),
        ("NO_SQARRAY", .noSQArray), ("HYBRID_IOPOLL", .hybridIOPoll), ("CQE_MIXED", .cqeMixed),
        ("SQE_MIXED", .sqeMixed), ("SQ_REWIND", .sqRewind),
    ]
    /// Every bit 7.3 defines; io_uring_sanitise_params() fails any other with EINVAL.
    public static let known = SetupFlags(names.map(\.1))
}

/// IOSQE_*: io_uring_sqe.flags (and the low byte of req->flags).
public struct SQEFlags: OptionSet, Hashable, Sendable, Codable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let fixedFile = SQEFlags(rawValue: 1 << 0)
    public static let ioDrain = SQEFlags(rawValue: 1 << 1)
    public static let ioLink = SQEFlags(rawValue: 1 << 2)
    public static let ioHardlink = SQEFlags(rawValue: 1 << 3)
    public static let async = SQEFlags(rawValue: 1 << 4)
    public static let bufferSelect = SQEFlags(rawValue: 1 << 5)
    public static let cqeSkipSuccess = SQEFlags(rawValue: 1 << 6)

    /// Without the IOSQE_ prefix, in bit order.
    public static let names: [(String, SQEFlags)] = [
        ("FIXED_FILE", .fixedFile), ("IO_DRAIN", .ioDrain), ("IO_LINK", .ioLink),
        ("IO_HARDLINK", .ioHardlink), ("ASYNC", .async), ("BUFFER_SELECT", .bufferSelect),
        ("CQE_SKIP_SUCCESS", .cqeSkipSuccess),
    ]
    /// SQE_VALID_FLAGS (io_uring/io_uring.h): every IOSQE_* bit up to CQE_SKIP_SUCCESS.
    public static let valid = SQEFlags(names.map(\.1))
    /// IO_LINK or IO_HARDLINK: the request links to the next one.
    public static let link: SQEFlags = [.ioLink, .ioHardlink]
}

/// O_* as struct open_how.flags carries them (x86-64, include/uapi/asm-generic/fcntl.h),
/// and OPENAT2_REGULAR (include/uapi/linux/openat2.h), which only openat2 accepts.
public struct OpenFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// O_ACCMODE: O_RDONLY 0, O_WRONLY 1, O_RDWR 2 (a value, not bits).
    public static let accMode = OpenFlags(rawValue: 0o3)
    public static let writeOnly = OpenFlags(rawValue: 0o1)
    public static let readWrite = OpenFlags(rawValue: 0o2)
    public static let creat = OpenFlags(rawValue: 0o100)
    public static let excl = OpenFlags(rawValue: 0o200)
    public static let noctty = OpenFlags(rawValue: 0o400)
    public static let trunc = OpenFlags(rawValue: 0o1000)
    public static let append = OpenFlags(rawValue: 0o2000)
    public static let nonblock = OpenFlags(rawValue: 0o4000)
    public static let dsync = OpenFlags(rawValue: 0o10000)
    public static let fasync = OpenFlags(rawValue: 0o20000)
    public static let direct = OpenFlags(rawValue: 0o40000)
    public static let largefile = OpenFlags(rawValue: 0o100000)
    public static let directory = OpenFlags(rawValue: 0o200000)
    public static let nofollow = OpenFlags(rawValue: 0o400000)
    public static let noatime = OpenFlags(rawValue: 0o1000000)
    public static let cloexec = OpenFlags(rawValue: 0o2000000)
    /// __O_SYNC (O_SYNC is __O_SYNC | O_DSYNC).
    public static let sync = OpenFlags(rawValue: 0o4000000)
    public static let path = OpenFlags(rawValue: 0o10000000)
    /// __O_TMPFILE (O_TMPFILE is __O_TMPFILE | O_DIRECTORY).
    public static let tmpfile = OpenFlags(rawValue: 0o20000000)
    public static let emptyPath = OpenFlags(rawValue: 1 << 26)
    public static let openat2Regular = OpenFlags(rawValue: 1 << 32)
}

/// RESOLVE_*: struct open_how.resolve (include/uapi/linux/openat2.h).
public struct ResolveFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let noXdev = ResolveFlags(rawValue: 0x01)
    public static let noMagiclinks = ResolveFlags(rawValue: 0x02)
    public static let noSymlinks = ResolveFlags(rawValue: 0x04)
    public static let beneath = ResolveFlags(rawValue: 0x08)
    public static let inRoot = ResolveFlags(rawValue: 0x10)
    public static let cached = ResolveFlags(rawValue: 0x20)
    /// VALID_RESOLVE_FLAGS (include/linux/fcntl.h).
    public static let valid: ResolveFlags = [.noXdev, .noMagiclinks, .noSymlinks, .beneath, .inRoot, .cached]
}

/// IORING_NOP_*: io_uring_sqe.nop_flags.
public struct NopFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let injectResult = NopFlags(rawValue: 1 << 0)
    public static let file = NopFlags(rawValue: 1 << 1)
    public static let fixedFile = NopFlags(rawValue: 1 << 2)
    public static let fixedBuffer = NopFlags(rawValue: 1 << 3)
    public static let tw = NopFlags(rawValue: 1 << 4)
    public static let cqe32 = NopFlags(rawValue: 1 << 5)
    /// Every bit io_nop_prep() accepts.
    public static let valid: NopFlags = [.injectResult, .file, .fixedFile, .fixedBuffer, .tw, .cqe32]
}

/// IORING_URING_CMD_*: io_uring_sqe.uring_cmd_flags.
public struct UringCmdFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let fixed = UringCmdFlags(rawValue: 1 << 0)
    public static let multishot = UringCmdFlags(rawValue: 1 << 1)
    /// IORING_URING_CMD_MASK.
    public static let mask: UringCmdFlags = [.fixed, .multishot]
}

/// IORING_TIMEOUT_* (and IORING_LINK_TIMEOUT_UPDATE): io_uring_sqe.timeout_flags.
public struct TimeoutFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let abs = TimeoutFlags(rawValue: 1 << 0)
    public static let update = TimeoutFlags(rawValue: 1 << 1)
    public static let boottime = TimeoutFlags(rawValue: 1 << 2)
    public static let realtime = TimeoutFlags(rawValue: 1 << 3)
    public static let linkTimeoutUpdate = TimeoutFlags(rawValue: 1 << 4)
    public static let etimeSuccess = TimeoutFlags(rawValue: 1 << 5)
    public static let multishot = TimeoutFlags(rawValue: 1 << 6)
    public static let immediateArg = TimeoutFlags(rawValue: 1 << 7)
}

/// IORING_FSYNC_*: io_uring_sqe.fsync_flags.
public struct FsyncFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let datasync = FsyncFlags(rawValue: 1 << 0)
}
