import ArgumentParser
import Foundation
import RingfenceKit

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure what filters cost per SQE: 0-64 stacked filters, DENY_REST, a task filter, legacy restrictions.",
        discussion: """
        Ratios to the no-filter baseline of the same run are the result; absolute times on a
        shared or emulated (TCG) machine are noise. Needs a kernel with the feature (exit 4 otherwise).
        """)

    @Option(name: .long, help: "Opcode to submit: NOP, or SOCKET (AF_UNIX datagram sockets; has a filter context).")
    var op = "NOP"

    @Option(name: .long, help: "Repetitions of every configuration (interleaved).")
    var repetitions = 5

    @Option(name: .long, help: "SQEs per configuration, batch size and repetition.")
    var sqes = 4096

    @Option(name: .long, help: "Output format: text or json.")
    var format: Format = .text

    @Option(name: .long, help: "Write an SVG plot of cost against filter count here.")
    var plot: String?

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    func validate() throws {
        guard ["NOP", "SOCKET"].contains(op.uppercased()) else { throw ValidationError("--op is NOP or SOCKET") }
        guard repetitions >= 1, sqes >= 256 else { throw ValidationError("--repetitions >= 1 and --sqes >= 256") }
    }

    func run() throws {
        let facts = KernelProbe.probe()
        guard facts.bpfFilter else {
            warn("ringfence bench: kernel \(facts.release) lacks IORING_REGISTER_BPF_FILTER; nothing to measure")
            throw ExitCode(Exit.skipped)
        }
        var bench = Benchmark()
        bench.opcode = Opcode.number(op)!
        bench.repetitions = repetitions
        bench.sqesPerBatchSize = sqes
        let report = bench.run(progress: { warn($0) })
        print(format == .text ? report.table() : try report.json())
        if let plot { try BenchPlot.svg(report).write(toFile: plot, atomically: true, encoding: .utf8) }
        throw ExitCode(report.errors.isEmpty ? Exit.ok : Exit.failed)
    }
}
