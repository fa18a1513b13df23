import ArgumentParser
import Foundation
import RingfenceKit
import RingfenceCLI

/// `ringfence verdict LOGFILE`: the suite verdict from a VM console log
/// (used by run-in-vm.sh). Prints the cleaned KTAP document; exits 0/1/2/4.
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
        if let files {
            for (name, data) in guestFiles {
                do { try FileSystem.write(data, to: files + "/" + name) } catch let e as HostError {
                    warn("ringfence verdict: \(e.message)")
                    throw ExitCode(Exit.usage)
                }
            }
        }
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
            if let files {
                // The judged report, named and located, not the transfer form the guest sent.
                do { try FileSystem.write(try outcome.report.json(), to: files + "/" + GuestResults.resultsName) } catch let e as HostError {
                    warn("ringfence verdict: \(e.message)")
                    throw ExitCode(Exit.usage)
                }
            }
            v.ktapLines = VMVerdict.ktap(outcome.report).split(separator: "\n").map(String.init)
            v.exitCode = outcome.exitCode
            v.problems = outcome.problems
            let t = outcome.report.totals
            v.passed = t.passed; v.failed = t.failed + t.errors; v.skipped = t.skipped; v.todo = t.xfail
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

/// `ringfence kernels`: Debian cloud kernels from apt Packages indexes,
/// newest first, one per line, tab-separated:
///   release  upstream  debian-version  suite  binary-pkg=ver  modules-pkg=ver|-  base-pkg=ver|-  config
/// config is y / n / unknown / unfetched, from CONFIGS/<release>.config
/// (a fetched config) or CONFIGS/<release>.noconfig (packages carry none).
struct Kernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List (or pick) Debian cloud kernels from apt Packages indexes (used by run-in-vm.sh).")

    @Option(name: .customLong("packages"), help: "SUITE=FILE: a Packages index and the suite it came from (repeatable).")
    var packages: [String] = []

    @Option(help: "Directory of fetched configs (<release>.config / <release>.noconfig).")
    var configs: String?

    @Option(help: "Only kernels matching this version (release, Debian version, upstream version or its prefix).")
    var match: String?

    @Flag(help: "Print only the default choice: the newest kernel whose config has CONFIG_IO_URING_BPF=y or is unknown; 'unfetched' means: fetch its config and ask again. Exit 3 when none fits.")
    var select = false

    func run() throws {
        var indexes: [(suite: String, text: String)] = []
        for spec in packages {
            guard let eq = spec.firstIndex(of: "=") else { throw ValidationError("--packages wants SUITE=FILE, got \(spec)") }
            let path = String(spec[spec.index(after: eq)...])
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            indexes.append((String(spec[..<eq]), String(decoding: data, as: UTF8.self)))
        }
        let catalog = KernelCatalog(packagesBySuite: indexes)
        let list = match.map { catalog.matching($0) } ?? catalog.kernels
        func state(_ k: KernelCatalog.Kernel) -> KernelCatalog.ConfigState {
            guard let dir = configs else { return .unfetched }
            if let data = FileManager.default.contents(atPath: "\(dir)/\(k.release).config") {
                return KernelCatalog.ioUringBPF(config: String(decoding: data, as: UTF8.self))
            }
            if FileManager.default.fileExists(atPath: "\(dir)/\(k.release).noconfig") { return .unknown }
            return .unfetched
        }
        func line(_ k: KernelCatalog.Kernel, _ s: KernelCatalog.ConfigState) -> String {
            func p(_ pkg: KernelCatalog.Package?) -> String { pkg.map { "\($0.name)=\($0.version)" } ?? "-" }
            return [k.release, k.upstreamVersion, k.version.description, k.suite, p(k.binary), p(k.modules), p(k.base), s.rawValue]
                .joined(separator: "\t")
        }
        if select {
            guard let (k, s) = KernelCatalog.selectDefault(list, config: state) else { throw ExitCode(3) }
            print(line(k, s))
        } else {
            for k in list { print(line(k, state(k))) }
        }
    }
}
