#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `--format json` and `--results FILE`: everything needed to compare runs
/// across kernels later (ringfence compare).
public struct RunReport: Codable, Sendable {
    public var tool: String = "ringfence \(RingfenceVersion.string)"
    public var kernel: KernelFacts
    public var accelerator: String?
    /// sha256 of the kernel's .config, when the runner was told it (run-in-vm.sh does).
    public var configDigest: String?
    /// /proc/sys/kernel/tainted before the first case, when it was not 0.
    public var taintAtStart: UInt64?
    public var startedAt: String
    public var durationMs: Double
    public var totals: Totals
    public var cases: [CaseResult]
    /// Facts the host runner knows (accelerator, kernel package, QEMU, boot
    /// attempts); set by `ringfence vm`, absent from a plain `ringfence run`.
    public var host: HostFacts?
    /// Why the run as a whole failed or is incomplete (a panic, a timeout, a
    /// harness crash); empty when the cases tell the whole story.
    public var problems: [String]?
    /// The exit code `ringfence vm` gave this run (0/1/2/4).
    public var exitCode: Int32?

    public init(kernel: KernelFacts, accelerator: String?, startedAt: String, durationMs: Double, cases: [CaseResult]) {
        self.kernel = kernel
        self.accelerator = accelerator
        self.startedAt = startedAt
        self.durationMs = durationMs
        self.cases = cases
        totals = Totals(cases)
    }

    /// Pretty for people; compact where every byte costs (the guest's serial console).
    /// `transferForm`: the guest's copy for the console, cases without name,
    /// file and line (see CaseResult.transferFormKey); never a results file.
    public func json(pretty: Bool = true, transferForm: Bool = false) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        if transferForm { enc.userInfo[CaseResult.transferFormKey] = true }
        return String(decoding: try enc.encode(self), as: UTF8.self)
    }

    /// Recomputes the totals after the cases changed.
    public mutating func recount() {
        totals = Totals(cases)
    }

    /// Throws a ResultsFileError: what is wrong with the file and what to do,
    /// never a Foundation error dump.
    public static func read(path: String) throws -> RunReport {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw ResultsFileError(path: path, problem: "no such file; give a results file (ringfence run --results FILE, or out/<kernel>/results.json of ringfence vm)")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let inside = PathText.join(path, "results.json")
            let hint = access(inside, F_OK) == 0 ? "give \(inside)" : "give the results.json file of a run, not its directory"
            throw ResultsFileError(path: path, problem: "is a directory; \(hint)")
        }
        guard let bytes = SourceFiles.read(path) else {
            throw ResultsFileError(path: path, problem: access(path, R_OK) != 0 ? "permission denied; make it readable" : "cannot read (not a regular file?); give a results.json file")
        }
        if bytes.isEmpty { throw ResultsFileError(path: path, problem: "is empty; a run that was interrupted writes none: run it again") }
        do {
            return try JSONDecoder().decode(RunReport.self, from: Data(bytes))
        } catch let e as DecodingError {
            throw ResultsFileError(path: path, problem: "not a ringfence results file (\(ResultsFileError.describe(e))); give the results.json a run wrote")
        }
    }
}

/// A results file that cannot be used, said in one line.
public struct ResultsFileError: Error, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }

    /// A DecodingError in a few words: where and what, without the
    /// underlying NSError text JSONDecoder attaches.
    static func describe(_ e: DecodingError) -> String {
        func at(_ c: DecodingError.Context) -> String {
            let path = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return path.isEmpty ? "" : " at \(path.hasPrefix(".") ? String(path.dropFirst()) : path)"
        }
        switch e {
        case .dataCorrupted(let c):
            return c.codingPath.isEmpty ? "not valid JSON" : "a bad value\(at(c))"
        case .keyNotFound(let key, let c):
            return "no '\(key.stringValue)'\(at(c))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            return "a value of the wrong type\(at(c))"
        @unknown default:
            return "unreadable JSON"
        }
    }
}
