import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

final class KernelVersionTests: XCTestCase {
    func testParsingReleaseStrings() {
        XCTAssertEqual(KernelVersion("7.3.4+deb13-cloud-amd64")?.description, "7.3.4")
        XCTAssertEqual(KernelVersion("7.3.0-rc7+deb13-cloud-amd64")?.description, "7.3-rc7")
        XCTAssertEqual(KernelVersion("7.3~rc7-1~exp1")?.description, "7.3-rc7")
        XCTAssertEqual(KernelVersion("6.18.44-fc-v769")?.description, "6.18.44")
        XCTAssertNil(KernelVersion("linux"))
    }

    func testOrdering() {
        let v = ["7.3.4", "7.3-rc7", "7.0.13", "7.3", "7.2.13", "7.3-rc1", "7.10"].compactMap(KernelVersion.init)
        XCTAssertEqual(v.sorted().map(\.description), ["7.0.13", "7.2.13", "7.3-rc1", "7.3-rc7", "7.3", "7.3.4", "7.10"])
        XCTAssertEqual(KernelVersion("7.3.0"), KernelVersion("7.3"))
    }

    func testRunningKernelPrefersDebiansVersion() {
        XCTAssertEqual(KernelVersion.running(release: "7.3-cloud-amd64", version: "#1 SMP PREEMPT_DYNAMIC Debian 7.3~rc7-1~exp1 (2026-10-20)")?.description, "7.3-rc7")
        XCTAssertEqual(KernelVersion.running(release: "7.3.4+deb13-cloud-amd64", version: "#1 SMP Debian 7.3.4-1~bpo13+1 (2026-11-15)")?.description, "7.3.4")
        XCTAssertEqual(KernelVersion.running(release: "7.4.0-rc2-00123-gabc", version: "#5 SMP PREEMPT")?.description, "7.4-rc2")
    }

    func testRanges() {
        let r = VersionRange("7.0 .. 7.3.1")!
        XCTAssertTrue(r.contains(KernelVersion("7.0.13")!))
        XCTAssertTrue(r.contains(KernelVersion("7.3.1")!))
        XCTAssertFalse(r.contains(KernelVersion("7.3.4")!))
        XCTAssertTrue(VersionRange("7.3-rc1 ..")!.contains(KernelVersion("7.3.4")!))
        XCTAssertFalse(VersionRange(".. 7.2.12")!.contains(KernelVersion("7.2.13")!))
        XCTAssertTrue(VersionRange("7.2.6")!.contains(KernelVersion("7.2.6+deb13")!))
        XCTAssertNil(VersionRange("seven"))
        let before72 = VersionRange("7.0 ..< 7.2")!
        XCTAssertTrue(before72.contains(KernelVersion("7.1.13")!))
        XCTAssertTrue(before72.contains(KernelVersion("7.2-rc1")!), "7.2-rc1 sorts before 7.2")
        XCTAssertFalse(before72.contains(KernelVersion("7.2")!))
        XCTAssertFalse(before72.contains(KernelVersion("7.2.13")!))
        XCTAssertNil(VersionRange("7.0 ..<"))
    }
}

final class KnownBugsTests: XCTestCase {
    let yaml = """
        - case: area/file:some-case
          kernels: ["7.0 .. 7.3.1"]
          fix: "io_uring/net: mask socket type (7.3.2)"
          source: "Debian changelog linux 7.3.3-1"
        """

    private func result(_ status: CaseStatus) -> CaseResult {
        CaseResult(id: "area/file:some-case", name: "some case", file: "area/file.yaml", line: 1, status: status,
                   diagnostics: ["observed x"])
    }

    func testFailureOnAnAffectedKernelIsAKnownBug() throws {
        let bugs = try KnownBugs.parse(yaml: yaml, file: "known-bugs.yaml")
        let r = KnownBugs.apply(bugs, to: result(.fail), kernel: KernelVersion("7.0.13+deb13-cloud-amd64"))
        XCTAssertEqual(r.status, .xfail)
        XCTAssertEqual(r.reason, "io_uring/net: mask socket type (7.3.2)")
        XCTAssertEqual(Totals([r]).exitCode, 0)
    }

    func testFailureOnAFixedKernelStillFails() throws {
        let bugs = try KnownBugs.parse(yaml: yaml, file: "known-bugs.yaml")
        XCTAssertEqual(KnownBugs.apply(bugs, to: result(.fail), kernel: KernelVersion("7.3.4+deb13-cloud-amd64")).status, .fail)
    }

