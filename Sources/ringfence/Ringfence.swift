import Foundation
import ArgumentParser
import RingfenceKit
import RingfenceCLI

struct Ringfence: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringfence",
        abstract: "Conformance and regression suite for io_uring cBPF filters (IORING_REGISTER_BPF_FILTER).",
        discussion: """
        Runs table-driven cases (YAML under cases/) through real io_uring_register(2) and
        io_uring_enter(2) on the running kernel and prints KTAP. On a kernel without the
        feature every case is skipped (exit 4). Use `ringfence vm` (./run-in-vm.sh in a checkout)
        to boot a 7.x kernel.

        Exit codes: 0 all passed, 1 a case failed, 2 usage or case-file error, 4 all skipped.
        """,
        version: InstallLayout.versionText,
        subcommands: [RunCommand.self, ListCommand.self, LintCommand.self, AsmCommand.self, ProbeCommand.self,
                      FuzzCommand.self, CompareCommand.self, MatrixCommand.self, BenchCommand.self, JUnitCommand.self, KTAPCommand.self, KCIDBCommand.self,
                      Verdict.self, VMCommand.self, ExportCommand.self, SelftestFaultCommand.self, SelftestCostsCommand.self],
        defaultSubcommand: nil
    )
}

