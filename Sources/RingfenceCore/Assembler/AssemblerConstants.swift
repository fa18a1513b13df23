// Symbolic constants a filter program (or a case file) may write instead of
// numbers: `#AF_INET`, `#O_CREAT|O_EXCL`, `#IORING_OP_OPENAT2`, and the
// byte-order helpers `htons(N)` and `ipv4(a.b.c.d)`. Values are the x86-64
// Linux ones; AssemblerTests checks them against the C headers.

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

    private static let byName: [String: UInt32] = Dictionary(
        table.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })

    /// The value of a named constant (without `#`), case-insensitively; nil if unknown.
    public static func value(_ name: String) -> UInt32? {
        byName[name.uppercased()]
    }

    /// What the filter sees for a 16-bit port stored in network order and read
    /// by a little-endian load: htons(80) == 0x5000.
    public static func htons(_ port: UInt16) -> UInt32 {
        UInt32(port.byteSwapped)
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
