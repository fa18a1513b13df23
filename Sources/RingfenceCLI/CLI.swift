import ArgumentParser
import CRingfence
import RingfenceCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Exit codes shared by every subcommand.
public enum Exit {
    public static let ok: Int32 = 0, failed: Int32 = 1, usage: Int32 = 2, skipped: Int32 = 4
}

/// Prints to standard error.
public func warn(_ text: String) {
    var err = StandardErrorStream()
    print(text, to: &err)
}

public struct StandardErrorStream: TextOutputStream {
    public init() {}
    public mutating func write(_ string: String) { fputs(string, stderr) }
}

/// Loads cases or ends the command with exit 2 and file:line: field: message.
public func loadCases(_ directory: String) throws -> [TestCase] {
    do {
        return try CaseLoader.load(directory: directory, compose: CaseSource.compose)
    } catch let e as CaseFileError {
        warn("ringfence: \(e)")
        throw ExitCode(Exit.usage)
    }
}

/// Reads a results file or ends the command with exit 2 and the reason.
public func readReport(_ path: String, command: String = "ringfence") throws -> RunReport {
    do { return try RunReport.read(path: path) } catch let e as ResultsFileError {
        warn("\(command): \(e)")
        throw ExitCode(Exit.usage)
    }
}

/// Ends the command with exit 2 unless a file can be written at `path`
/// (its directory exists and is writable; `path` itself is no directory):
/// checked before any work, so a long run does not end in a failed write.
public func checkWritableFile(_ path: String, flag: String, command: String = "ringfence") throws {
    if let problem = writableFileProblem(path) {
        warn("\(command): \(flag) \(path): \(problem)")
        throw ExitCode(Exit.usage)
    }
}

/// Why no file can be written at `path`, or nil (OutputPath.problem).
public func writableFileProblem(_ path: String) -> String? { OutputPath.problem(path) }

public func encodeJSON<T: Encodable>(_ value: T) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try enc.encode(value), as: UTF8.self)
}

/// Parses and runs one command line; returns the process exit code.
/// Usage errors exit 2 (not ArgumentParser's 64) so scripts see one convention.
public func runCLI<Root: ParsableCommand>(_ root: Root.Type, _ arguments: [String]) -> Int32 {
    do {
        var command = try Root.parseAsRoot(arguments)
        try command.run()
        return Exit.ok
    } catch let code as ExitCode {
        return code.rawValue
    } catch {
        let code = Root.exitCode(for: error)
        let message = Root.fullMessage(for: error)
        if code == .success {
            print(message)
            return Exit.ok
        }
        warn(message)
        return Exit.usage
    }
}
