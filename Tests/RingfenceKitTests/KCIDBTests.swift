import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

/// Structure of the KCIDB output (the schema itself is checked by
/// ci/kcidb-validate.py with kcidb-io's validator).
final class KCIDBTests: XCTestCase {
    private func fixture(_ name: String) throws -> RunReport {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return try RunReport.read(path: dir.appendingPathComponent("Fixtures/results/\(name).json").path)
    }

    private func matches(_ s: String, _ pattern: String) -> Bool {
        s.range(of: pattern, options: .regularExpression) != nil
    }

    func testRecordedRunWithKnownBugs() throws {
        let report = try fixture("with-known-bugs-7.3-rc7")
        let json = try KCIDBWriter(origin: "lab_1").json(report)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let version = try XCTUnwrap(doc["version"] as? [String: Int])
        XCTAssertEqual(version, ["major": 5, "minor": 3])
        let checkouts = try XCTUnwrap(doc["checkouts"] as? [[String: Any]])
        let builds = try XCTUnwrap(doc["builds"] as? [[String: Any]])
        let tests = try XCTUnwrap(doc["tests"] as? [[String: Any]])
        let issues = try XCTUnwrap(doc["issues"] as? [[String: Any]])
        let incidents = try XCTUnwrap(doc["incidents"] as? [[String: Any]])
        XCTAssertEqual(checkouts.count, 1)
        XCTAssertEqual(builds.count, 1)
        XCTAssertEqual(tests.count, report.cases.count)
        XCTAssertEqual(builds[0]["checkout_id"] as? String, checkouts[0]["id"] as? String)
        XCTAssertTrue((builds[0]["id"] as? String)?.hasSuffix("-config-305c26d2a05d75e6") ?? false)
        XCTAssertTrue((checkouts[0]["comment"] as? String)?.contains("Debian 7.3~rc7-1~exp1") ?? false)
        let ids = Set(tests.compactMap { $0["id"] as? String })
        XCTAssertEqual(ids.count, tests.count, "test ids are unique")
        for t in tests {
            for key in ["id", "build_id", "origin", "path", "status"] { XCTAssertNotNil(t[key], key) }
            XCTAssertTrue(matches(t["id"] as! String, "^lab_1:"))
            XCTAssertTrue(matches(t["path"] as! String, "^([a-zA-Z0-9_-]+(\\.[a-zA-Z0-9_-]+)*)?$"), t["path"] as! String)
            XCTAssertTrue(["PASS", "FAIL", "ERROR", "SKIP"].contains(t["status"] as! String))
            XCTAssertNil(t["waived"], "v5 has no waived")
        }
        let statuses = tests.map { $0["status"] as! String }
        XCTAssertEqual(statuses.filter { $0 == "FAIL" }.count, 9)
        XCTAssertEqual(statuses.filter { $0 == "SKIP" }.count, 1)
        XCTAssertEqual(incidents.count, 9, "one incident per known bug")
        XCTAssertEqual(Set(incidents.compactMap { $0["test_id"] as? String }).isSubset(of: ids), true)
        let issueIDs = Set(issues.compactMap { $0["id"] as? String })
        XCTAssertTrue(incidents.allSatisfy { issueIDs.contains($0["issue_id"] as! String) })
        XCTAssertLessThan(issues.count, incidents.count, "one issue per fix, shared by the cases it explains")
    }

    func testSchema4WaivesKnownBugs() throws {
        let report = try fixture("with-known-bugs-7.0.13")
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try KCIDBWriter(schema: .v4).json(report).utf8)) as? [String: Any])
        XCTAssertEqual(doc["version"] as? [String: Int], ["major": 4, "minor": 5])
        let tests = try XCTUnwrap(doc["tests"] as? [[String: Any]])
        XCTAssertEqual(tests.filter { ($0["waived"] as? Bool) == true }.count, 12)
        XCTAssertTrue(tests.filter { ($0["waived"] as? Bool) == true }.allSatisfy { $0["status"] as? String == "FAIL" })
        XCTAssertNil(doc["incidents"])
        XCTAssertEqual((doc["builds"] as? [[String: Any]])?.first?["valid"] as? Bool, true)
    }

    func testStatusesAndPaths() {
        XCTAssertEqual(CaseStatus.allCases.map(KCIDBWriter.status), ["PASS", "FAIL", "SKIP", "FAIL", "ERROR", "FAIL", "PASS"])
        XCTAssertEqual(KCIDBWriter.testPath(caseID: "context/socket:socket.type-has-sock_cloexec-masked-off"),
                       "ringfence.context.socket.socket_type-has-sock_cloexec-masked-off")
        XCTAssertEqual(KCIDBWriter.testPath(caseID: "01-smoke:deny"), "ringfence.01-smoke.deny")
        XCTAssertTrue(KCIDBWriter.isValidOrigin("ringfence"))
        XCTAssertFalse(KCIDBWriter.isValidOrigin("Ring-fence"))
    }
}

