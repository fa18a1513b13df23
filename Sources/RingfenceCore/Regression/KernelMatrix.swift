/// A case × kernel table from several results files (ci/matrix.sh).
public struct KernelMatrix: Codable, Sendable {
    public struct Column: Codable, Sendable {
        public var kernel: String
        public var accelerator: String?
        /// failed includes errors (crashes); xfail are known bugs, xpass stale known-bug entries.
        public var passed, failed, skipped, xfail, xpass: Int
    }

    public var columns: [Column]
    /// case id → status per column (nil when the case was not in that run).
    public var rows: [String: [CaseStatus?]]

    public init(reports: [RunReport]) {
        columns = reports.map {
            Column(kernel: $0.kernel.release, accelerator: $0.accelerator, passed: $0.totals.passed,
                   failed: $0.totals.failed + $0.totals.errors, skipped: $0.totals.skipped, xfail: $0.totals.xfail,
                   xpass: $0.totals.xpass)
        }
        var rows: [String: [CaseStatus?]] = [:]
        for (i, r) in reports.enumerated() {
            for c in r.cases {
                var row = rows[c.id] ?? Array(repeating: nil, count: reports.count)
                row[i] = c.status
                rows[c.id] = row
            }
        }
        self.rows = rows
    }

    /// Markdown: totals per kernel, then only the rows that are not a pass everywhere.
    public func markdown() -> String {
        var out = ["| | " + columns.map(\.kernel).joined(separator: " | ") + " |",
                   "|---|" + columns.map { _ in "---|" }.joined()]
        out.append("| **passed** | " + columns.map { String($0.passed) }.joined(separator: " | ") + " |")
        out.append("| **failed** | " + columns.map { String($0.failed) }.joined(separator: " | ") + " |")
        out.append("| **known bugs (xfail)** | " + columns.map { String($0.xfail) }.joined(separator: " | ") + " |")
        if columns.contains(where: { $0.xpass > 0 }) {
            out.append("| **stale known-bug entries (xpass)** | " + columns.map { String($0.xpass) }.joined(separator: " | ") + " |")
        }
        out.append("| **skipped** | " + columns.map { String($0.skipped) }.joined(separator: " | ") + " |")
        for id in rows.keys.sorted() {
            let row = rows[id]!
            if row.allSatisfy({ $0 == .pass }) { continue }
            out.append("| `\(id)` | " + row.map { symbol($0) }.joined(separator: " | ") + " |")
        }
        out.append("")
        out.append("Rows not shown pass on every kernel. ✅ pass, ❌ fail, ⏱ timeout, 💥 crash, ⏭ skip, 🐞 known bug (xfail), ✅🐞 passes despite a known-bug entry (xpass), – not run.")
        return out.joined(separator: "\n")
    }

    private func symbol(_ s: CaseStatus?) -> String {
        switch s {
        case .pass?: return "✅"
        case .fail?: return "❌"
        case .timeout?: return "⏱"
        case .crash?: return "💥"
        case .skip?: return "⏭"
        case .xfail?: return "🐞"
        case .xpass?: return "✅🐞"
        case nil: return "–"
        }
    }
}
