/// The byte order a filter program is assembled for. Filters load
/// `struct io_uring_bpf_ctx` with aligned 32-bit loads in the machine's
/// byte order, so a sub-word field's shift and mask, the word holding a half
/// of a u64, and constants that encode byte order (`#htons(N)`, `#ipv4(…)`,
/// `#ipv6(…)[N]`) depend on it (docs/architectures.md, "Byte order").
public enum ByteOrder: String, Sendable, Equatable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case little
    case big

    /// The machine this process runs on (the Swift guest: little-endian x86_64).
    public static var host: ByteOrder { UInt32(1).littleEndian == 1 ? .little : .big }

    public var description: String { rawValue + "-endian" }

    /// The native 32-bit word the four bytes `b` (in memory order) read as.
    public func word(_ b: [UInt8]) -> UInt32 {
        precondition(b.count == 4)
        switch self {
        case .little: return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
        case .big: return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
        }
    }
}
