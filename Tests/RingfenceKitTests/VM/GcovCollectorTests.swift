import XCTest
import Foundation
@testable import RingfenceKit

final class GcovCollectorTests: XCTestCase {
    let sample = [
        CpioNewc.Entry(path: "root/build/io_uring/bpf_filter.gcda", contents: Data([0x61, 0x64, 0x63, 0x67, 1, 2, 3])),
        CpioNewc.Entry(path: "root/build/io_uring/register.gcda", contents: Data()),
        CpioNewc.Entry(path: "top.gcda", contents: Data(repeating: 0xaa, count: 4097)),
    ]

    func testRoundTrip() throws {
        XCTAssertEqual(try CpioNewc.unpack(CpioNewc.pack(sample)), sample)
        XCTAssertEqual(try CpioNewc.unpack(CpioNewc.pack([])), [])
    }

    func testLayout() {
        let a = CpioNewc.pack([CpioNewc.Entry(path: "x", contents: Data([7]))])
        XCTAssertEqual(a.count % 4, 0)
        XCTAssertEqual(String(decoding: a.prefix(6), as: UTF8.self), "070701")
        // mode 0100644, filesize 1, namesize 2 ("x\0")
        let header = String(decoding: a.prefix(110), as: UTF8.self)
        XCTAssertEqual(Array(header)[14..<22].map(String.init).joined(), "000081A4")
        XCTAssertEqual(Array(header)[54..<62].map(String.init).joined(), "00000001")
        XCTAssertEqual(Array(header)[94..<102].map(String.init).joined(), "00000002")
        XCTAssertTrue(String(decoding: a, as: UTF8.self).contains("TRAILER!!!"))
    }

    func testDamagedArchivesAreErrors() {
        let a = CpioNewc.pack(sample)
        XCTAssertThrowsError(try CpioNewc.unpack(a.prefix(200)))
        XCTAssertThrowsError(try CpioNewc.unpack(Data("070702".utf8) + a.dropFirst(6)))
        XCTAssertThrowsError(try CpioNewc.unpack(Data()))
    }

    /// GNU cpio reads what we write (the host side may use `cpio -idm`).
    func testSystemCpioListsIt() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/cpio") else { throw XCTSkip("no /usr/bin/cpio") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rf-cpio-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let archive = dir.appendingPathComponent("a.cpio")
        try CpioNewc.pack(sample).write(to: archive)
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
        XCTAssertEqual(try CpioNewc.unpack(archive).map(\.path), ["b/io_uring/bpf_filter.gcda", "b/io_uring/net.gcda"])
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
