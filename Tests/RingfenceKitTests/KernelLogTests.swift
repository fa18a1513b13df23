import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

/// kmsg markers read back: the slice of a case and which cases a splat happened under.
final class KernelLogTests: XCTestCase {
    private var fixture: String {
        (try? RecordedConsole.load("warn-overlapping-cases").log) ?? ""
    }

    func testMessagesFromConsoleKmsgRecordsAndRawWrites() {
        XCTAssertEqual(KernelLog.messages("""
            [    2.871203] ringfence: begin 1 a:b
            4,812,2871203,-;ringfence: end 1 a:b
             SUBSYSTEM=foo
            <4>ringfence: begin 2 a:c
            plain text
            """), ["ringfence: begin 1 a:b", "ringfence: end 1 a:b", "ringfence: begin 2 a:c", "plain text"])
    }

    /// A WARN while cases 2 and 3 both ran fails both (the console verdict
    /// attributes from the markers); one after every end marker falls to the
    /// case that ended last, saying so.
    func testAWarnDuringTwoOverlappingCasesNamesBoth() {
        let v = ConsoleVerdict.evaluate(log: fixture)
        XCTAssertTrue(v.caseTrouble[2]?.first.hasPrefix("WARNING: CPU: 1 PID: 48 at io_uring/io_uring.c:3012 io_ring_exit_work") == true)
        XCTAssertEqual(v.caseTrouble[2]?.first, v.caseTrouble[3]?.first)
        XCTAssertEqual(v.caseTrouble[2]?.note, "kernel trouble while cases 2, 3 ran at once")
        XCTAssertNil(v.caseTrouble[1])
        XCTAssertEqual(v.markerIDs[3], "interplay/rings:two-rings-share-a-task-filter")
    }

    /// Today's guests end a case with `ringfence: end N` (no id): the slice
    /// stops there and the console verdict closes the case, as with the old form.
    func testTheShortEndMarkerClosesTheCase() {
        XCTAssertEqual(KernelLogMarkers.end(7), "ringfence: end 7")
        let messages = KernelLog.messages("""
            [    1.000000] ringfence: begin 7 a:b
            [    1.000100] inside
            [    1.000200] ringfence: end 7
            [    1.000300] after
            """)
        XCTAssertEqual(KernelLog.slice(messages, number: 7, id: "a:b"), ["inside"])
        let v = ConsoleVerdict.evaluate(log: """
            [    1.000000] ringfence: begin 1 a:b
            [    1.000200] ringfence: end 1
            [    1.000300] ringfence: begin 2 a:c
            [    1.000400] WARNING: CPU: 0 PID: 9 at io_uring/io_uring.c:1 f+0x1/0x2
            [    1.000500] ---[ end trace 0000000000000000 ]---
            [    1.000600] ringfence: end 2
            """)
        XCTAssertNil(v.caseTrouble[1])
        XCTAssertNotNil(v.caseTrouble[2])
        XCTAssertEqual(v.markerIDs[2], "a:c")
    }

    func testSliceBetweenACasesMarkers() {
        let slice = KernelLog.slice(KernelLog.messages(fixture), number: 2, id: "interplay/rings:a-ring-closed-while-a-request-is-in-flight")
        XCTAssertEqual(slice.first, "ringfence: end 1 interplay/rings:closing-a-ring-with-a-filter-attached")
        XCTAssertEqual(slice.last, "---[ end trace 0000000000000000 ]---")
        XCTAssertEqual(slice.count, 12)
        XCTAssertEqual(KernelLog.slice(KernelLog.messages(fixture), number: 9, id: "x:y"), [])
        XCTAssertEqual(KernelLog.slice(KernelLog.messages(fixture), number: 2, id: "interplay/rings:a-ring-closed-while-a-request-is-in-flight", limit: 2),
                       ["</TASK>", "---[ end trace 0000000000000000 ]---"])
    }

    /// A case that taints gets the log between its markers in its diagnostics.
    func testATaintingCaseCarriesItsLogSlice() throws {
        let dir = FileManager.default.temporaryDirectory
        let taint = dir.appendingPathComponent("rf-slice-taint-\(getpid())").path
        let log = dir.appendingPathComponent("rf-slice-kmsg-\(getpid())").path
        try "0\n".write(toFile: taint, atomically: true, encoding: .utf8)
        try "".write(toFile: log, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: taint); try? FileManager.default.removeItem(atPath: log) }
        let k = ScriptedKernel()
        k.taintFile = taint
        k.registerResult = { _ in
            KernelLogMarkers(path: log).write("WARNING: CPU: 0 PID: 7 at io_uring/bpf_filter.c:99 something")
            return 0
        }
        var o = RunOptions()
        o.isolate = false
        let runner = Runner(facts: .fake(), options: o, backend: { k })
        runner.readTaint = { KernelTaint.read(path: taint) }
        runner.markers = KernelLogMarkers(path: log)
        runner.readKernelLog = { try? String(contentsOfFile: log, encoding: .utf8) }
        let c = try CaseLoader.load(yaml: """
            - name: warns and taints
              steps:
                - register: { opcode: NOP, program: "ret #1" }
                - taint: W
            """, file: "t.yaml")
        var result: CaseResult?
        runner.runAll(c, jobs: 1, started: { _ in }, finished: { result = $1 })
        XCTAssertEqual(result?.status, .fail)
        XCTAssertEqual(result?.diagnostics.suffix(2), ["kernel log between ringfence: begin/end 1 (1 lines):",
                                                      "  WARNING: CPU: 0 PID: 7 at io_uring/bpf_filter.c:99 something"])
    }
}
