// io_uring opcodes (enum io_uring_op) as of Linux 7.3, by name. Case files
// name opcodes without the IORING_OP_ prefix ("NOP", "OPENAT2"); numbers work
// too. An older kernel has a smaller IORING_OP_LAST: ringfence reads the
// running kernel's value from IORING_REGISTER_PROBE (see KernelProbe) and a
// case may say `opcode: LAST` to mean it.
public enum Opcode {
    /// Index = opcode number.
    public static let names: [String] = [
        "NOP", // 0
        "READV", // 1
        "WRITEV", // 2
        "FSYNC", // 3
        "READ_FIXED", // 4
        "WRITE_FIXED", // 5
        "POLL_ADD", // 6
        "POLL_REMOVE", // 7
        "SYNC_FILE_RANGE", // 8
        "SENDMSG", // 9
        "RECVMSG", // 10
        "TIMEOUT", // 11
        "TIMEOUT_REMOVE", // 12
        "ACCEPT", // 13
        "ASYNC_CANCEL", // 14
        "LINK_TIMEOUT", // 15
        "CONNECT", // 16
        "FALLOCATE", // 17
        "OPENAT", // 18
        "CLOSE", // 19
        "FILES_UPDATE", // 20
        "STATX", // 21
        "READ", // 22
        "WRITE", // 23
        "FADVISE", // 24
        "MADVISE", // 25
        "SEND", // 26
        "RECV", // 27
        "OPENAT2", // 28
        "EPOLL_CTL", // 29
        "SPLICE", // 30
        "PROVIDE_BUFFERS", // 31
        "REMOVE_BUFFERS", // 32
        "TEE", // 33
        "SHUTDOWN", // 34
        "RENAMEAT", // 35
        "UNLINKAT", // 36
        "MKDIRAT", // 37
        "SYMLINKAT", // 38
        "LINKAT", // 39
        "MSG_RING", // 40
        "FSETXATTR", // 41
        "SETXATTR", // 42
        "FGETXATTR", // 43
        "GETXATTR", // 44
        "SOCKET", // 45
        "URING_CMD", // 46
        "SEND_ZC", // 47
        "SENDMSG_ZC", // 48
        "READ_MULTISHOT", // 49
        "WAITID", // 50
        "FUTEX_WAIT", // 51
        "FUTEX_WAKE", // 52
        "FUTEX_WAITV", // 53
        "FIXED_FD_INSTALL", // 54
        "FTRUNCATE", // 55
        "BIND", // 56
        "LISTEN", // 57
        "RECV_ZC", // 58
        "EPOLL_WAIT", // 59
        "READV_FIXED", // 60
        "WRITEV_FIXED", // 61
        "PIPE", // 62
        "NOP128", // 63
        "URING_CMD128", // 64
    ]
    /// IORING_OP_LAST in the headers ringfence was written against (7.3).
    public static let lastKnown = UInt32(names.count)

    /// names, inverted: the fuzzer and the model look opcodes up per SQE.
    private static let numbers: [String: UInt32] = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, UInt32($0)) })

    public static func number(_ name: String) -> UInt32? {
        if let n = numbers[name] { return n }
        let bare = name.hasPrefix("IORING_OP_") ? String(name.dropFirst(10)) : name
        return numbers[bare.uppercased()]
    }

    /// The opcodes ringfence's own code singles out, by name once here.
    public static let timeout = number("TIMEOUT")!, accept = number("ACCEPT")!, linkTimeout = number("LINK_TIMEOUT")!
    public static let connect = number("CONNECT")!, openat = number("OPENAT")!, openat2 = number("OPENAT2")!
    public static let socket = number("SOCKET")!

    public static func name(_ number: UInt32) -> String {
        number < lastKnown ? names[Int(number)] : "op\(number)"
    }

    /// Opcodes whose filters get an opcode-specific context (def->filter_pdu_size
    /// in io_uring/opdef.c), with the size upstream 7.3 gives it.
    public static let upstreamContextSize: [String: UInt8] = [
        "CONNECT": 24, "OPENAT": 24, "OPENAT2": 24, "SOCKET": 12,
    ]
}
