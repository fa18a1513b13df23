// Named fields of struct io_uring_bpf_ctx for filter programs.
//
// The kernel accepts only aligned 32-bit BPF_ABS loads inside the context
// (io_uring_check_cbpf_filter), and loads are native-endian. So a field is
// named by its byte offset and size in the struct, and the assembler turns
// it into the aligned word that holds it plus a shift and mask that are
// right for the target's byte order: `ld [sqe_flags]` (byte 9) is
// `ld [8]; rsh #8; and #0xff` on little-endian and `ld [8]; rsh #16;
// and #0xff` on big-endian. 64-bit fields are split into .lo and .hi words
// (the low half is at +0 on little-endian, +4 on big-endian).
// Both orders take the same number of instructions (a field at the bottom
// of its word on one order is at the top on the other), so labels, `+N`
// jumps and `padded_to` lengths do not change with the order.

public struct ContextField: Sendable, Equatable {
    public let name: String
    /// Byte offset of the field (or of the u64 the half belongs to) in the struct.
    public let byteOffset: Int
    /// Size in bytes of what the name reads: 1, 2 or 4 (a u64 half is 4).
    public let size: Int
    /// For a half of a u64: which half (the u64 starts at byteOffset).
    public let half: Half?
    public let summary: String

    public enum Half: Sendable, Equatable { case lo, hi }

    /// Where to load and how to narrow, for one byte order.
    public struct Access: Sendable, Equatable {
        /// Offset of the aligned 32-bit word holding the field.
        public let wordOffset: UInt32
        /// Right shift to apply after the load (0 = none).
        public let shift: UInt32
        /// Mask after the shift, nil when none is needed.
        public let mask: UInt32?
        public var isWholeWord: Bool { shift == 0 && mask == nil }
    }

    public func access(_ order: ByteOrder) -> Access {
        if let half {
            // A u64 in memory: the low half is the first word on little-endian, the second on big-endian.
            let first = (half == .lo) == (order == .little)
            return Access(wordOffset: UInt32(byteOffset + (first ? 0 : 4)), shift: 0, mask: nil)
        }
        let word = byteOffset & ~3
        let b = byteOffset - word
        guard size < 4 else { return Access(wordOffset: UInt32(word), shift: 0, mask: nil) }
        // Bits of the word the field's first byte lands in: byte b is bits 8b.. on
        // little-endian, and the field's last byte is bits 0.. at b + size = 4 on big-endian.
        let shift = order == .little ? 8 * b : 8 * (4 - b - size)
        // No mask when the field reaches the top of the word (the shift clears the rest).
        let mask: UInt32? = shift + 8 * size == 32 ? nil : (UInt32(1) << UInt32(8 * size)) - 1
        return Access(wordOffset: UInt32(word), shift: UInt32(shift), mask: mask)
    }

    /// The little-endian access (the host the Swift guest runs on).
    public var wordOffset: UInt32 { access(.little).wordOffset }
    public var shift: UInt32 { access(.little).shift }
    public var mask: UInt32? { access(.little).mask }
    public var isWholeWord: Bool { size == 4 }

    public static func named(_ name: String) -> ContextField? {
        all.first { $0.name == name }
    }

    private static func word(_ name: String, _ off: Int, _ summary: String) -> ContextField {
        ContextField(name: name, byteOffset: off, size: 4, half: nil, summary: summary)
    }

    private static func sub(_ name: String, _ off: Int, _ size: Int, _ summary: String) -> ContextField {
        ContextField(name: name, byteOffset: off, size: size, half: nil, summary: summary)
    }

    private static func u64(_ name: String, _ off: Int, _ what: String) -> [ContextField] {
        [ContextField(name: name, byteOffset: off, size: 4, half: .lo, summary: "\(what): low 32 bits"),
         ContextField(name: name + ".hi", byteOffset: off, size: 4, half: .hi, summary: "\(what): high 32 bits")]
    }

    private typealias C = FilterABI.Context

