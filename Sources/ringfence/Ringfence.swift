import Foundation
import ArgumentParser
import RingfenceKit

struct Ringfence: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringfence",
        abstract: "Conformance and regression suite for io_uring cBPF filters (IORING_REGISTER_BPF_FILTER).",
        discussion: """
        Runs table-driven cases (YAML under cases/) through real io_uring_register(2) and
        io_uring_enter(2) on the running kernel and prints KTAP. On a kernel without the
        feature every case is skipped (exit 4). Use ./run-in-vm.sh to boot a 7.x kernel.

        Exit codes: 0 all passed, 1 a case failed, 2 usage or case-file error, 4 all skipped.
        """,
        version: RingfenceVersion.string,
        subcommands: [RunCommand.self, ListCommand.self, LintCommand.self, AsmCommand.self, ProbeCommand.self,
                      FuzzCommand.self, CompareCommand.self, MatrixCommand.self, BenchCommand.self, JUnitCommand.self, KTAPCommand.self, KCIDBCommand.self,
                      Verdict.self, Kernels.self, VMCommand.self, SelftestFaultCommand.self],
        defaultSubcommand: nil
    )
}

/// Exit codes shared by every subcommand.
enum Exit {
    static let ok: Int32 = 0, failed: Int32 = 1, usage: Int32 = 2, skipped: Int32 = 4
}

/// Prints to standard error.
func warn(_ text: String) {
    var err = StandardErrorStream()
    print(text, to: &err)
}

struct StandardErrorStream: TextOutputStream {
    mutating func write(_ string: String) { fputs(string, stderr) }
}

/// Loads cases or ends the command with exit 2 and file:line: field: message.
func loadCases(_ directory: String) throws -> [TestCase] {
    do {
        return try CaseLoader.load(directory: directory)
    } catch let e as CaseFileError {
        warn("ringfence: \(e)")
        throw ExitCode(Exit.usage)
    }
}

/// Reads a results file or ends the command with exit 2 and the reason.
func readReport(_ path: String) throws -> RunReport {
    do { return try RunReport.read(path: path) } catch {
        warn("ringfence: \(path): not a ringfence results file (\(error))")
        throw ExitCode(Exit.usage)
    }
}

func encodeJSON<T: Encodable>(_ value: T) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try enc.encode(value), as: UTF8.self)
}
