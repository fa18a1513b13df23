#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// KTAP v1 (Documentation/dev-tools/ktap.rst) the way kunit prints suites:
///
///     KTAP version 1
///     # ringfence 0.2.0 on Linux <release> <version>
///     # IORING_REGISTER_BPF_FILTER: yes, IORING_OP_LAST: 60
///     1..<number of areas>
///         KTAP version 1
///         # Subtest: context
///         1..<cases in the area>
///         ok 1 connect: connect.family is AF_INET for an IPv4 address
///         # context/socket.yaml:12
///         # step 2 (submit, …): CQE user_data=1: expected res 0, observed -EACCES
///         # known bug (known-bugs.yaml:13): Debian changelog …
///         ok 2 socket: socket.type has SOCK_CLOEXEC masked off # XFAIL known bug: <fix>
///         # context: pass:40 fail:0 xfail:1 xpass:0 skip:0 error:0
///     ok 1 context
///     …
///     # Totals: pass:396 fail:0 xfail:9 xpass:0 skip:1 error:0
///     # run time: 4.65 s
///
/// One suite per area (the directory under cases/, the case id's first path
/// component), in plan order; result names inside a suite drop the area. A
/// case's diagnostics come directly before its result line. Directives:
/// `# SKIP reason`, `# XFAIL known bug: <fix>` and `# XPASS known bug entry no
/// longer needed: <fix>` on `ok` lines (kselftest's ksft_test_result_xfail /
/// _xpass), `# TIMEOUT` and `# ERROR` on `not ok` lines.
public struct KTAPWriter {
    public static let indent = "    "

    public init() {}

    /// One KTAP suite: an area and the plan indices of its cases.
    public struct Suite: Sendable, Equatable {
        public var name: String
        public var indices: [Int]
    }

    /// Areas in order of first appearance, each with its cases' indices in plan order.
    public static func suites(ids: [String]) -> [Suite] {
        var order: [String] = []
        var members: [String: [Int]] = [:]
        for (i, id) in ids.enumerated() {
            let area = CaseResult.area(ofID: id)
            if members[area] == nil { order.append(area) }
            members[area, default: []].append(i)
        }
        return order.map { Suite(name: $0, indices: members[$0]!) }
    }

    public func header(suiteCount: Int, facts: KernelFacts, tool: String = "ringfence \(RingfenceVersion.string)",
                       taintAtStart: UInt64? = nil) -> [String] {
        var out = ["KTAP version 1",
                   "# \(tool) on Linux \(facts.release) \(facts.version)",
                   "# IORING_REGISTER_BPF_FILTER: \(facts.bpfFilter ? "yes" : "no"), IORING_OP_LAST: \(facts.opcodeLast)"]
        if let taintAtStart, taintAtStart != 0 { out.append("# " + KernelTaint.headerLine(taintAtStart)) }
        out.append("1..\(suiteCount)")
        return out
    }

    /// The flat name, area included ("context/socket: name"). KTAP names may
    /// not contain '#'; the loader already refuses such names.
    public static func testName(_ r: CaseResult) -> String {
        var stem = r.file
        for ext in [".yaml", ".yml"] where stem.hasSuffix(ext) { stem = String(stem.dropLast(ext.count)) }
        let name = "\(stem): \(r.name)"
        // Checked first: Foundation's replacing costs about 0.3 ms per result under TCG.
        return name.contains("#") ? name.replacingOccurrences(of: "#", with: "") : name
    }

    /// The name inside the case's suite: the area dropped ("socket: name").
    public static func nameInSuite(_ r: CaseResult) -> String {
        let full = testName(r)
        let prefix = r.area + "/"
        return full.hasPrefix(prefix) ? String(full.dropFirst(prefix.count)) : full
    }

    /// A case's diagnostics (failures, timeouts, crashes, xfail and xpass) and its result line.
    public func result(_ number: Int, _ r: CaseResult, indent: String = "", name: String? = nil) -> [String] {
        let name = name ?? Self.testName(r)
        let reason = r.reason ?? ""
        let line: String
        switch r.status {
        case .pass: line = "ok \(number) \(name)"
        case .skip: line = "ok \(number) \(name) # SKIP \(reason)"
        case .fail: line = "not ok \(number) \(name)"
        case .timeout: line = "not ok \(number) \(name) # TIMEOUT \(reason)"
        case .crash: line = "not ok \(number) \(name) # ERROR \(reason)"
        case .xfail: line = "ok \(number) \(name) # XFAIL known bug: \(reason)"
        case .xpass: line = "ok \(number) \(name) # XPASS known bug entry no longer needed: \(reason)"
        }
        var out: [String] = []
        if r.status != .pass && r.status != .skip {
            out += ["# \(r.file):\(r.line)"] + r.diagnostics.map { "# " + $0 }
        }
        return (out + [line]).map { indent + Self.trimmed($0) }
    }

