import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

final class GcovCollectorTests: XCTestCase {
    let sample: [(path: String, contents: Data)] = [
        ("root/build/io_uring/bpf_filter.gcda", Data([0x61, 0x64, 0x63, 0x67, 1, 2, 3])),
        ("root/build/io_uring/register.gcda", Data()),
        ("top.gcda", Data(repeating: 0xaa, count: 4097)),
    ]

    func pack(_ files: [(path: String, contents: Data)]) -> Data {
        var a = CpioArchive()
        for f in files { a.addFile(f.path, f.contents) }
        return a.bytes()
    }

    func testRoundTrip() throws {
        let back = try CpioArchive.files(pack(sample))
        XCTAssertEqual(back.map(\.path), sample.map(\.path))
        XCTAssertEqual(back.map(\.contents), sample.map(\.contents))
        XCTAssertTrue(try CpioArchive.files(pack([])).isEmpty)
    }

    func testDamagedArchivesAreErrors() {
        let a = pack(sample)
        XCTAssertThrowsError(try CpioArchive.parse(a.prefix(200)))
        XCTAssertThrowsError(try CpioArchive.parse(Data("070702".utf8) + a.dropFirst(6)))
        XCTAssertThrowsError(try CpioArchive.parse(Data()))
    }

    /// GNU cpio reads what we write (the host side may use `cpio -idm`).
    func testSystemCpioListsIt() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/cpio") else { throw XCTSkip("no /usr/bin/cpio") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rf-cpio-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = dir.appendingPathComponent("a.cpio")
        try pack(sample).write(to: archive)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/cpio")
        p.arguments = ["-id", "--quiet", "-F", archive.path]
        p.currentDirectoryURL = dir
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        for e in sample {
            XCTAssertEqual(FileManager.default.contents(atPath: dir.appendingPathComponent(e.path).path), e.contents, e.path)
        }
    }

    func testCollectWalksTreeForGcdaOnly() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("rf-gcov-\(getpid())")
        let out = fm.temporaryDirectory.appendingPathComponent("rf-gcov-out-\(getpid())")
        defer { try? fm.removeItem(at: root); try? fm.removeItem(at: out) }
        try fm.createDirectory(at: root.appendingPathComponent("b/io_uring"), withIntermediateDirectories: true)
        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        try Data([1, 2]).write(to: root.appendingPathComponent("b/io_uring/net.gcda"))
        try Data([3]).write(to: root.appendingPathComponent("b/io_uring/bpf_filter.gcda"))
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("b/io_uring/net.gcno").path, withDestinationPath: "/nonexistent/net.gcno")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("b/link.gcda").path, withDestinationPath: root.appendingPathComponent("b/io_uring/net.gcda").path)
        XCTAssertEqual(GcovCollector.gcdaPaths(under: root.path), ["b/io_uring/bpf_filter.gcda", "b/io_uring/net.gcda"])
        let said = GcovCollector.collect(root: root.path, into: out.path)
        XCTAssertEqual(said, "# gcov: 2 .gcda files, 3 bytes, in gcov.cpio")
        let archive = try Data(contentsOf: out.appendingPathComponent(GcovCollector.archiveName))
        XCTAssertEqual(try CpioArchive.files(archive).map(\.path), ["b/io_uring/bpf_filter.gcda", "b/io_uring/net.gcda"])
        XCTAssertTrue(GcovCollector.collect(root: "/nonexistent-rf", into: out.path).contains("no .gcda files"))
    }

    func testGcovFlag() {
        XCTAssertTrue(GuestCommandLine.gcov(cmdline: "console=ttyS0 ringfence.gcov=1\n"))
        XCTAssertFalse(GuestCommandLine.gcov(cmdline: "console=ttyS0\n"))
        XCTAssertFalse(GuestCommandLine.gcov(cmdline: "ringfence.gcov=0"))
        XCTAssertFalse(GuestCommandLine.gcov(cmdline: "ringfence.gcov=1 ringfence.gcov=0"))
        XCTAssertFalse(GuestCommandLine.gcov(cmdline: "ringfence.gcovx=1"))
    }
}
