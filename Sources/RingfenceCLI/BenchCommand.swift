import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RingfenceCore
import CRingfence

public struct BenchCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure what filters cost per SQE: 0-64 stacked filters, DENY_REST, a task filter, legacy restrictions.",
        discussion: """
        Ratios to the no-filter baseline of the same run are the result; absolute times on a
        shared or emulated (TCG) machine are noise. Needs a kernel with the feature (exit 4 otherwise).
        """)

    @Option(name: .long, help: "Opcode to submit: NOP, or SOCKET (AF_UNIX datagram sockets; has a filter context).")
    var op = "NOP"

    @Option(name: .long, parsing: .unconditional, help: "Repetitions of every configuration (interleaved).")
    var repetitions = 5

    @Option(name: .long, parsing: .unconditional, help: "SQEs per configuration, batch size and repetition.")
    var sqes = 4096

    @Option(name: .long, help: "Output format: text, json, or ktap (the table as diagnostics of one test; what run-in-vm.sh --bench uses).")
    var format: Format = .text

    @Option(name: .long, help: "Write an SVG plot of cost against filter count here.")
    var plot: String?

    @Option(name: .long, help: "Also write the JSON report here.")
    var json: String?

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, ktap }

    public func validate() throws {
        guard ["NOP", "SOCKET"].contains(op.uppercased()) else { throw ValidationError("--op is NOP or SOCKET") }
        guard repetitions >= 1, sqes >= 256 else { throw ValidationError("--repetitions >= 1 and --sqes >= 256") }
    }

    public func run() throws {
        if format == .ktap { print("KTAP version 1") }
        let facts = KernelProbe.probe()
        guard facts.bpfFilter else {
            if format == .ktap { print("1..0 # SKIP kernel lacks IORING_REGISTER_BPF_FILTER") }
            warn("ringfence bench: kernel \(facts.release) lacks IORING_REGISTER_BPF_FILTER; nothing to measure")
            throw ExitCode(Exit.skipped)
        }
        var bench = Benchmark()
        bench.opcode = Opcode.number(op)!
        bench.repetitions = repetitions
        bench.sqesPerBatchSize = sqes
        if format == .ktap { print("# ringfence bench on Linux \(facts.release)"); print("1..1") }
        let report = bench.run(progress: { warn($0) })
        switch format {
        case .text: print(report.table())
        case .json: print(try report.json())
        case .ktap:
            report.table().split(separator: "\n").forEach { print("# " + $0) }
            print(report.errors.isEmpty ? "ok 1 bench" : "not ok 1 bench")
        }
        // In the VM guest the plot and the JSON go out over the console (GuestResults).
        let inGuest = rf_is_pid1 != 0
        if let path = plot ?? (inGuest ? GuestResults.directory + "/bench.svg" : nil) {
            try BenchPlot.svg(report).write(toFile: path, atomically: true, encoding: .utf8)
        }
        if let path = json ?? (inGuest ? GuestResults.directory + "/bench.json" : nil) {
            try report.json().write(toFile: path, atomically: true, encoding: .utf8)
        }
        throw ExitCode(report.errors.isEmpty ? Exit.ok : Exit.failed)
    }
}
