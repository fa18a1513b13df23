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
let arguments = Array(CommandLine.arguments.dropFirst())
let code = runCLI(Ringfence.self, arguments)
// `ringfence vm --bisect`: git bisect run's contract (docs/kernel-tree.md),
// applied to every ending, usage errors included.
if arguments.first == "vm", arguments.prefix(while: { $0 != "--" }).contains("--bisect") {
    let ending = VMVerdict.Ending(exitCode: code)
    warn("ringfence vm: --bisect: exit \(code) is \(ending.name): exiting \(ending.bisectCode)")
    exit(ending.bisectCode)
}
exit(code)
