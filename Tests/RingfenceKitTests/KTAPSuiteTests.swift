import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

/// Nested KTAP: one suite per area, plan order, diagnostics before results,
/// and the streamed lines equal to KTAPWriter.document of the finished report.
final class KTAPSuiteTests: XCTestCase {
    private func r(_ id: String, _ status: CaseStatus, reason: String? = nil, diags: [String] = []) -> CaseResult {
        let path = String(id.split(separator: ":")[0])
        let name = String(id.split(separator: ":")[1])
        return CaseResult(id: id, name: name, file: path + ".yaml", line: 4, status: status, reason: reason, diagnostics: diags)
    }

    private var sample: [CaseResult] {
        [r("checker/jumps:a", .pass),
         r("checker/jumps:b", .skip, reason: "needs root"),
         r("context/socket:c", .xfail, reason: "io_uring/net: mask socket type (7.3.2)", diags: ["step 2: expected 1, observed 0"]),
         r("context/open:d", .fail, diags: ["step 1: expected success, observed -EINVAL"]),
         r("registration/sizes:e", .skip, reason: "kernel lacks IORING_REGISTER_BPF_FILTER")]
    }

    private func report(_ cases: [CaseResult], taint: UInt64? = nil) -> RunReport {
        var rep = RunReport(kernel: .fake(), accelerator: nil, startedAt: "2026-12-03T00:00:00Z", durationMs: 1234, cases: cases)
        rep.taintAtStart = taint
        return rep
    }

    func testDocumentHasOneIndentedSuitePerArea() {
        let doc = KTAPWriter.document(report(sample))
        XCTAssertEqual(doc, [
            "KTAP version 1",
            "# ringfence \(RingfenceVersion.string) on Linux 7.3.4-test #1",
            "# IORING_REGISTER_BPF_FILTER: yes, IORING_OP_LAST: \(Opcode.lastKnown)",
            "1..3",
            "    KTAP version 1",
            "    # Subtest: checker",
            "    1..2",
            "    ok 1 jumps: a",
            "    ok 2 jumps: b # SKIP needs root",
            "    # checker: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0",
            "ok 1 checker",
            "    KTAP version 1",
            "    # Subtest: context",
            "    1..2",
            "    # context/socket.yaml:4",
            "    # step 2: expected 1, observed 0",
            "    ok 1 socket: c # XFAIL known bug: io_uring/net: mask socket type (7.3.2)",
            "    # context/open.yaml:4",
            "    # step 1: expected success, observed -EINVAL",
            "    not ok 2 open: d",
            "    # context: pass:0 fail:1 xfail:1 xpass:0 skip:0 error:0",
            "not ok 2 context",
            "    KTAP version 1",
            "    # Subtest: registration",
            "    1..1",
            "    ok 1 sizes: e # SKIP kernel lacks IORING_REGISTER_BPF_FILTER",
            "    # registration: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0",
            "ok 3 registration # SKIP all 1 cases skipped",
            "# Totals: pass:1 fail:1 xfail:1 xpass:0 skip:2 error:0",
            "# run time: 1.23 s",
        ])
    }

    func testTaintAtStartIsReportedOnceInTheHeader() {
        let doc = KTAPWriter.document(report(sample, taint: 512 | 4096))
        XCTAssertEqual(doc.filter { $0.contains("tainted") },
                       ["# kernel tainted before the run: WO (tainted=4608): W (kernel issued warning), O (externally-built (out-of-tree) module was loaded)"])
        XCTAssertEqual(doc[4], "1..3")
    }

