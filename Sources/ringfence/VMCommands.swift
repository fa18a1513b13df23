import ArgumentParser
import Foundation
import RingfenceKit
import RingfenceCLI

/// `ringfence verdict LOGFILE`: the suite verdict from a VM console log
/// (a saved console log; `ringfence vm` judges its own). Prints the cleaned KTAP document; exits 0/1/2/4.
struct Verdict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Judge a VM serial console log: cleaned KTAP on stdout, the suite's exit code.")

    @Argument(help: "The console log file.")
    var logFile: String

    @Flag(help: "The VM was killed at the host's global timeout.")
    var timedOut = false

    @Option(help: "Also write one summary line (key=value) to this file.")
    var summary: String?

    @Option(help: "Write the files the guest sent over the console (results.json, bench plots) into this directory.")
    var files: String?

    @Option(help: "Case directory to name the guest's results by (they cross the console by id only; default: cases).")
    var cases: String?

    func run() throws {
        guard let data = FileManager.default.contents(atPath: logFile) else {
            throw ValidationError("cannot read \(logFile)")
        }
        let log = String(decoding: data, as: UTF8.self)
        var v = ConsoleVerdict.evaluate(log: log, timedOut: timedOut)
        let guestFiles = GuestResults.extract(fromConsole: log)
        var outFiles = guestFiles
        // The same one results path as `ringfence vm` when the guest sent its results.
        if let json = guestFiles[GuestResults.resultsName], let guest = try? JSONDecoder().decode(RunReport.self, from: json) {
            let host = guest.host ?? HostFacts(accelerator: guest.accelerator ?? "unknown", kernelRelease: guest.kernel.release)
            var input = VMVerdict.Input(console: v, guestReport: guest, plan: nil, host: host)
            input.timedOut = timedOut
            let dir = cases ?? ProcessInfo.processInfo.environment["RINGFENCE_DEFAULT_CASES"] ?? "cases"
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue { input.catalog = try loadCases(dir) }
            else if cases != nil { throw ValidationError("--cases \(dir): no such directory") }
            let outcome = VMVerdict.judge(input)
            // The judged report, named and located, not the transfer form the guest sent.
            outFiles[GuestResults.resultsName] = Data(try outcome.report.json().utf8)
            v.ktapLines = VMVerdict.ktap(outcome.report).split(separator: "\n").map(String.init)
            v.exitCode = outcome.exitCode
            v.problems = outcome.problems
            let t = outcome.report.totals
            v.passed = t.passed; v.failed = t.failed + t.errors; v.skipped = t.skipped; v.todo = t.xfail
        }
        if let files {
            for (name, data) in outFiles {
                do { try FileSystem.write(data, to: files + "/" + name) } catch let e as HostError {
                    warn("ringfence verdict: \(e.message)")
                    throw ExitCode(Exit.usage)
                }
            }
        }
        print(v.ktap, terminator: "")
        if let summary {
            func fmt(_ d: Double?) -> String { d.map { String(format: "%.2f", $0) } ?? "?" }
            var line = "boot=\(fmt(v.bootSeconds)) suite=\(fmt(v.suiteSeconds)) passed=\(v.passed) failed=\(v.failed) skipped=\(v.skipped) known=\(v.todo)"
            line += " planned=\(v.planned.map(String.init) ?? "?") exit=\(v.exitCode)"
            line += "\n" + v.problems.map { "problem: " + $0 + "\n" }.joined()
            do { try FileSystem.write(line, to: summary) } catch let e as HostError {
                warn("ringfence verdict: \(e.message)")
                throw ExitCode(Exit.usage)
            }
        }
        if v.exitCode != 0 { throw ExitCode(v.exitCode) }
    }
}

