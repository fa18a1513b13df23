import ArgumentParser
import Foundation
import RingfenceKit
import RingfenceCLI
import RingfenceCLI
import CRingfence

// The full binary reads YAML case files (Yams); ringfence-guest reads the
// compiled suite the VM host writes.
CaseSource.compose = YAMLCompose.composer

// The VM boots ringfence-guest as /init; this binary can still be PID 1
// (e.g. a hand-made initramfs): GuestInit runs the command line from the
// kernel's ringfence.args= and powers the machine off.
// An `exec:` / `spawn:` step re-executes this binary to run its nested steps.
ExecImage.runIfRequested(Array(CommandLine.arguments.dropFirst()))
if rf_is_pid1 != 0 {
    GuestInit.run(cli: { runCLI(Ringfence.self, $0) })
}
exit(runCLI(Ringfence.self, Array(CommandLine.arguments.dropFirst())))
