import ArgumentParser
import Foundation
import RingfenceKit
import RingfenceCLI

struct KCIDBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kcidb",
        abstract: "Turn a results file into KernelCI KCIDB JSON (checkout, build, a test per case) for kcidb-submit.",
        discussion: """
        Known bugs (xfail) are FAIL tests linked by an incident to a KCIDB issue per cited fix
        (schema 5), or FAIL tests with waived: true (schema 4). Validate with ci/kcidb-validate.py.
        """)

    @Argument(help: "Results file (ringfence run --results, run-in-vm.sh --results).")
    var results: String

    @Option(name: .long, help: "KCIDB origin: the CI system's name, [a-z0-9_]+; every id starts with it.")
    var origin = "ringfence"

    @Option(name: .long, parsing: .unconditional, help: "KCIDB schema major version: 5 (v5.3, default) or 4 (v4.5, known bugs as waived: true).")
    var schema = 5

    @Option(name: .long, help: "Checkout id after 'ORIGIN:' (default: linux-<release>-<digest of uname -v>).")
    var checkoutId: String?

    @Option(name: .long, help: "Build id after 'ORIGIN:' (default: the checkout id and -config-<.config digest>).")
    var buildId: String?

    @Option(name: .long, help: "Write here instead of standard output.")
    var output: String?

    func validate() throws {
        guard KCIDBWriter.isValidOrigin(origin) else { throw ValidationError("--origin must match [a-z0-9_]+ (KCIDB), got '\(origin)'") }
        guard KCIDBWriter.Schema(rawValue: schema) != nil else { throw ValidationError("--schema must be 4 or 5") }
    }

    func run() throws {
        if let output { try checkWritableFile(output, flag: "--output", command: "ringfence kcidb") }
        let report = try readReport(results, command: "ringfence kcidb")
        let writer = KCIDBWriter(origin: origin, schema: KCIDBWriter.Schema(rawValue: schema)!, checkoutID: checkoutId, buildID: buildId)
        let text = try writer.json(report)
        if let output {
            do { try text.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                warn("ringfence kcidb: --output \(output): cannot write (\(writableFileProblem(output) ?? "disk full?")); pick another path")
                throw ExitCode(Exit.usage)
            }
        } else {
            print(text)
        }
    }
}