    func testStaleEntryIsReported() throws {
        let bugs = try KnownBugs.parse(yaml: yaml, file: "known-bugs.yaml")
        let r = KnownBugs.apply(bugs, to: result(.pass), kernel: KernelVersion("7.0.13+deb13-cloud-amd64"))
        XCTAssertEqual(r.status, .xpass)
        XCTAssertEqual(r.reason, "io_uring/net: mask socket type (7.3.2)")
        XCTAssertTrue(r.diagnostics.last?.contains("no longer needed") ?? false)
        XCTAssertEqual(Totals([r]).exitCode, 0)
        XCTAssertEqual(Totals([r]).exitCode(strict: true), 1)
        XCTAssertEqual(KTAPWriter().result(3, r).last,
                       "ok 3 area/file: some case # XPASS known bug entry no longer needed: io_uring/net: mask socket type (7.3.2)")
    }

    func testATaintedKernelIsNotExcusedByAKnownBug() throws {
        let bugs = try KnownBugs.parse(yaml: yaml, file: "known-bugs.yaml")
        var failed = result(.fail)
        failed.taint = "W"
        let r = KnownBugs.apply(bugs, to: failed, kernel: KernelVersion("7.0.13+deb13-cloud-amd64"))
        XCTAssertEqual(r.status, .fail)
        XCTAssertTrue(r.diagnostics.last?.contains("does not cover a tainted kernel") ?? false, "\(r.diagnostics)")
    }

    func testStrictFailsOnKnownBugs() throws {
        let bugs = try KnownBugs.parse(yaml: yaml, file: "known-bugs.yaml")
        let r = KnownBugs.apply(bugs, to: result(.fail), kernel: KernelVersion("7.0.13+deb13-cloud-amd64"))
        XCTAssertEqual(Totals([r]).exitCode(strict: false), 0)
        XCTAssertEqual(Totals([r]).exitCode(strict: true), 1)
    }

    func testEntriesMustCiteTheirSource() {
        XCTAssertThrowsError(try KnownBugs.parse(yaml: """
            - case: a:b
              kernels: ["7.0"]
              fix: "something"
            """, file: "k.yaml")) { e in
            XCTAssertTrue("\(e)".contains("needs 'source'"), "\(e)")
        }
    }

    func testShippedBaselineParses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let cases = try CaseLoader.load(directory: root.appendingPathComponent("cases").path)
        let bugs = try KnownBugs.load(path: root.appendingPathComponent("cases/known-bugs.yaml").path)
        let ids = Set(cases.map(\.id))
        for b in bugs { XCTAssertTrue(ids.contains(b.caseID), "known-bugs.yaml:\(b.location.line) names no case: \(b.caseID)") }
    }
}

final class JUnitWriterTests: XCTestCase {
    func testShape() {
        let cases = [
            CaseResult(id: "a:x", name: "x <1>", file: "a.yaml", line: 1, status: .pass),
            CaseResult(id: "a:y", name: "y", file: "a.yaml", line: 5, status: .fail, diagnostics: ["expected 0, observed -EACCES"]),
            CaseResult(id: "a:z", name: "z", file: "a.yaml", line: 9, status: .skip, reason: "no feature"),
        ]
        let report = RunReport(kernel: .fake(), accelerator: "tcg", startedAt: "2026-11-22T00:00:00Z", durationMs: 1500, cases: cases)
        let xml = JUnitWriter().document(report)
        XCTAssertTrue(xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""), xml)
        XCTAssertTrue(xml.contains("name=\"x &lt;1&gt;\""))
        XCTAssertTrue(xml.contains("<failure message=\"expected 0, observed -EACCES\">"))
        XCTAssertTrue(xml.contains("<skipped message=\"no feature\"/>"))
    }

    /// Known bugs are skipped testcases (Jenkins and GitLab: not a build failure); the counts match the totals.
    func testKnownBugsAreSkippedAndCountsAgree() {
        let cases = [
            CaseResult(id: "a:x", name: "x", file: "a.yaml", line: 1, status: .xfail, reason: "fixed in 7.3.2", diagnostics: ["observed 1"]),
            CaseResult(id: "a:y", name: "y", file: "a.yaml", line: 5, status: .xpass, reason: "fixed in 7.3.2"),
            CaseResult(id: "a:z", name: "z", file: "a.yaml", line: 9, status: .crash, reason: "killed by signal 9"),
            CaseResult(id: "a:w", name: "w", file: "a.yaml", line: 9, status: .skip, reason: "no"),
        ]
        let report = RunReport(kernel: .fake(), accelerator: nil, startedAt: "2026-11-22T00:00:00Z", durationMs: 1, cases: cases)
        let xml = JUnitWriter().document(report)
        XCTAssertTrue(xml.contains("tests=\"4\" failures=\"0\" errors=\"1\" skipped=\"2\""), xml)
        XCTAssertTrue(xml.contains("<skipped message=\"xfail: known bug: fixed in 7.3.2\">"), xml)
        XCTAssertTrue(xml.contains("<system-out>xpass: known bug entry no longer needed: fixed in 7.3.2"), xml)
        XCTAssertEqual(report.totals, Totals(cases))
        XCTAssertEqual(report.totals.summary, "0 passed, 0 failed, 1 skipped, 1 xfail (known bugs), 1 xpass, 1 errors")
    }
}