    /// Results that arrive out of order (parallel cases) still print in plan order, identical to the document.
    func testStreamInAnyArrivalOrderEqualsTheDocument() {
        let cases = sample
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let stream = KTAPStream(ids: cases.map(\.id), facts: .fake())
            var lines = stream.header()
            for i in cases.indices.shuffled(using: &rng) { lines += stream.add(i, cases[i]) }
            lines += stream.finish(durationMs: 1234)
            XCTAssertEqual(lines, KTAPWriter.document(report(cases)))
        }
    }

    /// Areas that are not contiguous in the plan still make one suite each.
    func testInterleavedAreasMakeOneSuiteEach() {
        let cases = [r("a/x:1", .pass), r("b/y:2", .pass), r("a/x:3", .pass)]
        XCTAssertEqual(KTAPWriter.suites(ids: cases.map(\.id)), [.init(name: "a", indices: [0, 2]), .init(name: "b", indices: [1])])
        let stream = KTAPStream(ids: cases.map(\.id), facts: .fake())
        XCTAssertTrue(stream.add(1, cases[1]).isEmpty, "b waits for suite a")
        XCTAssertEqual(stream.add(0, cases[0]), ["    ok 1 x: 1"])
        let rest = stream.add(2, cases[2])
        XCTAssertEqual(rest.first, "    ok 2 x: 3")
        XCTAssertTrue(rest.contains("ok 1 a") && rest.contains("ok 2 b") && rest.contains("    ok 1 y: 2"), "\(rest)")
    }

    func testCasesOutsideADirectoryFormASuiteNamedAfterTheirFile() {
        let c = CaseResult(id: "01-smoke:deny", name: "deny", file: "01-smoke.yaml", line: 1, status: .pass)
        XCTAssertEqual(c.area, "01-smoke")
        XCTAssertEqual(KTAPWriter.nameInSuite(c), "01-smoke: deny")
    }

    /// Every recorded run renders to a document whose suites, plans and totals
    /// match the results file (what kunit.py parse is checked against in CI).
    func testRecordedResultsRenderConsistently() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/results")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        XCTAssertFalse(files.isEmpty)
        for f in files {
            let rep = try RunReport.read(path: dir.appendingPathComponent(f).path)
            let doc = KTAPWriter.document(rep)
            let suites = KTAPWriter.suites(ids: rep.cases.map(\.id))
            XCTAssertEqual(doc[3], "1..\(suites.count)", f)
            XCTAssertEqual(doc.filter { $0.hasPrefix("    # Subtest: ") }.count, suites.count, f)
            XCTAssertEqual(doc.filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") }.count, suites.count, f)
            XCTAssertEqual(doc.filter { $0.hasPrefix("    ok ") || $0.hasPrefix("    not ok ") }.count, rep.cases.count, f)
            XCTAssertFalse(doc.contains { $0.contains("# TODO") }, f)
            // The results file's totals (old files: knownBugs) agree with the Totals line.
            XCTAssertEqual(doc[doc.count - 2], "# Totals: " + rep.totals.counts, f)
            XCTAssertEqual(rep.totals, Totals(rep.cases), f)
        }
        let old = try RunReport.read(path: dir.appendingPathComponent("with-known-bugs-7.3-rc7.json").path)
        XCTAssertEqual(old.cases.filter { $0.status == .xfail }.count, 9)
        XCTAssertEqual(old.totals.xfail, 9)
    }

    func testStatusesRoundTripAndTheOldKnownBugNameStillDecodes() throws {
        let old = #"{"id":"a:b","name":"b","file":"a.yaml","line":1,"status":"known-bug","diagnostics":[],"durationMs":0}"#
        XCTAssertEqual(try JSONDecoder().decode(CaseResult.self, from: Data(old.utf8)).status, .xfail)
        for s in CaseStatus.allCases {
            let data = try JSONEncoder().encode(s)
            XCTAssertEqual(try JSONDecoder().decode(CaseStatus.self, from: data), s)
        }
        XCTAssertEqual(String(decoding: try JSONEncoder().encode(CaseStatus.xfail), as: UTF8.self), #""xfail""#)
        XCTAssertThrowsError(try JSONDecoder().decode(CaseStatus.self, from: Data(#""maybe""#.utf8)))
    }
}
