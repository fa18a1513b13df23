#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// An SVG of ns/SQE against stacked filter count, one line per batch size,
/// with the linear fit dashed. Plain SVG, no dependencies.
public enum BenchPlot {
    public static func svg(_ report: BenchReport) -> String {
        let w = 640.0, h = 400.0, left = 70.0, right = 20.0, top = 40.0, bottom = 50.0
        let series = Dictionary(grouping: report.rows.filter { $0.filters >= 0 }, by: \.batch)
        let maxX = Double(BenchConfig.stackDepths.max() ?? 64)
        let maxY = (report.rows.filter { $0.filters >= 0 }.map(\.medianNs).max() ?? 1) * 1.1
        func x(_ v: Double) -> Double { left + v / maxX * (w - left - right) }
        func y(_ v: Double) -> Double { h - bottom - v / maxY * (h - top - bottom) }
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">",
                   "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                   "<text x=\"\(w / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">io_uring filter cost: \(report.opcode), ns per SQE vs stacked filters</text>",
                   line(left, h - bottom, w - right, h - bottom), line(left, top, left, h - bottom)]
        var lastLabel = -Double.infinity
        for d in BenchConfig.stackDepths where x(Double(d)) - lastLabel >= 18 {   // 0 and 1 would overlap
            lastLabel = x(Double(d))
            out.append("<text x=\"\(lastLabel)\" y=\"\(h - bottom + 18)\" text-anchor=\"middle\">\(d)</text>")
        }
        for i in 0...4 {
            let v = maxY * Double(i) / 4
            out.append("<text x=\"\(left - 6)\" y=\"\(y(v) + 4)\" text-anchor=\"end\">\(Int(v))</text>")
        }
        out.append("<text x=\"\(w / 2)\" y=\"\(h - 12)\" text-anchor=\"middle\">stacked allow filters</text>")
        out.append("<text x=\"16\" y=\"\(h / 2)\" transform=\"rotate(-90 16 \(h / 2))\" text-anchor=\"middle\">ns per SQE (median)</text>")
        for (i, batch) in series.keys.sorted().enumerated() {
            let color = colors[i % colors.count]
            let pts = series[batch]!.sorted { $0.filters < $1.filters }
            let path = pts.map { "\(x(Double($0.filters))),\(y($0.medianNs))" }.joined(separator: " ")
            out.append("<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>")
            for p in pts { out.append("<circle cx=\"\(x(Double(p.filters)))\" cy=\"\(y(p.medianNs))\" r=\"3\" fill=\"\(color)\"/>") }
            if let s = report.scaling.first(where: { $0.batch == batch }) {
                out.append("<line x1=\"\(x(0))\" y1=\"\(y(s.interceptNs))\" x2=\"\(x(maxX))\" y2=\"\(y(s.interceptNs + s.slopeNsPerFilter * maxX))\" stroke=\"\(color)\" stroke-dasharray=\"4 3\"/>")
                out.append("<text x=\"\(left + 10)\" y=\"\(top + 16 + Double(i) * 16)\" fill=\"\(color)\">batch \(batch): \(String(format: "%.1f", s.slopeNsPerFilter)) ns/filter</text>")
            }
        }
        out.append("</svg>")
        return out.joined(separator: "\n")
    }

    private static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double) -> String {
        "<line x1=\"\(x1)\" y1=\"\(y1)\" x2=\"\(x2)\" y2=\"\(y2)\" stroke=\"black\"/>"
    }
}
