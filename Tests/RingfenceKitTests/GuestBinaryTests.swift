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

    /// Every case, loaded the guest's way (the compiled plan, no composer,
    /// no parser) and the host's way (YAML with Yams), is the same case:
    /// equal in every field the plan carries (all but `why:`).
    func testTheCompiledSuiteLoadsTheSameCasesAsTheYAML() throws {
        let yaml = try CaseLoader.load(directory: casesDir)
        let dir = try tempDir()
        let suite = try CaseLoader.compile(directory: casesDir)
        try Data(suite).write(to: URL(fileURLWithPath: dir + "/" + CompiledCases.fileName))
        let compiled = try CaseLoader.load(directory: dir, compose: nil)
        XCTAssertEqual(yaml.count, compiled.count)
        XCTAssertGreaterThan(yaml.count, 400)
        for (a, b) in zip(yaml, compiled) {
            var host = a
            host.why = nil
            XCTAssertTrue(host == b, "\(a.id): the compiled plan differs from the YAML's")
        }
        // The known-bug baseline travels in the same file, parsed.
        let bugsYAML = try KnownBugs.load(path: casesDir + "/" + KnownBugs.fileName)
        let bugsCompiled = try KnownBugs.load(path: dir + "/" + KnownBugs.fileName, compose: nil)
        XCTAssertFalse(bugsYAML.isEmpty)
        XCTAssertEqual(bugsYAML, bugsCompiled)
    }

    /// The plan of every case under cases/ encodes and decodes to an equal
    /// plan, case by case, and so do the nested steps of every exec:/spawn:.
    func testEveryCasePlanRoundTrips() throws {
        let cases = try CaseLoader.load(directory: casesDir).map { c -> TestCase in var c = c; c.why = nil; return c }
        let plan = CompiledSuite(files: 1, cases: cases, knownBugs: try KnownBugs.load(path: casesDir + "/" + KnownBugs.fileName))
        let back = try CompiledCases.decode(try CompiledCases.encode(plan))
        XCTAssertEqual(back.cases.count, cases.count)
        for (a, b) in zip(cases, back.cases) { XCTAssertTrue(a == b, "\(a.id) differs after a round trip") }
        XCTAssertTrue(back.knownBugs == plan.knownBugs && back.files == plan.files)
        var execs = 0
        func visit(_ steps: [Step]) throws {
            for s in steps {
                switch s {
                case .fork(let inner, _), .thread(let inner, _): try visit(inner)
                case .exec(let e, _):
                    execs += 1
                    XCTAssertEqual(try CompiledCases.decodeSteps(try CompiledCases.encodeSteps(e.steps)), e.steps)
                    try visit(e.before); try visit(e.steps)
                default: continue
                }
            }
        }
        for c in cases { try visit(c.steps) }
        XCTAssertGreaterThan(execs, 0)
    }

    /// Sweep values travel as runs; any list of values comes back the same.
    func testSweepValuesRoundTripAsRuns() throws {
        for values: [UInt32] in [[], [7], [0xfffffffc, 0xfffffff8, 0x80000000, 0x7ffffffc, 40, 44, 64],
                                 Array(0x100...0xffff), Array(stride(from: 0x0f, through: 0xff, by: 8)).filter { $0 != 0x87 },
                                 [1, 2, 3, 3, 2, 1, 0, UInt32.max]] {
            XCTAssertEqual(Sweep.values(Sweep.runs(values)), values)
        }
        XCTAssertNil(Sweep.values([1, 2]))
        XCTAssertNil(Sweep.values([0xffffff00, 0x200, 1]))
    }

    /// A damaged, foreign or older-format file is an error naming the file, never a trap.
    func testADamagedCompiledSuiteIsAnErrorNotACrash() throws {
        let good = try CompiledCases.encode(CompiledSuite(files: 1, cases: try CaseLoader.load(yaml: """
            - name: x
              steps:
                - setup: { name: main }
            """, file: "a.yaml"), knownBugs: nil))
        XCTAssertThrowsError(try CompiledCases.decode(Array("RFCASES0".utf8) + good.dropFirst(8)))
        for cut in 0..<good.count {
            XCTAssertThrowsError(try CompiledCases.decode(Array(good[0..<cut])), "cut at \(cut)")
        }
        let dir = try tempDir()
        let path = dir + "/" + CompiledCases.fileName
        func refused(_ bytes: [UInt8], saying words: String) {
            XCTAssertNoThrow(try Data(bytes).write(to: URL(fileURLWithPath: path)))
            CompiledCases.lastRead = nil
            XCTAssertThrowsError(try CaseLoader.load(directory: dir, compose: nil)) { e in
                let f = e as? CaseFileError
                XCTAssertEqual(f?.file, path)
                XCTAssertTrue("\(e)".contains(words), "\(e)")
                XCTAssertLessThan("\(e)".count, 400, "one line, not a dump: \(e)")
            }
        }
        refused([1, 2, 3], saying: "not a compiled case plan")
        refused(Array(good.prefix(good.count / 2)), saying: "a damaged compiled case plan")
        // An older ringfence's suite: RFCASES1, the composed YAML trees.
        refused(Array("RFCASES1".utf8) + [1, 6] + Array("a.yaml".utf8) + [0], saying: "format RFCASES1, written by another version")
        // A Bool's byte (the plan's last field but one, nil knownBugs last) out of range.
        var badBool = good
        badBool[badBool.count - 1] = 7
        refused(badBool, saying: "a presence byte of 7")
        refused(good + [0], saying: "1 bytes after the plan")
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