    public static let all: [ContextField] = [
        ContextField(name: "user_data.lo", byteOffset: C.userData, size: 4, half: .lo, summary: "low 32 bits of sqe->user_data"),
        ContextField(name: "user_data.hi", byteOffset: C.userData, size: 4, half: .hi, summary: "high 32 bits of sqe->user_data"),
        sub("opcode", C.opcode, 1, "IORING_OP_* of the request"),
        sub("sqe_flags", C.sqeFlags, 1, "IOSQE_* flags the kernel exposes (SQE_VALID_FLAGS)"),
        sub("pdu_size", C.pduSize, 1, "size of the opcode-specific context, 0 when none"),
        sub("pad.0", C.pad, 1, "pad[0], the byte after pdu_size (zeroed by the kernel's memset)"),
        word("socket.family", C.Socket.family, "SOCKET: domain (sqe->fd)"),
        word("socket.type", C.Socket.type, "SOCKET: type (sqe->off), SOCK_CLOEXEC/SOCK_NONBLOCK masked off since 7.3.2"),
        word("socket.protocol", C.Socket.proto, "SOCKET: protocol (sqe->len)"),
    ] + u64("open.flags", C.Open.flags, "OPENAT/OPENAT2: open_how.flags")
      + u64("open.mode", C.Open.mode, "OPENAT/OPENAT2: open_how.mode")
      + u64("open.resolve", C.Open.resolve, "OPENAT/OPENAT2: open_how.resolve (RESOLVE_*)")
      + [
        word("connect.family", C.Connect.family, "CONNECT: sa_family, zero-extended"),
        sub("connect.port", C.Connect.port, 2, "CONNECT: port in network byte order (compare with #htons(N))"),
        sub("connect.pad", C.Connect.pad, 2, "CONNECT: pad[2] after the port (never written, zero)"),
        word("connect.v4_addr", C.Connect.v4Addr, "CONNECT: IPv4 address, network order (compare with #ipv4(a.b.c.d))"),
        word("connect.v6_addr.0", C.Connect.v6Addr, "CONNECT: IPv6 address bytes 0-3 (compare with #ipv6(ADDR)[0])"),
        word("connect.v6_addr.1", C.Connect.v6Addr + 4, "CONNECT: IPv6 address bytes 4-7 (#ipv6(ADDR)[1])"),
        word("connect.v6_addr.2", C.Connect.v6Addr + 8, "CONNECT: IPv6 address bytes 8-11 (#ipv6(ADDR)[2])"),
        word("connect.v6_addr.3", C.Connect.v6Addr + 12, "CONNECT: IPv6 address bytes 12-15 (#ipv6(ADDR)[3])"),
    ]

    /// What a raw `ld [k]` of a filter on `opcode` (nil: not known before the
    /// kernel runs) reads that differs between byte orders, or nil when the
    /// word reads the same on both (a whole 32-bit field, or a word that is
    /// zero for this opcode). For lint and the exporter's BYTE-ORDER list.
    public static func orderDependentWord(_ k: UInt32, opcode: UInt32?) -> (what: String, instead: String)? {
        let isOpen = opcode == nil || opcode == Opcode.openat || opcode == Opcode.openat2
        let isConnect = opcode == nil || opcode == Opcode.connect
        switch k {
        case 0, 4: return ("a half of the u64 user_data", "ld [user_data.lo] or ld [user_data.hi]")
        case 8: return ("the word holding the u8 fields opcode, sqe_flags, pdu_size and pad[0]",
                        "ld [opcode], ld [sqe_flags], ld [pdu_size] or ld [pad.0]")
        case 16...36 where k % 4 == 0:
            var what: [String] = [], instead: [String] = []
            if isOpen {
                let names = ["open.flags", "open.flags.hi", "open.mode", "open.mode.hi", "open.resolve", "open.resolve.hi"]
                what.append("a half of a u64 of open_how (OPENAT/OPENAT2)")
                instead.append("ld [\(names[Int(k - 16) / 4])]")
            }
            if isConnect && k == 20 {
                what.append("the CONNECT word holding the __be16 port and pad[2]")
                instead.append("ld [connect.port] or ld [connect.pad]")
            } else if isConnect && k >= 24 {
                let n = Int(k - 24) / 4
                what.append("CONNECT address bytes \(4 * n)-\(4 * n + 3) (network order read as a native word)")
                instead.append(n == 0 ? "ld [connect.v4_addr] or ld [connect.v6_addr.0]" : "ld [connect.v6_addr.\(n)]")
            }
            return what.isEmpty ? nil : (what.joined(separator: "; "), instead.joined(separator: "; "))
        default: return nil
        }
    }
}
