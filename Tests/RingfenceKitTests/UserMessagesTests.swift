import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

/// Every message names the file or field and says what to do: lint shows
/// every error of a file, numbers out of range say the range, results files
/// that cannot be read say why without a Foundation error dump.
final class UserMessagesTests: XCTestCase {
    private func errors(_ yaml: String, file: String = "t.yaml") throws -> [CaseFileError] {
        try CaseLoader.loadCollectingErrors(node: try YAMLCompose.compose(yaml: yaml, file: file), file: file).errors
    }

    private func only(_ yaml: String) throws -> CaseFileError? {
        let e = try errors(yaml)
        XCTAssertEqual(e.count, 1, "\(e)")
        return e.first
    }

    func testLintReportsEveryErrorOfAFileNotTheFirst() throws {
        let e = try errors("""
            - name: one
              steps:
                - register: { opcode: NOPE, program: "ret #1" }
                - register: { opcode: NOP, program: "ret #1", bogus: 1 }
            - name: two
              steps:
                - register: { opcode: NOP, program: "ret #1" }
                  expect: { errno: EWHATEVER }
            """)
        XCTAssertEqual(e.map(\.line), [3, 4, 8], "\(e)")
        guard e.count == 3 else { return }
        XCTAssertTrue(e[0].message.contains("unknown opcode 'NOPE'"))
        XCTAssertTrue(e[1].message.contains("unknown key 'bogus'"))
        XCTAssertTrue(e[2].message.contains("EWHATEVER"))
        // The case-level errors come with the step errors of the same case.
        let both = try errors("""
            - name: ""
              extra: 1
              steps:
                - register: { opcode: NOP, program: "ret #1", padded_to: 0 }
            """)
        XCTAssertEqual(both.map(\.field), ["[0].name", "[0]", "[0].steps[0].register.padded_to"], "\(both)")
        XCTAssertTrue(both.last?.message.contains("less than the program's 1 instruction;") ?? false, "\(both)")
    }

    func testEmptyOrWordlessNameIsRefused() throws {
        let e = try only("""
            - name: ""
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            """)
        XCTAssertEqual(e?.field, "[0].name")
        XCTAssertTrue(e?.message.contains("the name is empty") ?? false, e?.message ?? "")
        let w = try only("""
            - name: "!!!"
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            """)
        XCTAssertTrue(w?.message.contains("no letter or digit") ?? false, w?.message ?? "")
    }

    func testPaddedToSaysWhatIsWrong() throws {
        let short = try only("""
            - name: x
              steps:
                - register: { opcode: NOP, program: "ld #1\\nret #1", padded_to: 1 }
            """)
        XCTAssertEqual(short?.field, "[0].steps[0].register.padded_to")
        XCTAssertTrue(short?.message.contains("padded_to 1 is less than the program's 2 instructions") ?? false, short?.message ?? "")
        let big = try only("""
            - name: x
              steps:
                - register: { opcode: NOP, program: "ret #1", padded_to: 70000 }
            """)
        XCTAssertTrue(big?.message.contains("padded_to 70000 is out of range: 1 (the program's length) to 65535") ?? false, big?.message ?? "")
        XCTAssertFalse(big?.message.contains("at least") ?? true)
        let negative = try only("""
            - name: x
              steps:
                - register: { opcode: NOP, program: "ret #1", padded_to: -1 }
            """)
        XCTAssertTrue(negative?.message.contains("padded_to -1 is out of range") ?? false, negative?.message ?? "")
    }

    func testOutOfRangeNumbersSayTheRangeNotUnknownOpcode() throws {
        let cases: [(String, String)] = [
            ("- register: { opcode: 4294967296, program: \"ret #1\" }", "opcode 4294967296 is out of range: a filter's opcode (__u32) is 0 to 4294967295"),
            ("- register: { opcode: LAST+4294967296, program: \"ret #1\" }", "LAST+4294967296 is out of range"),
            ("- submit: [ { op: 256 } ]\n      expect: { cqes: [] }", "opcode 256 is out of range: an SQE's opcode (__u8) is 0 to 255"),
            ("- register: { opcode: NOP, program: \"ret #1\", cmd_type: 65536 }", "65536 is out of range: this field is unsigned 16-bit, 0 to 65535"),
            ("- restrict: { sqe_ops: [ 300 ] }", "opcode 300 is out of range"),
        ]
        for (step, text) in cases {
            let e = try only("- name: x\n  steps:\n    \(step)\n")
            XCTAssertTrue(e?.message.contains(text) ?? false, "\(step): \(e?.message ?? "no error")")
            XCTAssertFalse(e?.message.contains("unknown opcode") ?? true, "\(step)")
        }
        // Still a number in range, and a name, load as before.
        XCTAssertTrue(try errors("- name: x\n  steps:\n    - submit: [ { op: 0x0_0 } ]\n      expect: { cqes: [] }\n").isEmpty)
    }

