/// One filter set-up whose per-SQE submission cost `ringfence bench` measures.
public struct BenchConfig: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// N stacked "ret #1" filters on the ring, for the measured opcode.
        case ringFilters
        /// One allow filter with DENY_REST (every other opcode gets the dummy).
        case denyRest
        /// One allow filter on the task (fd -1), inherited by the ring.
        case taskFilter
        /// Legacy IORING_REGISTER_RESTRICTIONS allowing only the measured opcode.
        case legacyRestrictions
    }

    public var kind: Kind
    public var filters: Int

    public var label: String {
        switch kind {
        case .ringFilters: return filters == 0 ? "no filter" : "\(filters) filter\(filters == 1 ? "" : "s")"
        case .denyRest: return "DENY_REST"
        case .taskFilter: return "task filter"
        case .legacyRestrictions: return "restrictions"
        }
    }

    public static let stackDepths = [0, 1, 4, 16, 64]

    public static var standard: [BenchConfig] {
        stackDepths.map { BenchConfig(kind: .ringFilters, filters: $0) }
            + [BenchConfig(kind: .denyRest, filters: 1), BenchConfig(kind: .taskFilter, filters: 1),
               BenchConfig(kind: .legacyRestrictions, filters: 0)]
    }
}
