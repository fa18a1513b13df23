import CRingfence
#if canImport(Glibc)
import Glibc
#endif

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

    /// The whole machine's CPU time so far from /proc/stat's first line, in
    /// clock ticks (USER_HZ): user (with nice), system (with irq and softirq:
    /// kernel threads such as io_uring's exit work count here too, which a
    /// process's rusage misses), idle (with iowait). nil without /proc.
    public static func machineCPU() -> (user: UInt64, system: UInt64, idle: UInt64)? {
        let fd = open("/proc/stat", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 256)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        guard n > 0 else { return nil }
        let first = buf[0..<n].split(separator: UInt8(ascii: "\n"), maxSplits: 1).first ?? []
        let f = first.split(separator: UInt8(ascii: " ")).dropFirst().compactMap { UInt64(String(decoding: $0, as: UTF8.self)) }
        guard f.count >= 7 else { return nil }
        return (f[0] + f[1], f[2] + f[5] + f[6], f[3] + f[4])
    }

    /// "CPU user U s, system S s, idle I s" between two machineCPU() readings.
    public static func cpuSplit(_ a: (user: UInt64, system: UInt64, idle: UInt64)?, _ b: (user: UInt64, system: UInt64, idle: UInt64)?) -> String? {
        guard let a, let b else { return nil }
        let hz = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        func s(_ ticks: UInt64) -> String { seconds(ticks * 1_000_000_000 / hz) }
        return "CPU user \(s(b.user &- a.user)) s, system \(s(b.system &- a.system)) s, idle \(s(b.idle &- a.idle)) s"
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
    /// Reading and decoding a compiled plan (suite.rfcases): nothing is parsed.
    public var decodeNs: UInt64 = 0
    public init() {}

    public var summary: String {
        if decodeNs > 0 { return "\(files) files compiled on the host: plan read and decoded in \(PhaseTimes.seconds(decodeNs)) s" }
        return "\(files) files: read \(PhaseTimes.seconds(readNs)) s, YAML compose \(PhaseTimes.seconds(composeNs)) s, "
            + "parse \(PhaseTimes.seconds(caseFileNs &- composeNs &- assembleNs)) s, assemble \(PhaseTimes.seconds(assembleNs)) s in \(assembleCalls) calls"
    }
}
