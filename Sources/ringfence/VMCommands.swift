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

    @Option(help: "Also write summary.txt (as `ringfence vm` writes it) to this file.")
    var summary: String?

    @Option(help: "Write the files the guest sent over the console (results.json, bench plots) into this directory.")
    var files: String?

    @Option(help: "Case directory to name the guest's results by (they cross the console by id only; default: cases).")
    var cases: String?

    @Option(help: ArgumentHelp("The guest architecture the log was recorded on (x86_64, arm64, s390x): recorded as the host's arch in results.json and summary.txt.", valueName: "ARCH"))
    var arch: GuestArch?

    func run() throws {
        guard let data = FileManager.default.contents(atPath: logFile) else {
            throw ValidationError("cannot read \(logFile)")
        }
        let log = String(decoding: data, as: UTF8.self)
        // The one judge, as `ringfence vm` calls it; a recorded log has no plan and no host.
        var context = VMVerdict.Context()
        context.timedOut = timedOut
        context.arch = arch?.rawValue
        if GuestResults.extract(fromConsole: log)[GuestResults.resultsName] != nil {
            let dir = cases ?? ProcessInfo.processInfo.environment["RINGFENCE_DEFAULT_CASES"] ?? "cases"
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue { context.catalog = try loadCases(dir) }
            else if cases != nil { throw ValidationError("--cases \(dir): no such directory") }
        }
        let judged = VMVerdict.judge(log: log, plan: nil, host: nil, context: context)
        var outFiles = judged.files
        // The judged report, named and located, not the transfer form the guest sent.
        if judged.byReport { outFiles[GuestResults.resultsName] = Data(try judged.report.json().utf8) }
        if let files {
            for (name, data) in outFiles {
                do { try FileSystem.write(data, to: files + "/" + name) } catch let e as HostError {
                    warn("ringfence verdict: \(e.message)")
                    throw ExitCode(Exit.usage)
                }
            }
        }
        print(judged.ktap, terminator: "")
        if let summary {
            do { try FileSystem.write(judged.summary, to: summary) } catch let e as HostError {
                warn("ringfence verdict: \(e.message)")
                throw ExitCode(Exit.usage)
            }
        }
        if judged.exitCode != 0 { throw ExitCode(judged.exitCode) }
    }
}

