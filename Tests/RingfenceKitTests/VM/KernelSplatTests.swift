import XCTest
@testable import RingfenceKit

/// Finding splats (KernelSplat) apart from blaming a case, on recorded consoles.
final class KernelSplatTests: XCTestCase {
    func testARealWarnIsOneSplatFromItsTitleToItsEndMarker() throws {
        let log = try RecordedConsole.load("warn-lkdtm").log
        let splats = KernelSplat.find(in: log)
        XCTAssertEqual(splats.count, 1, "\(splats.map(\.title))")
        let s = try XCTUnwrap(splats.first)
        XCTAssertTrue(s.title.hasPrefix("WARNING: drivers/misc/lkdtm/bugs.c:"), s.title)
        let lines = ConsoleVerdict.physicalLines(log)
        XCTAssertTrue(ConsoleVerdict.stripTimestamp(lines[s.endLine]).text.contains(KernelSplat.endMarker), String(lines[s.endLine]))
        XCTAssertGreaterThan(s.endLine, s.startLine)
    }

    func testWithoutTimeStampsAndBeforeInit() throws {
        XCTAssertEqual(KernelSplat.find(in: try RecordedConsole.load("warn-lkdtm-notime").log).count, 1)
        XCTAssertEqual(KernelSplat.find(in: try RecordedConsole.load("boot-oops-int3").log).first?.title.hasPrefix("Oops: int3"), true)
    }

    func testACleanRunHasNoSplat() throws {
        XCTAssertEqual(KernelSplat.find(in: try RecordedConsole.load("clean-command-header").log), [])
        // A KTAP result or a guest diagnostic that names a marker is not the kernel's.
        XCTAssertEqual(KernelSplat.find(in: "ok 1 BUG: not a splat\n# WARNING: the guest's words\n"), [])
    }
}