    /// The suite's opening lines (indented).
    public func suiteStart(_ suite: Suite) -> [String] {
        ["KTAP version 1", "# Subtest: \(suite.name)", "1..\(suite.indices.count)"].map { Self.indent + $0 }
    }

    /// The suite's closing lines: its counts (indented) and its result at the top level.
    public func suiteEnd(_ number: Int, _ suite: Suite, _ results: [CaseResult]) -> [String] {
        let t = Totals(results)
        let status: String
        if t.failed + t.errors > 0 { status = "not ok \(number) \(suite.name)" }
        else if t.skipped == results.count { status = "ok \(number) \(suite.name) # SKIP all \(results.count) cases skipped" }
        else { status = "ok \(number) \(suite.name)" }
        return [Self.indent + "# \(suite.name): " + t.counts, status]
    }

    /// kselftest's closing line.
    public func totals(_ results: [CaseResult]) -> String {
        "# Totals: " + Totals(results).counts
    }

    public func runTime(_ ms: Double) -> String {
        "# run time: \(String(format: "%.2f", ms / 1000)) s"
    }

    /// The whole document for a finished run: exactly the lines `ringfence run`
    /// streams (without --verbose), so a host can re-render a guest's results.
    public static func document(_ report: RunReport) -> [String] {
        let stream = KTAPStream(ids: report.cases.map(\.id), facts: report.kernel, tool: report.tool,
                                taintAtStart: report.taintAtStart)
        var out = stream.header()
        for (i, r) in report.cases.enumerated() { out += stream.add(i, r) }
        return out + stream.finish(durationMs: report.durationMs)
    }

    /// Lines are single lines: a stray newline in a reason or diagnostic would end the KTAP line.
    static func trimmed(_ s: String) -> String {
        s.contains("\n") ? s.replacingOccurrences(of: "\n", with: " ") : s
    }
}

/// Prints KTAP as results arrive, in plan order whatever order they arrive in
/// (parallel cases finish out of order): a result waits until every case
/// before it in the plan has been printed. `KTAPWriter.document` is this
/// stream fed a finished report, so the two cannot drift apart.
public final class KTAPStream {
    private let writer = KTAPWriter()
    private let facts: KernelFacts
    private let tool: String
    private let taintAtStart: UInt64?
    public let suites: [KTAPWriter.Suite]
    private var arrived: [Int: CaseResult] = [:]
    private var all: [CaseResult] = []
    private var suiteIndex = 0
    private var positionInSuite = 0
    private var suiteResults: [CaseResult] = []

    public init(ids: [String], facts: KernelFacts, tool: String = "ringfence \(RingfenceVersion.string)", taintAtStart: UInt64? = nil) {
        self.facts = facts
        self.tool = tool
        self.taintAtStart = taintAtStart
        suites = KTAPWriter.suites(ids: ids)
    }

    public func header() -> [String] {
        var out = writer.header(suiteCount: suites.count, facts: facts, tool: tool, taintAtStart: taintAtStart)
        if let first = suites.first { out += writer.suiteStart(first) }
        return out
    }

    /// The result of plan index `index`; returns the lines that can be printed now.
    public func add(_ index: Int, _ result: CaseResult) -> [String] {
        arrived[index] = result
        var out: [String] = []
        while suiteIndex < suites.count {
            let suite = suites[suiteIndex]
            guard let r = arrived.removeValue(forKey: suite.indices[positionInSuite]) else { break }
            positionInSuite += 1
            suiteResults.append(r)
            all.append(r)
            out += writer.result(positionInSuite, r, indent: KTAPWriter.indent, name: KTAPWriter.nameInSuite(r))
            if positionInSuite == suite.indices.count {
                out += writer.suiteEnd(suiteIndex + 1, suite, suiteResults)
                suiteIndex += 1
                positionInSuite = 0
                suiteResults = []
                if suiteIndex < suites.count { out += writer.suiteStart(suites[suiteIndex]) }
            }
        }
        return out
    }

    /// Every result printed so far, in plan order.
    public var printed: [CaseResult] { all }

    public func finish(durationMs: Double) -> [String] {
        [writer.totals(all), writer.runTime(durationMs)]
    }
}

public enum RingfenceVersion {
    public static let string = "0.2.0"
}
