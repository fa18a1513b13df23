import ArgumentParser
import RingfenceKit
import RingfenceCLI

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two results files: newly failing, newly passing, newly skipped, changed observed values.",
        discussion: """
        Exit codes:
          0  no regression
          1  a case fails in NEW that did not fail in OLD (or is new and failing)
          2  a file is missing or is not a results file
          3  cases of OLD are missing from NEW (another suite, or a --filter run);
             --allow-removed accepts that
          4  NEW ran no case: all skipped (a host run, or a kernel without the
             feature tested nothing)
        The reasons go to standard error; the first of 4, 1, 3 is the exit code.
        """)

    @Argument(help: "Results file of the baseline run (ringfence run --results / run-in-vm.sh).")
    var old: String

    @Argument(help: "Results file of the run to judge.")
    var new: String

    @Option(name: .long, help: "table or json.")
    var format: Format = .table

    @Flag(name: .long, help: "Cases of OLD missing from NEW do not fail the comparison (exit 3 otherwise).")
    var allowRemoved = false

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

    func run() throws {
        let comparison = ResultsComparison(old: try readReport(old, command: "ringfence compare"),
                                           new: try readReport(new, command: "ringfence compare"))
        if format == .table { print(comparison.table()) } else { print(try encodeJSON(comparison)) }
        let (code, reasons) = comparison.gate(allowRemoved: allowRemoved)
        for w in comparison.warnings { warn("ringfence compare: warning: \(w)") }
        for r in reasons { warn("ringfence compare: \(r)") }
        throw ExitCode(code)
    }
}

struct MatrixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix", abstract: "Build a case × kernel table (Markdown or JSON) from results files.")

    @Argument(help: "Results files, one per kernel, in column order.")
    var results: [String]

    @Option(name: .long, help: "markdown or json.")
    var format: Format = .markdown

    enum Format: String, ExpressibleByArgument, CaseIterable { case markdown, json }

    func validate() throws {
        if results.isEmpty { throw ValidationError("give at least one results file") }
    }

    func run() throws {
        let matrix = KernelMatrix(reports: try results.map { try readReport($0, command: "ringfence matrix") })
        print(format == .markdown ? matrix.markdown() : try encodeJSON(matrix))
    }
}

struct JUnitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "junit", abstract: "Turn a results file (e.g. from run-in-vm.sh --results) into JUnit XML.")

    @Argument(help: "Results file.")
    var results: String

    func run() throws {
        print(JUnitWriter().document(try readReport(results, command: "ringfence junit")))
    }
}

struct KTAPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ktap",
        abstract: "Render a results file as the KTAP document `ringfence run` printed for it (one suite per area).")

    @Argument(help: "Results file.")
    var results: String

    func run() throws {
        KTAPWriter.document(try readReport(results, command: "ringfence ktap")).forEach { print($0) }
    }
}
