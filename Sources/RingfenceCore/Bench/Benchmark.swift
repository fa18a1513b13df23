import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// `ringfence bench`: per-SQE cost of filters, repeated, interleaved across
/// configurations so drift of a shared machine spreads evenly, each
/// configuration in its own child (task filters cannot be removed).
public struct Benchmark {
    public var opcode: UInt32 = 0
    public var batches = [1, 32, 256]
    public var repetitions = 5
    public var sqesPerBatchSize = 4096
    public var configs = BenchConfig.standard
    public init() {}

    public func run(progress: (String) -> Void = { _ in }) -> BenchReport {
        // samples[config][batch] = ns/SQE per repetition
        var samples = Array(repeating: Array(repeating: [Double](), count: batches.count), count: configs.count)
        var errors: [String: String] = [:]
        for rep in 1...repetitions {
            for (ci, config) in configs.enumerated() where errors[config.label] == nil {
                progress("bench: repetition \(rep)/\(repetitions), \(config.label)")
                switch inChild(config) {
                case .success(let ns): for (bi, v) in ns.enumerated() { samples[ci][bi].append(v) }
                case .failure(let e): errors[config.label] = e.text
                }
            }
        }
        return BenchReport(opcode: Opcode.name(opcode), batches: batches, repetitions: repetitions,
                           configs: configs, samples: samples, errors: errors)
    }

    private func inChild(_ config: BenchConfig) -> Result<[Double], BenchError> {
        guard let child = ChildChannel.runForked({
            switch BenchMeasurement.run(config, opcode: opcode, batches: batches, sqesPerBatchSize: sqesPerBatchSize) {
            case .success(let ns): return ("OK " + ns.map { String($0) }.joined(separator: " "), 0)
            case .failure(let e): return ("ERR " + e.text, 0)
            }
        }) else { return .failure(BenchError(text: "fork: \(Errno.name(errno))")) }
        let text = child.output
        if text.hasPrefix("OK ") {
            return .success(text.dropFirst(3).split(separator: " ").compactMap { Double($0) })
        }
        return .failure(BenchError(text: text.hasPrefix("ERR ") ? String(text.dropFirst(4)) : "child died (status \(child.status))"))
    }
}