    func testDeepYAMLIsRefusedWithoutEchoingIt() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        XCTAssertThrowsError(try YAMLCompose.compose(yaml: deep, file: "deep.yaml")) { e in
            let d = "\(e)"
            XCTAssertLessThan(d.count, 400, String(d.prefix(400)))
            XCTAssertTrue(d.contains("nested deeper"), d)
        }
        // Any other syntax error echoes at most echoLimit characters of a line.
        let long = "{" + String(repeating: "x", count: 5000) + " ]"
        XCTAssertThrowsError(try YAMLCompose.compose(yaml: long, file: "long.yaml")) { e in
            let d = "\(e)"
            XCTAssertTrue(d.contains("YAML syntax"), d)
            for line in d.split(separator: "\n") { XCTAssertLessThanOrEqual(line.count, YAMLCompose.echoLimit + 80, String(line.prefix(300))) }
        }
    }

    func testExplicitKnownBugsFileMustExist() throws {
        let missing = NSTemporaryDirectory() + "rf-no-such-known-bugs-\(getpid()).yaml"
        XCTAssertEqual(try KnownBugs.load(path: missing).count, 0, "the default baseline may be absent")
        XCTAssertThrowsError(try KnownBugs.load(path: missing, compose: YAMLCompose.composer, required: true)) { e in
            let d = (e as? CaseFileError)?.description ?? "\(e)"
            XCTAssertTrue(d.contains("--known-bugs") && d.contains("no such file") && d.contains("'none'"), d)
        }
    }

    // MARK: results files

    private func scratch() throws -> String {
        let d = NSTemporaryDirectory() + "rf-results-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func testUnreadableResultsFilesSayWhyInOneLine() throws {
        let d = try scratch()
        try "".write(toFile: d + "/empty.json", atomically: true, encoding: .utf8)
        try "{ not json".write(toFile: d + "/bad.json", atomically: true, encoding: .utf8)
        try "{\"cases\": []}".write(toFile: d + "/partial.json", atomically: true, encoding: .utf8)
        let expect: [(String, String)] = [
            (d + "/nothere.json", "no such file; give a results file"),
            (d, "is a directory; give the results.json file of a run"),
            (d + "/empty.json", "is empty"),
            (d + "/bad.json", "not a ringfence results file (not valid JSON)"),
            (d + "/partial.json", "not a ringfence results file (no '"),
        ]
        for (path, text) in expect {
            XCTAssertThrowsError(try RunReport.read(path: path)) { e in
                let s = "\(e)"
                XCTAssertTrue(s.hasPrefix(path + ": ") && s.contains(text), s)
                XCTAssertFalse(s.contains("Error Domain") || s.contains("NSCocoaErrorDomain") || s.contains("\n"), s)
            }
        }
    }

    func testAnOutputPathIsCheckedBeforeTheWork() throws {
        let d = try scratch()
        XCTAssertNil(OutputPath.problem(d + "/r.json"))
        XCTAssertNil(OutputPath.problem("r.json"))
        XCTAssertEqual(OutputPath.problem(d), "is a directory; give a file name")
        XCTAssertEqual(OutputPath.problem(d + "/no/dir/r.json"),
                       "its directory \(d)/no/dir does not exist; create it (mkdir -p \(d)/no/dir) or pick another path")
        try "x".write(toFile: d + "/file", atomically: true, encoding: .utf8)
        XCTAssertEqual(OutputPath.problem(d + "/file/r.json"), "\(d)/file is not a directory; pick another path")
        XCTAssertEqual(OutputPath.problem(""), "an empty path; give a file name")
    }

    // MARK: compare

    private func recorded() throws -> RunReport { try RecordedResults.load("debian-7.3.4") }

    func testCompareOfTheSameRunPasses() throws {
        let r = try recorded()
        let gate = ResultsComparison(old: r, new: r).gate(allowRemoved: false)
        XCTAssertEqual(gate.code, 0)
        XCTAssertTrue(gate.reasons.isEmpty)
    }

    func testCompareFailsWhenNewRanNothing() throws {
        let old = try recorded()
        var new = old
        for i in new.cases.indices { new.cases[i].status = .skip }
        let gate = ResultsComparison(old: old, new: new).gate(allowRemoved: true)
        XCTAssertEqual(gate.code, 4)
        XCTAssertTrue(gate.reasons.joined().contains("ran no case (all \(old.cases.count) skipped)"), "\(gate.reasons)")
        new.cases = []
        let none = ResultsComparison(old: old, new: new).gate(allowRemoved: true)
        XCTAssertEqual(none.code, 4)
        XCTAssertTrue(none.reasons.joined().contains("has no cases"), "\(none.reasons)")
    }

    func testCompareFailsWhenOldCasesAreMissingUnlessAllowed() throws {
        let old = try recorded()
        var new = old
        new.cases.removeFirst(5)
        let c = ResultsComparison(old: old, new: new)
        XCTAssertEqual(c.gate(allowRemoved: false).code, 3)
        XCTAssertTrue(c.gate(allowRemoved: false).reasons.joined().contains("5 of OLD's cases are missing from NEW"))
        XCTAssertTrue(c.gate(allowRemoved: false).reasons.joined().contains("--allow-removed"))
        XCTAssertEqual(c.gate(allowRemoved: true).code, 0)
    }

    func testANewFailureStillExitsOneAndComesBeforeRemoved() throws {
        let old = try recorded()
        var new = old
        let i = new.cases.firstIndex { $0.status == .pass }!
        new.cases[i].status = .fail
        new.cases.removeLast()
        let gate = ResultsComparison(old: old, new: new).gate(allowRemoved: false)
        XCTAssertEqual(gate.code, 1)
        XCTAssertEqual(gate.reasons.count, 2, "\(gate.reasons)")
    }
}
