import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import RingfenceCore

public struct ListCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(commandName: "list", abstract: "List cases (or the kernel modules they need).")

    @Option(name: .long, help: "Directory of case files, or one case file.")
    var cases = "cases"

    @Flag(name: .long, help: "Print only the kernel modules cases require, one per line.")
    var modules = false

    public func run() throws {
        let all = try loadCases(cases)
        if modules {
            var names = Set<String>()
            for c in all { for case .module(let m) in c.requires { names.insert(m) } }
            names.sorted().forEach { print($0) }
            return
        }
        for c in all {
            let extra = c.requires.filter { $0 != .bpfFilter }.map(\.description) + (c.tier == .exhaustive ? ["tier:exhaustive"] : [])
            print("\(c.id)\(extra.isEmpty ? "" : "  [" + extra.joined(separator: ", ") + "]")")
        }
        print("\(all.count) cases")
    }
}

public struct LintCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "lint", abstract: "Load and assemble every case without touching the kernel; every case needs a why:.")

    @Argument(help: "Directory of case files, or one case file.")
    var cases = "cases"

    public func run() throws {
        let loaded: (cases: [TestCase], errors: [CaseFileError])
        do { loaded = try CaseLoader.loadCollectingErrors(directory: cases, compose: CaseSource.compose) } catch let e as CaseFileError {
            warn("ringfence: \(e)")
            throw ExitCode(Exit.usage)
        }
        // Cases that loaded still need a why: and byte-order-neutral loads (CaseLint);
        // those that did not load are reported for what failed.
        let errors = loaded.errors + CaseLint.missingWhy(loaded.cases) + CaseLint.byteOrder(loaded.cases)
        for e in errors { warn(e.description) }
        if !errors.isEmpty {
            let files = Set(errors.map(\.file)).count
            warn("ringfence lint: \(errors.count) error(s) in \(files) file(s); fix them (docs/writing-cases.md)")
            throw ExitCode(Exit.usage)
        }
        let files = Set(loaded.cases.map(\.location.file)).count
        print("ringfence lint: \(loaded.cases.count) cases in \(files) files OK")
    }
}
