import Foundation

/// `--format junit`: one <testsuite>, a <testcase> per case, for Jenkins and GitLab.
public struct JUnitWriter {
    public init() {}

    public func document(_ report: RunReport) -> String {
        let t = report.totals
        var out = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>"]
        out.append("<testsuites>")
        out.append("  <testsuite name=\"ringfence on \(escape(report.kernel.release))\" tests=\"\(report.cases.count)\" "
                   + "failures=\"\(t.failed)\" errors=\"\(t.errors)\" skipped=\"\(t.skipped + t.knownBugs)\" "
                   + "time=\"\(seconds(report.durationMs))\" timestamp=\"\(escape(report.startedAt))\">")
        for c in report.cases {
            let classname = c.file.hasSuffix(".yaml") ? String(c.file.dropLast(5)) : c.file
            out.append("    <testcase classname=\"\(escape(classname))\" name=\"\(escape(c.name))\" time=\"\(seconds(c.durationMs))\">")
            let detail = escape(c.diagnostics.joined(separator: "\n"))
            switch c.status {
            case .pass: break
            case .skip: out.append("      <skipped message=\"\(escape(c.reason ?? ""))\"/>")
            case .knownBug: out.append("      <skipped message=\"known bug: \(escape(c.reason ?? ""))\">\(detail)</skipped>")
            case .fail: out.append("      <failure message=\"\(escape(c.diagnostics.first ?? "failed"))\">\(detail)</failure>")
            case .timeout: out.append("      <failure message=\"timeout \(escape(c.reason ?? ""))\"/>")
            case .crash: out.append("      <error message=\"\(escape(c.reason ?? "crashed"))\">\(detail)</error>")
            }
            out.append("    </testcase>")
        }
        out.append("  </testsuite>")
        out.append("</testsuites>")
        return out.joined(separator: "\n")
    }

    private func seconds(_ ms: Double) -> String { String(format: "%.3f", ms / 1000) }

    private func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }
}
