import Foundation
import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

/// Consoles recorded by `ringfence vm --arch` (the C kselftest on arm64 and
/// s390x), judged by the one judge with the host facts such a run stamps:
/// the verdict, and the architecture in every results file.
final class ArchConsoleTests: XCTestCase {
    func judge(_ name: String) throws -> (VMJudgement, [String: String]) {
        let fixture = try RecordedConsole.load(name)
        let arch = try XCTUnwrap(fixture.header["arch"], "\(name).log: '#! arch:' header")
        var host = HostFacts(accelerator: "tcg", kernelRelease: "7.3.4")
        host.arch = arch
        host.executor = "kselftest"
        var context = VMVerdict.Context()
        context.arch = arch
        return (VMVerdict.judge(log: fixture.log, plan: nil, host: host, context: context), fixture.header)
    }

    func testArm64ConsoleRecordsItsArchitectureEverywhere() throws {
        let (o, header) = try judge("kselftest-arm64")
        XCTAssertEqual("\(o.exitCode)", header["expect-exit"])
        XCTAssertEqual(o.report.cases.map(\.status.rawValue).joined(separator: " "), header["expect-statuses"])
        XCTAssertEqual(o.report.cases.count, 447)
        // The four failures are the O_LARGEFILE literal (0x8000 on x86, 0x20000 on arm64).
        XCTAssertEqual(o.report.cases.filter { $0.status == .fail }.map(\.id), [
            "context/open:openat-o_rdonly-shows-as-o_largefile", "context/open:openat-flags-are-seen-with-o_largefile-added",
            "context/open:openat-drops-open-flag-bits-the-kernel-does-not-know", "context/open:openat2-flags-are-seen-with-o_largefile-added"])
        XCTAssertEqual(o.report.kernel.opcodeLast, 65, "from the C program's probe line")
        XCTAssertTrue(o.report.kernel.bpfFilter)
        try assertArchRecorded(o, "arm64")
    }

    /// Big-endian s390x: every failure is a case the export lists in
    /// BYTE-ORDER (its filter reads a word whose value differs on big-endian).
    func testS390xFailuresAreAllByteOrderCases() throws {
        let (o, header) = try judge("kselftest-s390x")
        XCTAssertEqual("\(o.exitCode)", header["expect-exit"])
        XCTAssertEqual(o.report.cases.map(\.status.rawValue).joined(separator: " "), header["expect-statuses"])
        let failed = o.report.cases.filter { $0.status == .fail }.map(\.id)
        XCTAssertEqual(failed.count, 85)
        // The export's BYTE-ORDER list of that run (kselftest-s390x.BYTE-ORDER), not today's: the recording is of that export.
        let list = try String(contentsOf: RecordedConsole.directory.appendingPathComponent("kselftest-s390x.BYTE-ORDER"), encoding: .utf8)
        let byteOrder = Set(list.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: "\t").first.map(String.init) })
        XCTAssertGreaterThan(byteOrder.count, 85)
        XCTAssertEqual(failed.filter { !byteOrder.contains($0) }, [], "failures BYTE-ORDER does not explain")
        XCTAssertTrue(o.report.cases.allSatisfy { !($0.reason ?? "").hasPrefix("kernel:") }, "no kernel WARN or Oops attributed")
        try assertArchRecorded(o, "s390x")
    }

    func assertArchRecorded(_ o: VMJudgement, _ arch: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let json = try JSONDecoder().decode(RunReport.self, from: Data(try o.report.json().utf8))
        XCTAssertEqual(json.host?.arch, arch, "results.json", file: file, line: line)
        XCTAssertEqual(json.host?.executor, "kselftest", file: file, line: line)
        XCTAssertTrue(JUnitWriter().document(o.report).contains("<property name=\"arch\" value=\"\(arch)\"/>"), "JUnit", file: file, line: line)
        let kcidb = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try KCIDBWriter().json(o.report).utf8)) as? [String: Any])
        let build = try XCTUnwrap((kcidb["builds"] as? [[String: Any]])?.first)
        XCTAssertEqual(build["architecture"] as? String, arch, "KCIDB build", file: file, line: line)
        XCTAssertTrue(o.summary.split(separator: "\n").first?.hasSuffix(" arch=\(arch)") ?? false, "summary.txt: \(o.summary)", file: file, line: line)
        XCTAssertTrue(o.ktap.contains("# host: arch \(arch) (kselftest), accelerator tcg"), "KTAP", file: file, line: line)
    }

    /// A known bug scoped to another architecture does not excuse a failure here.
    func testArchScopedKnownBugsFollowTheGuestsArchitecture() throws {
        let fixture = try RecordedConsole.load("kselftest-arm64")
        let yaml = """
            - case: context/open:openat2-flags-are-seen-with-o_largefile-added
              kernels: ["7.3.4"]
              fix: "none: the case's O_LARGEFILE literal"
              source: "docs/architectures.md"
              arches: [s390x]
            """
        for (arch, want) in [("arm64", CaseStatus.fail), ("s390x", .xfail)] {
            var host = HostFacts(accelerator: "tcg", kernelRelease: "7.3.4+deb13-cloud-arm64")
            host.arch = arch
            var context = VMVerdict.Context()
            context.knownBugs = try KnownBugs.parse(yaml: yaml, file: "known-bugs.yaml")
            context.kernelVersion = KernelVersion("7.3.4+deb13-cloud-arm64")
            let o = VMVerdict.judge(log: fixture.log, plan: nil, host: host, context: context)
            XCTAssertEqual(o.report.cases.first { $0.id.hasPrefix("context/open:openat2-flags") }?.status, want, arch)
        }
    }
}
