import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

/// Runs the built `ringfence run` on this machine. On a kernel without the
/// feature (the 6.18 CI host) it must print a valid KTAP document of SKIPs
/// and exit 4; on a 7.x host this test is skipped (run-in-vm.sh covers it).
final class HostRunTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func ringfence(_ args: [String]) throws -> (Int32, String, String) {
        let binary = Self.root.appendingPathComponent(".build/debug/ringfence")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("run `swift build` first: \(binary.path) is missing")
        }
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.currentDirectoryURL = Self.root
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testRunWithoutTheFeatureIsACleanSkipDocument() throws {
        if KernelProbe.probe().bpfFilter { throw XCTSkip("this kernel has the feature") }
        let resultsPath = FileManager.default.temporaryDirectory.appendingPathComponent("rf-host-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: resultsPath) }
        let (status, out, err) = try ringfence(["run", "--cases", "cases", "--jobs", "2", "--results", resultsPath])
        XCTAssertEqual(status, 4, err)
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLast()
        XCTAssertEqual(lines.first, "KTAP version 1")
        XCTAssertFalse(out.contains("# running:"))
        guard let plan = lines.first(where: { $0.hasPrefix("1..") }), let suites = Int(plan.dropFirst(3)) else {
            return XCTFail("no plan line")
        }
        // Top level: one result per area, each all skipped.
        let top = lines.filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") }
        XCTAssertEqual(top.count, suites)
        for (i, line) in top.enumerated() {
            XCTAssertTrue(line.hasPrefix("ok \(i + 1) "), line)
            XCTAssertTrue(line.contains(" # SKIP all "), line)
        }
        let inner = lines.filter { $0.hasPrefix("    ok ") || $0.hasPrefix("    not ok ") }
        for line in inner { XCTAssertTrue(line.hasSuffix("# SKIP kernel lacks IORING_REGISTER_BPF_FILTER"), line) }
        XCTAssertEqual(lines.filter { $0.hasPrefix("    # Subtest: ") }.count, suites)
        XCTAssertTrue(err.contains("0 passed, 0 failed, \(inner.count) skipped"), err)
        // The streamed document is exactly what the results file renders to.
        let report = try RunReport.read(path: resultsPath)
        XCTAssertEqual(report.cases.count, inner.count)
        XCTAssertEqual(KTAPWriter.document(report), Array(lines))
    }

    func testUsageAndCaseFileErrorsExit2() throws {
        XCTAssertEqual(try ringfence(["run", "--format", "xml"]).0, 2)
        XCTAssertEqual(try ringfence(["nonsense"]).0, 2)
        XCTAssertEqual(try ringfence(["run", "--cases", "/nonexistent"]).0, 2)
        XCTAssertEqual(try ringfence(["run", "--filter", "no-case-is-called-this"]).0, 2)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rf-bad-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "- name: x\n  steps:\n    - register: { opcode: NOP, program: \"jmp nowhere\" }\n".write(
            to: dir.appendingPathComponent("bad.yaml"), atomically: true, encoding: .utf8)
        let (status, _, err) = try ringfence(["lint", dir.path])
        XCTAssertEqual(status, 2)
        XCTAssertTrue(err.contains("bad.yaml:3: [0].steps[0].register.program:"), err)
        XCTAssertFalse(err.contains("Fatal error"), err)
        // A case that loads but has no why: fails lint too (CaseLint), and passes once it has one.
        try "- name: y\n  steps:\n    - register: { opcode: NOP, program: \"ret #1\" }\n".write(
            to: dir.appendingPathComponent("bad.yaml"), atomically: true, encoding: .utf8)
        let (noWhy, _, whyErr) = try ringfence(["lint", dir.path])
        XCTAssertEqual(noWhy, 2)
        XCTAssertTrue(whyErr.contains("bad.yaml:1: why: case 'y' has no why:"), whyErr)
        try "- name: y\n  why: __io_uring_run_bpf_filters() allows on 1\n  steps:\n    - register: { opcode: NOP, program: \"ret #1\" }\n".write(
            to: dir.appendingPathComponent("bad.yaml"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try ringfence(["lint", dir.path]).0, 0)
    }

    func testHelpExitsZero() throws {
        let (status, out, _) = try ringfence(["--help"])
        XCTAssertEqual(status, 0)
        XCTAssertTrue(out.contains("USAGE"))
    }
}
