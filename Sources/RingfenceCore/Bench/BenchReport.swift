#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Results of `ringfence bench`: medians, spread, ratios to the no-filter
/// baseline of the same run, and the cost per extra stacked filter.
public struct BenchReport: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public var config: String
        public var filters: Int
        public var batch: Int
        public var medianNs: Double
        /// (max - min) / median over the repetitions.
        public var spread: Double
        public var ratioToBaseline: Double
        public var samplesNs: [Double]
    }

    public struct Scaling: Codable, Sendable {
        public var batch: Int
        /// Least-squares ns per extra stacked filter.
        public var slopeNsPerFilter: Double
        public var interceptNs: Double
        /// Coefficient of determination of the linear fit.
        public var rSquared: Double
        /// ns per filter between the two deepest stacks over the slope fitted
        /// to the shallower ones; about 1 when cost grows linearly.
        public var tailToHeadSlope: Double
        /// The tail/head ratio lies within 0.5...2.
        public var linear: Bool
    }

    public var opcode: String
    public var repetitions: Int
    public var rows: [Row]
    public var scaling: [Scaling]
    public var errors: [String: String]

    public init(opcode: String, batches: [Int], repetitions: Int, configs: [BenchConfig],
                samples: [[[Double]]], errors: [String: String]) {
        self.opcode = opcode
        self.repetitions = repetitions
        self.errors = errors
        var rows: [Row] = []
        let baselineIndex = configs.firstIndex { $0.kind == .ringFilters && $0.filters == 0 }
        for (bi, batch) in batches.enumerated() {
            let base = baselineIndex.map { Self.median(samples[$0][bi]) } ?? .nan
            for (ci, c) in configs.enumerated() where !samples[ci][bi].isEmpty {
                let s = samples[ci][bi]
                let m = Self.median(s)
                rows.append(Row(config: c.label, filters: c.kind == .ringFilters ? c.filters : -1, batch: batch,
                                medianNs: m, spread: m > 0 ? ((s.max()! - s.min()!) / m) : 0,
                                ratioToBaseline: base > 0 ? m / base : .nan, samplesNs: s))
            }
        }
        self.rows = rows
        scaling = batches.compactMap { batch in
            let pts = rows.filter { $0.batch == batch && $0.filters >= 0 }.map { (Double($0.filters), $0.medianNs) }
            guard let all = Self.fit(pts), let head = Self.fit(Array(pts.dropLast())), pts.count >= 4, head.slope > 0 else { return nil }
            let (a, b) = (pts[pts.count - 2], pts[pts.count - 1])
            let tail = (b.1 - a.1) / (b.0 - a.0)
            let ratio = tail / head.slope
            return Scaling(batch: batch, slopeNsPerFilter: all.slope, interceptNs: all.intercept, rSquared: all.r2,
                           tailToHeadSlope: ratio, linear: (0.5...2.0).contains(ratio))
        }
    }

    static func median(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return .nan }
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func fit(_ pts: [(Double, Double)]) -> (slope: Double, intercept: Double, r2: Double)? {
        guard pts.count >= 3 else { return nil }
        let n = Double(pts.count)
        let mx = pts.map { $0.0 }.reduce(0.0, +) / n
        let my = pts.map { $0.1 }.reduce(0.0, +) / n
        let sxx = pts.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
        let sxy = pts.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +)
        guard sxx > 0 else { return nil }
        let slope = sxy / sxx, intercept = my - slope * mx
        let ssTot = pts.map { ($0.1 - my) * ($0.1 - my) }.reduce(0, +)
        let ssRes = pts.map { (p: (Double, Double)) -> Double in
            let e = p.1 - (slope * p.0 + intercept)
            return e * e
        }.reduce(0.0, +)
        return (slope, intercept, ssTot > 0 ? 1 - ssRes / ssTot : 1)
    }

    public func table() -> String {
        var out = ["ringfence bench: \(opcode), \(repetitions) repetitions, ns per SQE (median, spread = (max-min)/median)"]
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        out.append(pad("config", 14) + " batch       ns/SQE   spread    ratio")
        for r in rows {
            out.append(pad(r.config, 14) + String(format: " %5d %12.1f %7.0f%% %8.2f", r.batch, r.medianNs, r.spread * 100, r.ratioToBaseline))
        }
        for s in scaling {
            out.append(String(format: "batch %d: %.1f ns per extra filter (R² %.3f, deepest-segment/shallow slope %.2f)", s.batch,
                              s.slopeNsPerFilter, s.rSquared, s.tailToHeadSlope)
                       + (s.linear ? "" : "  NON-LINEAR: cost does not grow linearly with stack depth"))
        }
        for (config, e) in errors.sorted(by: { $0.key < $1.key }) { out.append("error: \(config): \(e)") }
        return out.joined(separator: "\n")
    }

    public func json() throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try enc.encode(self), as: UTF8.self)
    }
}
