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

    /// A measurement child's answer.
    private struct ChildBench: Codable { var ns: [Double]; var error: String? }

    private func inChild(_ config: BenchConfig) -> Result<[Double], BenchError> {
        guard let child = PipeFrame.runForked({ () -> (value: ChildBench, exitCode: Int32) in
            switch BenchMeasurement.run(config, opcode: opcode, batches: batches, sqesPerBatchSize: sqesPerBatchSize) {
            case .success(let ns): return (ChildBench(ns: ns, error: nil), 0)
            case .failure(let e): return (ChildBench(ns: [], error: e.text), 0)
            }
        }) else { return .failure(BenchError(text: "fork: \(Errno.name(errno))")) }
        switch child.frame {
        case .success(let r): return r.error.map { .failure(BenchError(text: $0)) } ?? .success(r.ns)
        case .failure(let e): return .failure(BenchError(text: "child died (status \(child.status)): \(e)"))
        }
    }
}
