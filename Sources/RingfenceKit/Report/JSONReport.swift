import Foundation

/// `--format json` and `--results FILE`: everything needed to compare runs
/// across kernels later (ringfence compare).
public struct RunReport: Codable, Sendable {
    public var tool: String = "ringfence \(RingfenceVersion.string)"
    public var kernel: KernelFacts
    public var accelerator: String?
    /// sha256 of the kernel's .config, when the runner was told it (run-in-vm.sh does).
    public var configDigest: String?
    public var startedAt: String
    public var durationMs: Double
    public var totals: TotalsRecord
    public var cases: [CaseResult]
    /// Facts the host runner knows (accelerator, kernel package, QEMU, boot
    /// attempts); set by `ringfence vm`, absent from a plain `ringfence run`.
    public var host: HostFacts?
    /// Why the run as a whole failed or is incomplete (a panic, a timeout, a
    /// harness crash); empty when the cases tell the whole story.
    public var problems: [String]?
    /// The exit code `ringfence vm` gave this run (0/1/2/4).
    public var exitCode: Int32?

    public struct TotalsRecord: Codable, Sendable {
        public var passed, failed, skipped, knownBugs, errors: Int
    }

    public init(kernel: KernelFacts, accelerator: String?, startedAt: String, durationMs: Double, cases: [CaseResult]) {
        self.kernel = kernel
        self.accelerator = accelerator
        self.startedAt = startedAt
        self.durationMs = durationMs
        self.cases = cases
        let t = Totals(cases)
        totals = TotalsRecord(passed: t.passed, failed: t.failed, skipped: t.skipped, knownBugs: t.knownBugs, errors: t.errors)
    }

    /// Pretty for people; compact where every byte costs (the guest's serial console).
    public func json(pretty: Bool = true) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        return String(decoding: try enc.encode(self), as: UTF8.self)
    }

    /// Recomputes the totals after the cases changed.
    public mutating func recount() {
        let t = Totals(cases)
        totals = TotalsRecord(passed: t.passed, failed: t.failed, skipped: t.skipped, knownBugs: t.knownBugs, errors: t.errors)
    }

    public static func read(path: String) throws -> RunReport {
        try JSONDecoder().decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
