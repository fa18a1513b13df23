import XCTest
import Foundation
import CRingfence
@testable import RingfenceKit
@testable import RingfenceCore

/// The pieces that let ringfence-guest run without Yams and Foundation's
/// internationalisation: the compiled suite, the composer seam, the
/// libkmod-free module loader, the fd hygiene of shared workers.
final class GuestBinaryTests: XCTestCase {
    var casesDir: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("cases").path
    }

    /// Every case, loaded the guest's way (compiled suite, no composer) and
    /// the host's way (YAML with Yams), is the same case: same id, name,
    /// location, requirements, tier, timeout and steps.
    func testTheCompiledSuiteLoadsTheSameCasesAsTheYAML() throws {
        let yaml = try CaseLoader.load(directory: casesDir)
        let dir = try tempDir()
        let suite = try CaseLoader.compile(directory: casesDir)
        try Data(suite).write(to: URL(fileURLWithPath: dir + "/" + CompiledCases.fileName))
        let compiled = try CaseLoader.load(directory: dir, compose: nil)
        XCTAssertEqual(yaml.count, compiled.count)
        XCTAssertGreaterThan(yaml.count, 400)
        for (a, b) in zip(yaml, compiled) {
            XCTAssertEqual(a.id, b.id)
            XCTAssertEqual(a.location, b.location)
            XCTAssertEqual(GuestBinaryTests.canonical(a), GuestBinaryTests.canonical(b), a.id)
        }
        // The known-bug baseline travels in the same file.
        let bugsYAML = try KnownBugs.load(path: casesDir + "/" + KnownBugs.fileName)
        let bugsCompiled = try KnownBugs.load(path: dir + "/" + KnownBugs.fileName, compose: nil)
        XCTAssertFalse(bugsYAML.isEmpty)
        XCTAssertEqual(String(describing: bugsYAML), String(describing: bugsCompiled))
    }

    /// The case's description with every Set's elements sorted (Set order
    /// varies between processes and between two sets with equal contents).
    static func canonical(_ c: TestCase) -> String {
        var text = String(describing: c)
        var out = ""
        while let r = text.range(of: "Set([") {
            out += text[..<r.upperBound]
            text = String(text[r.upperBound...])
            let end = text.range(of: "])")!
            let items = text[..<end.lowerBound].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet.whitespaces) }.sorted()
            out += items.joined(separator: ", ")
            text = String(text[end.lowerBound...])
        }
        return out + text
    }

    func testCompiledNodesRoundTrip() throws {
        let tree = CaseNode.sequence([
            .mapping([(.scalar("name", line: 2), .scalar("ünïcode ✓", line: 2)),
                      (.scalar("program", line: 3), .scalar("ret #1\n", line: 3, isBlock: true)),
                      (.scalar("why", line: 4), .scalar("~", line: 4, isNull: true))], line: 2),
            CaseNode(kind: .alias, line: 9),
        ], line: 1)
        let bytes = CompiledCases.encode([("a.yaml", tree), ("empty.yaml", nil)])
        let back = try CompiledCases.decode(bytes)
        XCTAssertEqual(back.count, 2)
        XCTAssertEqual(back[0].name, "a.yaml")
        XCTAssertEqual(back[0].root, tree)
        XCTAssertNil(back[1].root)
    }

    /// A damaged or foreign file is an error naming the byte, never a trap.
    func testADamagedCompiledSuiteIsAnErrorNotACrash() throws {
        let good = CompiledCases.encode([("a.yaml", .sequence([.scalar("x", line: 1)], line: 1))])
        XCTAssertThrowsError(try CompiledCases.decode(Array("RFCASES0".utf8) + good.dropFirst(8)))
        for cut in 8..<good.count {
            XCTAssertThrowsError(try CompiledCases.decode(Array(good[0..<cut])), "cut at \(cut)")
        }
        var huge = Array("RFCASES1".utf8)
        huge += [0xff, 0xff, 0xff, 0xff, 0x7f]   // a file count far beyond the data
        XCTAssertThrowsError(try CompiledCases.decode(huge))
        let dir = try tempDir()
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/" + CompiledCases.fileName))
        XCTAssertThrowsError(try CaseLoader.load(directory: dir, compose: nil)) { e in
            let f = e as? CaseFileError
            XCTAssertNotNil(f)
            XCTAssertTrue(f?.message.contains("not a compiled case suite") == true, "\(e)")
        }
    }

    /// ringfence-guest has no YAML parser: a YAML directory is a clear
    /// error naming the binary, not a crash or an empty run.
    func testWithoutAComposerYAMLIsAClearError() throws {
        XCTAssertThrowsError(try CaseLoader.load(directory: casesDir, compose: nil)) { e in
            XCTAssertTrue("\(e)".contains("ringfence-guest"), "\(e)")
        }
        XCTAssertThrowsError(try KnownBugs.load(path: casesDir + "/" + KnownBugs.fileName, compose: nil)) { e in
            XCTAssertTrue("\(e)".contains("ringfence-guest"), "\(e)")
        }
    }

    /// A YAML error found while compiling names file and line, as lint does.
    func testCompilingABrokenCaseFileNamesFileAndLine() throws {
        let dir = try tempDir()
        try "- name: x\n  steps:\n    - nop: [\n".write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CaseLoader.compile(directory: dir)) { e in
            let f = e as? CaseFileError
            XCTAssertEqual(f?.file, "bad.yaml")
            XCTAssertGreaterThan(f?.line ?? 0, 0)
        }
    }

    /// The ASCII fast path of caseID gives what the Character loop gives.
    func testCaseIDFastPathMatchesTheCharacterLoop() throws {
        func slow(_ file: String, _ name: String) -> String {
            var stem = file
            for ext in [".yaml", ".yml"] where stem.hasSuffix(ext) { stem = String(stem.dropLast(ext.count)) }
            var slug = ""
            for ch in name.lowercased() {
                if ch.isLetter || ch.isNumber || ch == "_" || ch == "." { slug.append(ch) }
                else if !slug.hasSuffix("-") { slug.append("-") }
            }
            while slug.hasSuffix("-") { slug.removeLast() }
            return "\(stem):\(slug)"
        }
        var names = [" leading", "Trailing!!", "A--B__c.d", "SZ_STRICT and pdu_size 0x10", "", "---", "x\ty", "ünï"]
        names += try CaseLoader.load(directory: casesDir).map(\.name)
        for n in names { XCTAssertEqual(CaseLoader.caseID(file: "a/b.yaml", name: n), slow("a/b.yaml", n), n) }
    }

    func testModuleLoaderReadsModulesDep() {
        let dep = ModuleLoader.parseDep("""
        kernel/net/sctp/sctp.ko: kernel/lib/libcrc32c.ko kernel/net/udp-tunnel.ko
        kernel/lib/libcrc32c.ko:
        kernel/drivers/net/dummy.ko.xz:
        """)
        XCTAssertEqual(dep["sctp"]?.deps, ["kernel/lib/libcrc32c.ko", "kernel/net/udp-tunnel.ko"])
        XCTAssertEqual(dep["libcrc32c"]?.deps, [])
        XCTAssertEqual(dep["dummy"]?.path, "kernel/drivers/net/dummy.ko.xz")
        XCTAssertEqual(ModuleLoader.name(ofPath: "kernel/net/udp-tunnel.ko"), "udp_tunnel")
    }

    func testCFormatMatchesPrintf() {
        XCTAssertEqual(cFormat("%.3f", 1.23456), "1.235")
        XCTAssertEqual(cFormat("{ 0x%02x, %d, %d, 0x%08x },", 0x15, 1, 0, 0xdead), "{ 0x15, 1, 0, 0x0000dead },")
        XCTAssertEqual(cFormat(" %5d %7.0f%%", 42, 99.6), "    42     100%")
        XCTAssertEqual(cFormat("%d", 7).count, 1)
        XCTAssertEqual(cFormat("%0600d", 1).count, 600)   // longer than the first buffer
        XCTAssertEqual(iso8601(secondsSince1970: 0), "1970-01-01T00:00:00Z")
        XCTAssertEqual(iso8601(secondsSince1970: 1_796_338_915.7), "2026-12-03T23:01:55Z")
    }

    /// A new ring of `k` on which an OPENAT of /dev/null (user_data 7) has
    /// completed, and the descriptor it returned; skips where io_uring cannot.
    private func ringWithDevNullOpened(_ k: LiveKernel) throws -> (ring: Int32, fd: Int32) {
        let ring = k.setupRing(entries: 8, flags: 0)
        try XCTSkipIf(ring < 0, "io_uring_setup failed here (\(ring))")
        var open = SQESpec()
        open.opcode = .number(Opcode.openat)
        open.fd = AT_FDCWD
        open.addrPayload = Array("/dev/null".utf8) + [0]
        open.opFlags = UInt32(O_RDONLY)
        open.userData = 7
        let out = k.submit(ring: ring, sqes: [open], expecting: 1, timeoutMs: 2000)
        try XCTSkipIf(out.cqes.first?.res ?? -1 < 0, "OPENAT through io_uring failed here: \(out.cqes)")
        return (ring, out.cqes[0].res)
    }

    /// An OPENAT through io_uring returns a descriptor the case never sees;
    /// the backend closes it with the case's rings, so a shared worker stays
    /// at its fd baseline. Runs on any host kernel with io_uring.
    func testDescriptorsOpenedThroughIoUringCloseWithTheBackend() throws {
        let before = WorkerState.current().fds
        do {
            let k = LiveKernel()
            let opened = try ringWithDevNullOpened(k)
            XCTAssertNotNil(WorkerState.current().fds[opened.fd], "the opened fd exists while the case runs")
        }
        XCTAssertEqual(WorkerState.current().problems(comparedTo: WorkerState(fds: before)), [])
    }

    /// A ring fd number is reused by the next ring of the same case. A NOP on
    /// the new ring with the user_data an OPENAT had on the old one returns 0:
    /// that is not a descriptor the case created, and fd 0 must stay open.
    func testARingsFdCreatingSQEsDoNotOutliveTheRing() throws {
        let before = WorkerState.current().fds
        try XCTSkipIf(before[0] == nil, "no fd 0 in this test process")
        do {
            let k = LiveKernel()
            let first = try ringWithDevNullOpened(k).ring
            k.closeRing(first)
            let second = k.setupRing(entries: 8, flags: 0)
            XCTAssertEqual(second, first, "the kernel hands out the lowest free fd again")
            var nop = SQESpec()
            nop.userData = 7
            XCTAssertEqual(k.submit(ring: second, sqes: [nop], expecting: 1, timeoutMs: 2000).cqes.first?.res, 0)
        }
        XCTAssertEqual(WorkerState.current().problems(comparedTo: WorkerState(fds: before)), [])
    }

    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "guest-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }
}
