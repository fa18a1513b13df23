import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

final class TaintTests: XCTestCase {
    func testDecodingFollowsTheKernelsTable() {
        XCTAssertEqual(KernelTaint.letters(0), "")
        XCTAssertEqual(KernelTaint.letters(1 << 9), "W")
        XCTAssertEqual(KernelTaint.letters(1 | 1 << 7 | 1 << 9 | 1 << 12), "PDWO")
        XCTAssertEqual(KernelTaint.letters(1 << 2 | 1 << 18 | 1 << 19), "SNJ")
        XCTAssertEqual(KernelTaint.letters(1 << 30), "#30")
        XCTAssertEqual(KernelTaint.describe(1 << 6), "U (taint requested by userspace application)")
        XCTAssertEqual(KernelTaint.flags.map { String($0.letter) }.joined(), "PFSRMBUDAWCIOELKXTNJ")
        XCTAssertEqual(KernelTaint.flags.map(\.bit), Array(0...19))
        XCTAssertEqual(KernelTaint.bit(forLetter: "w"), 9)
        XCTAssertNil(KernelTaint.bit(forLetter: "G"))
        XCTAssertNil(KernelTaint.bit(forLetter: "Z"))
    }

    func testReadingTheMask() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rf-taint-read-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "4608\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(KernelTaint.read(path: path), 4608)
        XCTAssertNil(KernelTaint.read(path: path + "-missing"))
    }

    func testNewBitsFailTheCaseOldBitsDoNot() {
        let pass = CaseResult(id: "a:b", name: "b", file: "a.yaml", line: 1, status: .pass)
        XCTAssertEqual(Runner.judgeTaint(pass, before: 512, after: 512, overlapping: []).status, .pass)
        XCTAssertEqual(Runner.judgeTaint(pass, before: nil, after: 1 << 7, overlapping: []).status, .pass)
        let r = Runner.judgeTaint(pass, before: 512, after: 512 | 1 << 7, overlapping: ["3 a:c"])
        XCTAssertEqual(r.status, .fail)
        XCTAssertEqual(r.taint, "D")
        XCTAssertEqual(r.diagnostics[0], "kernel tainted while the case ran: D (tainted 512 -> 640): D (kernel died recently, i.e. there was an OOPS or BUG)")
        XCTAssertTrue(r.diagnostics[1].hasSuffix("3 a:c"), r.diagnostics[1])
        var crashed = pass
        crashed.status = .crash
        XCTAssertEqual(Runner.judgeTaint(crashed, before: 0, after: 1 << 9, overlapping: []).status, .crash)
    }

    private func tempFile(_ name: String, _ text: String = "0\n") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rf-\(name)-\(getpid())").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private let cases = """
        - name: taints the kernel
          steps:
            - register: { opcode: NOP, program: "ret #1" }
            - taint: U
        - name: clean
          steps:
            - register: { opcode: NOP, program: "ret #1" }
        """

    /// The simulated backend: the `taint:` step sets a bit, the runner sees it appear and fails that case only.
    func testATaintingCaseFailsAndTheNextOneDoesNot() throws {
        let taint = try tempFile("taint")
        let log = try tempFile("kmsg", "")
        let k = ScriptedKernel()
        k.taintFile = taint
        var o = RunOptions()
        o.isolate = false
        let runner = Runner(facts: .fake(), options: o, backend: { k })
        runner.readTaint = { KernelTaint.read(path: taint) }
        runner.markers = KernelLogMarkers(path: log)
        let loaded = try CaseLoader.load(yaml: cases, file: "selftest/taint.yaml")
        var results: [Int: CaseResult] = [:]
        runner.runAll(loaded, jobs: 1, started: { _ in }, finished: { results[$0] = $1 })
        XCTAssertEqual(results[0]?.status, .fail)
        XCTAssertEqual(results[0]?.taint, "U")
        XCTAssertTrue(results[0]?.diagnostics.contains { $0.hasPrefix("kernel tainted while the case ran: U (tainted 0 -> 64)") } ?? false)
        XCTAssertEqual(results[1]?.status, .pass, "the bit was already set before the second case")
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8), """
            <4>ringfence: begin 1 selftest/taint:taints-the-kernel
            <4>ringfence: end 1
            <4>ringfence: begin 2 selftest/taint:clean
            <4>ringfence: end 2

            """)
    }

    /// One read per case: the mask read as a case ends is the next case's
    /// "before". A bit that appears between two cases (here: while the runner
    /// handles the first one's result) fails the second instead of going unseen.
    func testTaintBetweenTwoCasesFailsTheNextOneAndIsReadOncePerCase() throws {
        let taint = try tempFile("taint-between")
        let k = ScriptedKernel()
        k.taintFile = taint
        var o = RunOptions()
        o.isolate = false
        let runner = Runner(facts: .fake(), options: o, backend: { k })
        var reads = 0
        runner.readTaint = { reads += 1; return KernelTaint.read(path: taint) }
        let loaded = try CaseLoader.load(yaml: """
            - name: first
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            - name: second
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            - name: third
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            """, file: "selftest/between.yaml")
        var results: [Int: CaseResult] = [:]
        runner.runAll(loaded, jobs: 1, started: { _ in }, finished: { i, r in
            results[i] = r
            if i == 0 { try? "512\n".write(toFile: taint, atomically: true, encoding: .utf8) }   // W, between cases 1 and 2
        })
        XCTAssertEqual(results[0]?.status, .pass)
        XCTAssertEqual(results[1]?.status, .fail)
        XCTAssertEqual(results[1]?.taint, "W")
        XCTAssertEqual(results[2]?.status, .pass)
        XCTAssertEqual(reads, 4, "before the first case, then once after each")
    }

    /// Forked, two at once: a bit that appears while both run fails both, and each names the other.
    func testTaintDuringOverlappingCasesFailsBoth() throws {
        let taint = try tempFile("taint-par")
        let k = ScriptedKernel()
        k.taintFile = taint
        let yaml = """
            - name: slow and clean
              steps:
                - register: { opcode: NOP, program: "ret #1" }
                - register: { opcode: NOP, program: "ret #1" }
                - register: { opcode: NOP, program: "ret #1" }
            - name: taints midway
              steps:
                - register: { opcode: NOP, program: "ret #1" }
                - taint: W
            """
        k.registerDelayMs = 150
        // Both in forked children (a ring-only case would otherwise wait for a
        // shared worker, after the fresh ones).
        var options = RunOptions()
        options.isolateAll = true
        let runner = Runner(facts: .fake(), options: options, backend: { k })
        runner.readTaint = { KernelTaint.read(path: taint) }
        let loaded = try CaseLoader.load(yaml: yaml, file: "selftest/par.yaml")
        var results: [Int: CaseResult] = [:]
        runner.runAll(loaded, jobs: 2, started: { _ in }, finished: { results[$0] = $1 })
        XCTAssertEqual(results[0]?.status, .fail)
        XCTAssertEqual(results[1]?.status, .fail)
        XCTAssertEqual(results[0]?.taint, "W")
        XCTAssertTrue(results[0]?.diagnostics.last?.hasSuffix("2 selftest/par:taints-midway") ?? false, "\(results[0]?.diagnostics ?? [])")
        XCTAssertTrue(results[1]?.diagnostics.last?.hasSuffix("1 selftest/par:slow-and-clean") ?? false, "\(results[1]?.diagnostics ?? [])")
    }

    /// A ring-only case in a shared worker gets the same markers and taint check.
    func testTaintInASharedWorkerFailsTheCase() throws {
        let log = try tempFile("kmsg-shared", "")
        let k = ScriptedKernel()
        let runner = Runner(facts: .fake(), options: RunOptions(), backend: { k })
        var reads = 0
        runner.readTaint = { reads += 1; return reads == 1 ? 0 : 512 }   // W appears while the case runs
        runner.markers = KernelLogMarkers(path: log)
        let loaded = try CaseLoader.load(yaml: """
            - name: ring only
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            """, file: "selftest/shared.yaml")
        XCTAssertEqual(CaseIsolation.of(loaded[0]), .sharedWorker)
        var results: [Int: CaseResult] = [:]
        runner.runAll(loaded, jobs: 1, started: { _ in }, finished: { results[$0] = $1 })
        XCTAssertEqual(results[0]?.status, .fail)
        XCTAssertEqual(results[0]?.taint, "W")
        let text = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(text.contains("ringfence: begin 1 selftest/shared:ring-only"), text)
        XCTAssertTrue(text.contains("ringfence: end 1\n"), text)
    }

    func testTheTaintStepParses() throws {
        let c = try CaseLoader.load(yaml: "- name: t\n  steps:\n    - taint: UW\n", file: "t.yaml")[0]
        guard case .taint(let mask, _) = c.steps[0] else { return XCTFail("not a taint step") }
        XCTAssertEqual(mask, 1 << 6 | 1 << 9)
        XCTAssertThrowsError(try CaseLoader.load(yaml: "- name: t\n  steps:\n    - taint: Z\n", file: "t.yaml")) { e in
            XCTAssertTrue("\(e)".contains("unknown taint letter 'Z'"), "\(e)")
        }
    }

    /// The harness self-test case file parses and is not among the default cases.
    func testSelfTestCaseFileExists() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let selftest = try CaseLoader.load(directory: root.appendingPathComponent("ci/fixtures/selftest").path)
        XCTAssertTrue(selftest.contains { $0.steps.contains { if case .taint = $0 { return true } else { return false } } })
        let defaults = try CaseLoader.load(directory: root.appendingPathComponent("cases").path)
        XCTAssertFalse(defaults.contains { $0.steps.contains { if case .taint = $0 { return true } else { return false } } })
    }
}
