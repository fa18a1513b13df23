// STAND-IN CLI for the vm branch: the lead's real main.swift replaces this.
// `run` and `list` here are minimal stand-ins so run-in-vm.sh can be tested
// end to end; `verdict` and `kernels` (VMCommands.swift) are the real ones.
import ArgumentParser
import CRingfence
import Foundation
import RingfenceKit

struct Ringfence: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringfence",
        abstract: "io_uring cBPF filter conformance suite (vm-branch stand-in).",
        subcommands: [StandInRun.self, StandInList.self, Verdict.self, Kernels.self])
}

/// Stand-in for `ringfence run`: one KTAP result per case file, each a real
/// io_uring_queue_init in the running kernel.
struct StandInRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run")
    @Option var cases: String = "cases"
    @Option var format: String = "ktap"
    @Flag var announce = false
    /// Test hook for the VM pipeline: panic the kernel (sysrq c) during case N.
    @Option(help: .hidden) var panicAt: Int?

    func run() throws {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: cases)) ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        print("KTAP version 1")
        print("1..\(files.count)")
        var failed = false
        for (i, f) in files.enumerated() {
            let name = String(f.split(separator: ".").first ?? "")
            if announce { print("# running: \(i + 1) \(name)") }
            if panicAt == i + 1 {
                fflush(stdout)
                if let f = fopen("/proc/sysrq-trigger", "w") { fputs("c", f); fclose(f) }
            }
            var ring = io_uring()
            let r = io_uring_queue_init(4, &ring, 0)
            if r == 0 {
                io_uring_queue_exit(&ring)
                print("ok \(i + 1) \(name)")
            } else {
                failed = true
                print("not ok \(i + 1) \(name) # io_uring_queue_init: \(r)")
            }
            fflush(stdout)
        }
        if failed { throw ExitCode(1) }
        if files.isEmpty { throw ExitCode(4) }
    }
}

/// Stand-in for `ringfence list --modules`: module names from
/// "requires: module:NAME" mentions in case files.
struct StandInList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list")
    @Option var cases: String = "cases"
    @Flag var modules = false

    func run() throws {
        var names = Set<String>()
        let files = (try? FileManager.default.contentsOfDirectory(atPath: cases)) ?? []
        for f in files {
            guard let text = try? String(contentsOfFile: "\(cases)/\(f)", encoding: .utf8) else { continue }
            var rest = Substring(text)
            while let r = rest.range(of: "module:") {
                let name = rest[r.upperBound...].drop { $0 == " " }.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
                if !name.isEmpty { names.insert(String(name)) }
                rest = rest[r.upperBound...]
            }
        }
        if modules { for n in names.sorted() { print(n) } }
    }
}

if rf_is_pid1 != 0 {
    GuestInit.run { exitCode(of: Ringfence.self, $0) }
}
Ringfence.main()
