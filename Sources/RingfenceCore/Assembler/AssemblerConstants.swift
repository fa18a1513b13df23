// Symbolic constants a filter program (or a case file) may write instead of
// numbers: `#AF_INET`, `#O_CREAT|O_EXCL`, `#IORING_OP_OPENAT2`, and the
// byte-order helpers `htons(N)`, `ipv4(a.b.c.d)` and `ipv6(ADDR)[N]`, which
// compute what a load of the network-order bytes yields on the target's byte
// order. Values are the x86-64 Linux ones; AssemblerTests checks them against
// the C headers. `O_LARGEFILE` is per architecture (AsmTarget.oLargefile).

public enum SymbolicConstant {
    /// Every named constant, in a stable order (for error messages and docs).
    public static let table: [(name: String, value: UInt32)] = fixed + Opcode.names.enumerated().map {
        ("IORING_OP_" + $0.element, UInt32($0.offset))
    }

    private static let fixed: [(name: String, value: UInt32)] = [
        ("AF_UNIX", 1), ("AF_INET", 2), ("AF_INET6", 10), ("AF_NETLINK", 16), ("AF_PACKET", 17),
        ("SOCK_STREAM", 1), ("SOCK_DGRAM", 2), ("SOCK_RAW", 3), ("SOCK_SEQPACKET", 5),
        ("SOCK_NONBLOCK", 0o4000), ("SOCK_CLOEXEC", 0o2000000),
        ("O_RDONLY", 0), ("O_WRONLY", 1), ("O_RDWR", 2),
        ("O_CREAT", UInt32(OpenFlags.creat.rawValue)), ("O_EXCL", UInt32(OpenFlags.excl.rawValue)), ("O_TRUNC", UInt32(OpenFlags.trunc.rawValue)), ("O_APPEND", UInt32(OpenFlags.append.rawValue)),
        ("O_NONBLOCK", UInt32(OpenFlags.nonblock.rawValue)), ("O_DIRECTORY", UInt32(OpenFlags.directory.rawValue)), ("O_NOFOLLOW", UInt32(OpenFlags.nofollow.rawValue)),
        ("O_CLOEXEC", UInt32(OpenFlags.cloexec.rawValue)), ("O_PATH", UInt32(OpenFlags.path.rawValue)),
        // __O_TMPFILE | O_DIRECTORY, as the UAPI header defines it.
        ("O_TMPFILE", UInt32(OpenFlags([.tmpfile, .directory]).rawValue)),
        ("RESOLVE_NO_XDEV", UInt32(ResolveFlags.noXdev.rawValue)), ("RESOLVE_NO_MAGICLINKS", UInt32(ResolveFlags.noMagiclinks.rawValue)), ("RESOLVE_NO_SYMLINKS", UInt32(ResolveFlags.noSymlinks.rawValue)),
        ("RESOLVE_BENEATH", UInt32(ResolveFlags.beneath.rawValue)), ("RESOLVE_IN_ROOT", UInt32(ResolveFlags.inRoot.rawValue)), ("RESOLVE_CACHED", UInt32(ResolveFlags.cached.rawValue)),
        ("IOSQE_FIXED_FILE", UInt32(SQEFlags.fixedFile.rawValue)), ("IOSQE_IO_DRAIN", UInt32(SQEFlags.ioDrain.rawValue)), ("IOSQE_IO_LINK", UInt32(SQEFlags.ioLink.rawValue)),
        ("IOSQE_IO_HARDLINK", UInt32(SQEFlags.ioHardlink.rawValue)), ("IOSQE_ASYNC", UInt32(SQEFlags.async.rawValue)), ("IOSQE_BUFFER_SELECT", UInt32(SQEFlags.bufferSelect.rawValue)),
        ("IOSQE_CQE_SKIP_SUCCESS", UInt32(SQEFlags.cqeSkipSuccess.rawValue)),
    ]

    /// The open flags whose value is per architecture (the kernel's
    /// arch/*/include/uapi/asm/fcntl.h: arm64 moves O_DIRECTORY, O_NOFOLLOW,
    /// O_DIRECT and O_LARGEFILE) with the C expression that names each on the
    /// target: glibc's <fcntl.h> has the right O_DIRECTORY/O_NOFOLLOW/O_TMPFILE
    /// everywhere, but O_LARGEFILE is 0 there on 64-bit (RF_O_LARGEFILE).
    public static let archOpenFlags: [(name: String, c: String)] = [
        ("O_DIRECTORY", "O_DIRECTORY"), ("O_NOFOLLOW", "O_NOFOLLOW"), ("O_TMPFILE", "O_TMPFILE"), ("O_LARGEFILE", "RF_O_LARGEFILE"),
    ]

    private static let byName: [String: UInt32] = Dictionary(
        table.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })

    /// The value of a named constant (without `#`), case-insensitively; nil if unknown.
    public static func value(_ name: String) -> UInt32? {
        byName[name.uppercased()]
    }

    /// What the filter sees for a 16-bit port stored in network order and read
    /// by a load of `order` (connect.port): htons(80) == 0x5000 on
    /// little-endian, 80 on big-endian.
    public static func htons(_ port: UInt16, _ order: ByteOrder = .little) -> UInt32 {
        order == .little ? UInt32(port.byteSwapped) : UInt32(port)
    }

    /// What a 32-bit load of `order` of a network-order IPv4 address yields:
    /// ipv4("127.0.0.1") == 0x0100007f on little-endian, 0x7f000001 on
    /// big-endian. Nil unless four dotted decimal octets.
    public static func ipv4(_ dotted: String, _ order: ByteOrder) -> UInt32? {
        guard let le = ipv4(dotted) else { return nil }
        return order == .little ? le : le.byteSwapped
    }

    /// The 16 network-order bytes of an IPv6 address (RFC 4291 text: eight
    /// hex groups, one `::`, an optional trailing dotted IPv4); nil if malformed.
    public static func ipv6(_ text: String) -> [UInt8]? {
        var t = Substring(text)
        var tailV4: [UInt8] = []
        if let lastColon = t.lastIndex(of: ":"), t[t.index(after: lastColon)...].contains(".") {
            guard let v4 = ipv4(String(t[t.index(after: lastColon)...])) else { return nil }
            tailV4 = withUnsafeBytes(of: v4.littleEndian) { Array($0) }
            t = t[...lastColon]
            if t.hasSuffix(":") && !t.hasSuffix("::") { t = t.dropLast() }
        }
        func groups(_ s: Substring) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(g.count), g.allSatisfy(\.isHexDigit), let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        let want = tailV4.isEmpty ? 8 : 6
        var words: [UInt16]
        if let gap = t.range(of: "::") {
            guard let head = groups(t[..<gap.lowerBound]), let tail = groups(t[gap.upperBound...]),
                  !t[gap.upperBound...].contains("::"), head.count + tail.count < want else { return nil }
            words = head + Array(repeating: 0, count: want - head.count - tail.count) + tail
        } else {
            guard let all = groups(t), all.count == want else { return nil }
            words = all
        }
        return words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] } + tailV4
    }

    /// What a little-endian 32-bit load of a network-order IPv4 address yields:
    /// ipv4("127.0.0.1") == 0x0100007f. Nil unless four dotted decimal octets.
    public static func ipv4(_ dotted: String) -> UInt32? {
        let parts = dotted.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for (i, part) in parts.enumerated() {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII),
                  let octet = UInt8(part) else { return nil }
            value |= UInt32(octet) << (8 * UInt32(i))
        }
        return value
    }
}
