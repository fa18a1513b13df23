#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `--format junit`: one <testsuite>, a <testcase> per case (classname: the
/// case file), for Jenkins and GitLab. A known bug (xfail) is
/// `<skipped message="xfail: known bug: <fix>">`: neither Jenkins' JUnit plugin
/// nor GitLab's test report has an expected-failure state, and both show a
/// skipped case without failing the build (docs/regressions.md). An xpass is a
/// passing testcase with its note in <system-out>.
public struct JUnitWriter {
    public init() {}

    public func document(_ report: RunReport) -> String {
        let t = Totals(report.cases)   // from the cases, so the counts always match the testcases
        var out = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>"]
        out.append("<testsuites>")
        out.append("  <testsuite name=\"ringfence on \(escape(report.kernel.release))\" tests=\"\(report.cases.count)\" "
                   + "failures=\"\(t.failed)\" errors=\"\(t.errors)\" skipped=\"\(t.skipped + t.xfail)\" "
                   + "time=\"\(seconds(report.durationMs))\" timestamp=\"\(escape(report.startedAt))\">")
        if let h = report.host, h.arch != nil || h.executor != nil {
            out.append("    <properties>")
            if let a = h.arch { out.append("      <property name=\"arch\" value=\"\(escape(a))\"/>") }
            if let e = h.executor { out.append("      <property name=\"executor\" value=\"\(escape(e))\"/>") }
            out.append("    </properties>")
        }
        for c in report.cases {
            let classname = c.file.hasSuffix(".yaml") ? String(c.file.dropLast(5)) : c.file
            out.append("    <testcase classname=\"\(escape(classname))\" name=\"\(escape(c.name))\" time=\"\(seconds(c.durationMs))\">")
            let detail = escape(c.diagnostics.joined(separator: "\n"))
            switch c.status {
            case .pass: break
            case .skip: out.append("      <skipped message=\"\(escape(c.reason ?? ""))\"/>")
            case .xfail: out.append("      <skipped message=\"xfail: known bug: \(escape(c.reason ?? ""))\">\(detail)</skipped>")
            case .xpass: out.append("      <system-out>xpass: known bug entry no longer needed: \(escape(c.reason ?? ""))\n\(detail)</system-out>")
            case .fail: out.append("      <failure message=\"\(escape(c.taint.map { "kernel tainted: \($0)" } ?? c.diagnostics.first ?? "failed"))\">\(detail)</failure>")
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