/// compare and matrix with the xfail / xpass statuses.
final class RegressionStatusTests: XCTestCase {
    private func report(_ statuses: [CaseStatus], release: String) -> RunReport {
        var k = KernelFacts.fake()
        k.release = release
        let cases = statuses.enumerated().map { i, s in
            CaseResult(id: "a/b:c\(i)", name: "c\(i)", file: "a/b.yaml", line: i, status: s, reason: s == .pass ? nil : "why")
        }
        return RunReport(kernel: k, accelerator: nil, startedAt: "t", durationMs: 1, cases: cases)
    }

    func testCompareTreatsXpassAsPassingAndXfailAsCovered() {
        let old = report([.xfail, .pass, .fail, .xpass], release: "7.2.13")
        let new = report([.xpass, .xfail, .xfail, .pass], release: "7.2.14")
        let c = ResultsComparison(old: old, new: new)
        XCTAssertFalse(c.hasNewFailures)
        XCTAssertEqual(c.newlyPassing.map(\.id), ["a/b:c0"])
        XCTAssertEqual(c.newlyKnownBugs.map(\.id), ["a/b:c1", "a/b:c2"])
        XCTAssertTrue(c.table().contains("a/b:c0  xfail -> xpass"), c.table())
    }

    func testMatrixCountsXfailAndShowsXpassOnlyWhenThere() {
        let m = KernelMatrix(reports: [report([.xfail, .pass], release: "7.0"), report([.xpass, .pass], release: "7.1")])
        XCTAssertEqual(m.columns.map(\.xfail), [1, 0])
        XCTAssertEqual(m.columns.map(\.xpass), [0, 1])
        let md = m.markdown()
        XCTAssertTrue(md.contains("| **known bugs (xfail)** | 1 | 0 |"), md)
        XCTAssertTrue(md.contains("| **stale known-bug entries (xpass)** | 0 | 1 |"), md)
        XCTAssertTrue(md.contains("| `a/b:c0` | 🐞 | ✅🐞 |"), md)
        XCTAssertFalse(KernelMatrix(reports: [report([.xfail], release: "7.0")]).markdown().contains("xpass)**"))
    }
}

/// kcidb-io's own validator on a real run's KCIDB, when the package is installed
/// (.ci/run: pip install kcidb-io==141). $RINGFENCE_KCIDB_PYTHON names the
/// Python that has it (default python3).
final class KCIDBSchemaTests: XCTestCase {
    func testRecordedRunsValidateWithKcidbIO() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = root.appendingPathComponent(".build/debug/ringfence").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("run `swift build` first") }
        let python = ProcessInfo.processInfo.environment["RINGFENCE_KCIDB_PYTHON"] ?? "python3"
        func run(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [python] + args
            p.currentDirectoryURL = root
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        guard (try? run(["-c", "import kcidb_io"]))?.0 == 0 else {
            throw XCTSkip("kcidb-io is not installed for \(python) (pip install kcidb-io==141)")
        }
        let fixtures = ["with-known-bugs-7.3-rc7", "with-known-bugs-7.0.13", "debian-7.2.13"].map { "Tests/Fixtures/results/\($0).json" }
        let (status, out) = try run(["ci/kcidb-validate.py", "--ringfence", binary] + fixtures)
        XCTAssertEqual(status, 0, out)
        XCTAssertTrue(out.contains("6 of 6 valid"), out)
    }
}
