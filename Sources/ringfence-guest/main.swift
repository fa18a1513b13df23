import ArgumentParser
import RingfenceCore
import RingfenceCLI
import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// The VM guest's /init: the subcommands that run inside the guest, in one
/// static executable without Foundation's internationalisation data or Yams
/// (cases arrive compiled, see CompiledCases). `ringfence vm` puts it in the
/// initramfs; docs/guest-binary.md says why it is separate.
struct RingfenceGuest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringfence-guest",
        abstract: "The part of ringfence that runs inside the VM guest (as /init).",
        discussion: """
        Reads compiled case suites (suite.rfcases, written by ringfence vm) only; use the \
        full ringfence binary for YAML case files and everything on the host.

        Exit codes: 0 all passed, 1 a case failed, 2 usage or case-file error, 4 all skipped.
        """,
        version: RingfenceVersion.string,
        subcommands: [RunCommand.self, ListCommand.self, AsmCommand.self, ProbeCommand.self,
                      FuzzCommand.self, BenchCommand.self, SelftestFaultCommand.self, SelftestCostsCommand.self]
    )
}

// An `exec:` / `spawn:` step re-executes this binary to run its nested steps.
ExecImage.runIfRequested(Array(CommandLine.arguments.dropFirst()))
if rf_is_pid1 != 0 {
    GuestInit.run(cli: { runCLI(RingfenceGuest.self, $0) })
}
exit(runCLI(RingfenceGuest.self, Array(CommandLine.arguments.dropFirst())))
