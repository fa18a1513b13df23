import Foundation

/// KTAP v1 (Documentation/dev-tools/ktap.rst): a version line, a plan, one
/// result line per case with `# SKIP`/`# TODO`/`# TIMEOUT` directives, and
/// `#` diagnostic lines with observed vs expected after a failing result.
public struct KTAPWriter {
    public init() {}

    public func header(count: Int, facts: KernelFacts) -> [String] {
        ["KTAP version 1",
         "# ringfence \(RingfenceVersion.string) on Linux \(facts.release) \(facts.version)",
         "# IORING_REGISTER_BPF_FILTER: \(facts.bpfFilter ? "yes" : "no"), IORING_OP_LAST: \(facts.opcodeLast)",
         "1..\(count)"]
    }

    /// KTAP names may not contain '#'; the loader already refuses such names.
    public static func testName(_ r: CaseResult) -> String {
        var stem = r.file
        for ext in [".yaml", ".yml"] where stem.hasSuffix(ext) { stem = String(stem.dropLast(ext.count)) }
        return "\(stem): \(r.name)".replacingOccurrences(of: "#", with: "")
    }

    public func result(_ number: Int, _ r: CaseResult) -> [String] {
        let name = Self.testName(r)
        var line: String
        switch r.status {
        case .pass: line = "ok \(number) \(name)"
        case .skip: line = "ok \(number) \(name) # SKIP \(r.reason ?? "")"
        case .fail: line = "not ok \(number) \(name)"
        case .timeout: line = "not ok \(number) \(name) # TIMEOUT \(r.reason ?? "")"
        case .crash: line = "not ok \(number) \(name) # ERROR \(r.reason ?? "")"
        case .knownBug: line = "not ok \(number) \(name) # TODO known bug: \(r.reason ?? "")"
        }
        var out: [String] = []
        if r.status != .pass && r.status != .skip {
            out += ["# \(r.file):\(r.line)"] + r.diagnostics.map { "# " + $0 }
        }
        return out + [line]
    }

    /// kselftest's closing line.
    public func totals(_ results: [CaseResult]) -> String {
        let t = Totals(results)
        return "# Totals: pass:\(t.passed) fail:\(t.failed) xfail:\(t.knownBugs) xpass:0 skip:\(t.skipped) error:\(t.errors)"
    }
}

public struct Totals: Sendable {
    public var passed = 0, failed = 0, skipped = 0, knownBugs = 0, errors = 0
    public init(_ results: [CaseResult]) {
        for r in results {
            switch r.status {
            case .pass: passed += 1
            case .fail, .timeout: failed += 1
            case .crash: errors += 1
            case .skip: skipped += 1
            case .knownBug: knownBugs += 1
            }
        }
    }

    /// 0 all passed, 1 any failure, 4 everything skipped (kselftest's KSFT_SKIP).
    public var exitCode: Int32 {
        if failed + errors > 0 { return 1 }
        if passed + knownBugs == 0 && skipped > 0 { return 4 }
        return 0
    }

    /// The plain closing line CI systems read.
    public var summary: String {
        "\(passed) passed, \(failed + errors) failed, \(skipped) skipped" + (knownBugs > 0 ? ", \(knownBugs) known bugs" : "")
    }
}

public enum RingfenceVersion {
    public static let string = "0.1.0"
}
