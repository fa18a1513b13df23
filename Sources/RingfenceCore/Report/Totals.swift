/// The counts of a run: KTAP's `# Totals:` line, the closing summary and a
/// results file's `totals` (written with `xfail`/`xpass`; results files
/// before 0.2 had `knownBugs` for `xfail` and no `xpass`, and still read).
public struct Totals: Codable, Sendable, Equatable {
    public var passed = 0, failed = 0, skipped = 0, xfail = 0, xpass = 0, errors = 0

    public init(_ results: [CaseResult]) {
        for r in results {
            switch r.status {
            case .pass: passed += 1
            case .fail, .timeout: failed += 1
            case .crash: errors += 1
            case .skip: skipped += 1
            case .xfail: xfail += 1
            case .xpass: xpass += 1
            }
        }
    }

    public init(passed: Int, failed: Int, skipped: Int, xfail: Int, xpass: Int, errors: Int) {
        self.passed = passed; self.failed = failed; self.skipped = skipped
        self.xfail = xfail; self.xpass = xpass; self.errors = errors
    }

    public var total: Int { passed + failed + skipped + xfail + xpass + errors }

    /// Known bugs: expected failures (the old name).
    public var knownBugs: Int { xfail }

    /// kselftest's counters: "pass:N fail:N xfail:N xpass:N skip:N error:N".
    public var counts: String {
        "pass:\(passed) fail:\(failed) xfail:\(xfail) xpass:\(xpass) skip:\(skipped) error:\(errors)"
    }

    /// 0 all passed, 1 any failure, 4 everything skipped (kselftest's KSFT_SKIP).
    /// Known bugs (xfail) and stale known-bug entries (xpass) pass, unless
    /// `strict`: then the kernel must be correct and the baseline exact.
    public func exitCode(strict: Bool) -> Int32 {
        if failed + errors > 0 { return 1 }
        if strict && xfail + xpass > 0 { return 1 }
        if passed + xfail + xpass == 0 && skipped > 0 { return 4 }
        return 0
    }

    public var exitCode: Int32 { exitCode(strict: false) }

    /// The plain closing line CI systems read; the same numbers as `# Totals:`.
    public var summary: String {
        "\(passed) passed, \(failed) failed, \(skipped) skipped, \(xfail) xfail (known bugs), \(xpass) xpass, \(errors) errors"
    }

    private enum CodingKeys: String, CodingKey { case passed, failed, skipped, xfail, xpass, errors, knownBugs }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        passed = try c.decode(Int.self, forKey: .passed)
        failed = try c.decode(Int.self, forKey: .failed)
        skipped = try c.decode(Int.self, forKey: .skipped)
        errors = try c.decode(Int.self, forKey: .errors)
        xfail = try c.decodeIfPresent(Int.self, forKey: .xfail) ?? c.decodeIfPresent(Int.self, forKey: .knownBugs) ?? 0
        xpass = try c.decodeIfPresent(Int.self, forKey: .xpass) ?? 0
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(passed, forKey: .passed)
        try c.encode(failed, forKey: .failed)
        try c.encode(skipped, forKey: .skipped)
        try c.encode(xfail, forKey: .xfail)
        try c.encode(xpass, forKey: .xpass)
        try c.encode(errors, forKey: .errors)
    }
}
