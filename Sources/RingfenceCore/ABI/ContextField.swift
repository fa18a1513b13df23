// Named fields of struct io_uring_bpf_ctx for filter programs.
//
// The kernel accepts only aligned 32-bit BPF_ABS loads inside the context
// (io_uring_check_cbpf_filter), and loads are native-endian. So a field is
// named by the aligned word that holds it plus a shift and mask: the
// assembler turns `ld [sqe_flags]` into `ld [8]; rsh #8; and #0xff`.
// 64-bit fields are split into .lo and .hi words.

public struct ContextField: Sendable, Equatable {
    public let name: String
    /// Offset of the aligned 32-bit word holding the field.
    public let wordOffset: UInt32
    /// Right shift to apply after the load (0 = none).
    public let shift: UInt32
    /// Mask after the shift, nil for a whole word.
    public let mask: UInt32?
    public let summary: String

    public var isWholeWord: Bool { shift == 0 && mask == nil }

    public static func named(_ name: String) -> ContextField? {
        all.first { $0.name == name }
    }

    private static func word(_ name: String, _ off: Int, _ summary: String) -> ContextField {
        ContextField(name: name, wordOffset: UInt32(off), shift: 0, mask: nil, summary: summary)
    }

    private typealias C = FilterABI.Context

    public static let all: [ContextField] = [
        word("user_data.lo", C.userData, "low 32 bits of sqe->user_data"),
        word("user_data.hi", C.userData + 4, "high 32 bits of sqe->user_data"),
        ContextField(name: "opcode", wordOffset: UInt32(C.opcode), shift: 0, mask: 0xff, summary: "IORING_OP_* of the request"),
        ContextField(name: "sqe_flags", wordOffset: UInt32(C.opcode), shift: 8, mask: 0xff, summary: "IOSQE_* flags the kernel exposes (SQE_VALID_FLAGS)"),
        ContextField(name: "pdu_size", wordOffset: UInt32(C.opcode), shift: 16, mask: 0xff, summary: "size of the opcode-specific context, 0 when none"),
        word("socket.family", C.Socket.family, "SOCKET: domain (sqe->fd)"),
        word("socket.type", C.Socket.type, "SOCKET: type (sqe->off), SOCK_CLOEXEC/SOCK_NONBLOCK masked off since 7.3.2"),
        word("socket.protocol", C.Socket.proto, "SOCKET: protocol (sqe->len)"),
        word("open.flags", C.Open.flags, "OPENAT/OPENAT2: low 32 bits of open_how.flags"),
        word("open.flags.hi", C.Open.flags + 4, "OPENAT/OPENAT2: high 32 bits of open_how.flags"),
        word("open.mode", C.Open.mode, "OPENAT/OPENAT2: low 32 bits of open_how.mode"),
        word("open.mode.hi", C.Open.mode + 4, "OPENAT/OPENAT2: high 32 bits of open_how.mode"),
        word("open.resolve", C.Open.resolve, "OPENAT/OPENAT2: low 32 bits of open_how.resolve (RESOLVE_*)"),
        word("open.resolve.hi", C.Open.resolve + 4, "OPENAT/OPENAT2: high 32 bits of open_how.resolve"),
        word("connect.family", C.Connect.family, "CONNECT: sa_family, zero-extended"),
        ContextField(name: "connect.port", wordOffset: UInt32(C.Connect.port), shift: 0, mask: 0xffff, summary: "CONNECT: port in network byte order (compare with #htons(N))"),
        word("connect.v4_addr", C.Connect.v4Addr, "CONNECT: IPv4 address, network order (compare with #ipv4(a.b.c.d))"),
        word("connect.v6_addr.0", C.Connect.v6Addr, "CONNECT: IPv6 address bytes 0-3"),
        word("connect.v6_addr.1", C.Connect.v6Addr + 4, "CONNECT: IPv6 address bytes 4-7"),
        word("connect.v6_addr.2", C.Connect.v6Addr + 8, "CONNECT: IPv6 address bytes 8-11"),
        word("connect.v6_addr.3", C.Connect.v6Addr + 12, "CONNECT: IPv6 address bytes 12-15"),
    ]
}
