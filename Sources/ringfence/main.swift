import ArgumentParser
import Foundation
import RingfenceKit
import CRingfence

/// Parses and runs one command line; returns the process exit code.
/// Usage errors exit 2 (not ArgumentParser's 64) so scripts see one convention.
func runCLI(_ arguments: [String]) -> Int32 {
    do {
        var command = try Ringfence.parseAsRoot(arguments)
        try command.run()
        return Exit.ok
    } catch let code as ExitCode {
        return code.rawValue
    } catch {
        let code = Ringfence.exitCode(for: error)
        let message = Ringfence.fullMessage(for: error)
        if code == .success {
            print(message)
            return Exit.ok
        }
        warn(message)
        return Exit.usage
    }
}

// In the VM guest ringfence is /init: GuestInit runs the command line from
// the kernel's ringfence.args= and powers the machine off.
if rf_is_pid1 != 0 {
    GuestInit.run(cli: runCLI)
}
exit(runCLI(Array(CommandLine.arguments.dropFirst())))
