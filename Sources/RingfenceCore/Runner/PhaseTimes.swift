import CRingfence

/// Where a run's time goes, printed as `# ringfence: phase NAME X s (…)`
/// diagnostic lines: always in the VM guest (PID 1's CLI), with --verbose
/// elsewhere. Cheap: a clock read per phase, a few per case file.
public enum PhaseTimes {
    /// Seconds, three decimals (no Foundation formatting).
    public static func seconds(_ ns: UInt64) -> String {
        let ms = Int((Double(ns) / 1e6).rounded())
        let frac = String(ms % 1000)
        return "\(ms / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
    }

    public static func line(_ name: String, _ ns: UInt64, _ detail: String = "") -> String {
        "# ringfence: phase \(name) \(seconds(ns)) s" + (detail.isEmpty ? "" : " (\(detail))")
    }

    /// Runs `body` and returns its value with the nanoseconds it took.
    public static func measure<T>(_ body: () throws -> T) rethrows -> (T, UInt64) {
        let t0 = rf_now_ns()
        let v = try body()
        return (v, rf_now_ns() - t0)
    }
}

/// Time spent inside CaseLoader, split by stage (reset by each directory load).
public struct CaseLoadTimings: Sendable {
    public var files = 0
    public var readNs: UInt64 = 0
    /// Yams.compose: YAML text to nodes.
    public var composeNs: UInt64 = 0
    /// CaseLoader.load(yaml:) in all: compose, parse, assemble.
    public var caseFileNs: UInt64 = 0
    /// Assembler.assemble calls made while parsing.
    public var assembleNs: UInt64 = 0
    public var assembleCalls = 0
    public init() {}

    public var summary: String {
        "\(files) files: read \(PhaseTimes.seconds(readNs)) s, YAML compose \(PhaseTimes.seconds(composeNs)) s, "
            + "parse \(PhaseTimes.seconds(caseFileNs &- composeNs &- assembleNs)) s, assemble \(PhaseTimes.seconds(assembleNs)) s in \(assembleCalls) calls"
    }
}
