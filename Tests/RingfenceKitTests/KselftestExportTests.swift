import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

/// `ringfence export --kselftest`: the C text of a small case, the list of
/// cases the C form cannot express, the exported share of the suite, and
/// that the whole export compiles with the host's C compiler.
final class KselftestExportTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func file(_ e: KselftestExport, _ name: String) -> String {
        e.files.first { $0.name == name }?.text ?? ""
    }

    func testSmallCaseBecomesOneFunctionWithItsWhyAndProgram() throws {
        let cases = try CaseLoader.load(yaml: """
            - name: stacked allow then deny is denied
              why: __io_uring_run_bpf_filters() denies if any filter returns 0
              steps:
                - register: { opcode: NOP, program: "ret #1" }
                - register: { opcode: NOP, program: "ld [sqe_flags]; ret a" }
                  expect: { errno: EINVAL }
                - submit: [ { op: NOP, user_data: 7 } ]
                  expect: { cqes: [ { user_data: 7, res: -EACCES } ] }
            """, file: "submission/x.yaml")
        let e = KselftestExport(cases: cases)
        XCTAssertEqual(e.exported.map(\.id), ["submission/x:stacked-allow-then-deny-is-denied"])
        XCTAssertTrue(e.notExported.isEmpty)
        let c = file(e, "io_uring_bpf_filter.c")
        XCTAssertTrue(c.contains(" * submission/x:stacked-allow-then-deny-is-denied\n"), c)
        XCTAssertTrue(c.contains(" * __io_uring_run_bpf_filters() denies if any filter returns 0\n"), c)
        XCTAssertTrue(c.contains("static int case_1(struct rf_ctx *c)\n{\n"), c)
        // The program: its source above, each instruction with its disassembly beside it.
        XCTAssertTrue(c.contains("\t *   ret #1\n"), c)
        XCTAssertTrue(c.contains("{ 0x6, 0, 0, 0x1 }, /* (000) ret      #1 */\n"), c)
        // A sub-word field: the word load, the shift and the mask, for each byte order under #if.
        XCTAssertTrue(c.contains("""
            #if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            \t\tstatic const struct sock_filter prog[] = {
            \t\t\t{ 0x20, 0, 0, 0x8 }, /* (000) ld       [8]  // opcode, sqe_flags, pdu_size, pad.0 */
            \t\t\t{ 0x74, 0, 0, 0x10 }, /* (001) rsh      #16 */
            \t\t\t{ 0x54, 0, 0, 0xff }, /* (002) and      #0xff */
            \t\t\t{ 0x16, 0, 0, 0x0 }, /* (003) ret      a */
            \t\t};
            #else
            \t\tstatic const struct sock_filter prog[] = {
            \t\t\t{ 0x20, 0, 0, 0x8 }, /* (000) ld       [8]  // opcode, sqe_flags, pdu_size, pad.0 */
            \t\t\t{ 0x74, 0, 0, 0x8 }, /* (001) rsh      #8 */
            \t\t\t{ 0x54, 0, 0, 0xff }, /* (002) and      #0xff */
            \t\t\t{ 0x16, 0, 0, 0x0 }, /* (003) ret      a */
            \t\t};
            #endif
            """), c)
        // `ret #1` is the same on both orders: written once.
        XCTAssertEqual(c.components(separatedBy: "#if __BYTE_ORDER__").count, 2, c)
        XCTAssertTrue(c.contains(".expect_errno = 22 /* EINVAL */"), c)
        XCTAssertTrue(c.contains("{ 7ull, RF_EXACTLY, -13 /* -EACCES */ },"), c)
        XCTAssertTrue(c.contains("\t{ \"submission/x:stacked-allow-then-deny-is-denied\", case_1, 10000, { { RF_REQ_OPCODE, 0, \"NOP\" } } },\n"), c)
        XCTAssertEqual(Set(e.files.map(\.name)), ["io_uring_bpf_filter.c", "ringfence_rt.h", "io_uring_bpf_filter.h", "Makefile", "config", "settings", "NOT-EXPORTED", "BYTE-ORDER"])
        // Named fields compile for each order: the case is byte-order neutral and not in BYTE-ORDER.
        XCTAssertEqual(KselftestExport.byteOrderDependence(cases[0]), [])
        XCTAssertFalse(file(e, "BYTE-ORDER").contains("submission/x"), file(e, "BYTE-ORDER"))
    }

    /// A case that declares its byte order is listed in BYTE-ORDER and carries
    /// the requirement that skips it on the other order; #O_LARGEFILE is the target's.
    func testDeclaredByteOrderAndLargefile() throws {
        let cases = try CaseLoader.load(yaml: """
            - name: the word at 8 as little-endian reads it
              why: io_uring_populate_bpf_ctx() fills bytes 8..11
              byte_order: { order: little, reason: "shows the word's layout" }
              steps:
                - register: { opcode: NOP, program: "ld [8]; jeq #0, ok; ret #0; ok: ret #1" }
                - submit: [ { op: NOP, user_data: 1 } ]
                  expect: { cqes: [ { user_data: 1, res: 0 } ] }
            - name: largefile
              why: __io_openat_prep() ORs in O_LARGEFILE
              steps:
                - register: { opcode: OPENAT, program: "ld [open.flags]; jeq #O_CLOEXEC|O_LARGEFILE, ok; ret #0; ok: ret #1" }
            - name: per-arch open flags
              why: build_open_how() keeps the flags
              steps:
                - register: { opcode: OPENAT2, program: "ld [open.flags]; jeq #O_DIRECTORY|O_LARGEFILE, ok; ret #0; ok: ret #1" }
                - submit: [ { op: OPENAT, path: "/", open_flags: O_DIRECTORY|O_CLOEXEC, user_data: 1 }, { op: OPENAT2, path: "/", open_flags: O_DIRECTORY, user_data: 2 } ]
                  expect: { cqes: [ { user_data: 1, res: ok }, { user_data: 2, res: ok } ] }
            """, file: "context/z.yaml")
        XCTAssertEqual(cases[0].byteOrder, DeclaredByteOrder(order: .little, reason: "shows the word's layout"))
        XCTAssertEqual(cases[0].byteOrder?.skipReason(on: .big), "the case holds on little-endian machines only (byte_order: shows the word's layout)")
        XCTAssertNil(cases[0].byteOrder?.skipReason(on: .little))
        XCTAssertEqual(CaseLint.byteOrder(cases), [], "a declared case may load raw words")
        let e = KselftestExport(cases: cases)
        XCTAssertEqual(file(e, "BYTE-ORDER").split(separator: "\n").filter { !$0.hasPrefix("#") },
                       ["context/z:the-word-at-8-as-little-endian-reads-it\tlittle\tshows the word's layout"])
        let c = file(e, "io_uring_bpf_filter.c")
        XCTAssertTrue(c.contains("{ RF_REQ_BYTE_ORDER, 0 /* little-endian */, \"shows the word\'s layout\" }"), c)
        XCTAssertTrue(c.contains("{ 0x15, 1, 0, 0x80000 | RF_O_LARGEFILE }, /* (001) jeq      #0x88000 "), c)
        // Open flags whose value is per architecture: the target's C names, in filters and in SQEs.
        XCTAssertTrue(c.contains("{ 0x15, 1, 0, 0x0 | O_DIRECTORY | RF_O_LARGEFILE }, /* (001) jeq      #0x18000 "), c)
        XCTAssertTrue(c.contains(".op_flags = 0x80000 | O_DIRECTORY /* x86_64: 0x90000 */"), c)
        XCTAssertTrue(c.contains(".how_flags_x86 = 0x10000, .how_flags_arch = O_DIRECTORY"), c)
    }

    /// Lint: a raw load of a sub-word word in a case that submits, with file:line and the named field to write.
    func testLintRejectsRawSubWordLoadsInCasesThatSubmit() throws {
        let cases = try CaseLoader.load(yaml: """
            - name: raw flags
              why: x
              steps:
                - register:
                    opcode: NOP
                    program: |
                      ld [8]
                      rsh #8
                      ret a
                - submit: [ { op: NOP, user_data: 1 } ]
                  expect: { cqes: [ { user_data: 1, res: 0 } ] }
            - name: raw but only registers
              why: x
              steps:
                - register: { opcode: NOP, program: "ld [0]; ret a" }
            """, file: "context/w.yaml")
        let errors = CaseLint.byteOrder(cases)
        XCTAssertEqual(errors.count, 1)
        XCTAssertEqual(errors.first?.file, "context/w.yaml")
        XCTAssertEqual(errors.first?.line, 7)
        XCTAssertTrue(errors.first?.description.contains("write ld [opcode], ld [sqe_flags], ld [pdu_size] or ld [pad.0]") == true, errors.first?.description ?? "")
    }

    func testCasesTheCFormCannotExpressAreListedWithTheReason() throws {
        let cases = try CaseLoader.load(yaml: """
            - name: in a new image
              steps:
                - exec:
                    - register: { task: true, opcode: NOP, program: "ret #1" }
            - name: in a user namespace
              steps:
                - user_namespace: true
                - register: { task: true, opcode: NOP, program: "ret #1" }
            - name: plain
              steps:
                - register: { opcode: NOP, program: "ret #1" }
            """, file: "lifecycle/y.yaml")
        let e = KselftestExport(cases: cases)
        XCTAssertEqual(e.exported.map(\.id), ["lifecycle/y:in-a-user-namespace", "lifecycle/y:plain"])
        XCTAssertEqual(e.notExported, [.init(id: "lifecycle/y:in-a-new-image", reason: "exec: needs the steps in a new image; the C form has none yet")])
        let list = file(e, KselftestExport.notExportedFile)
        XCTAssertTrue(list.contains("# 2 of 3 cases exported"), list)
        XCTAssertTrue(list.contains("lifecycle/y:in-a-new-image\texec: needs the steps in a new image; the C form has none yet\n"), list)
        XCTAssertFalse(file(e, "io_uring_bpf_filter.c").contains("in-a-new-image"))
        // user_namespace: is unshare(CLONE_NEWUSER) in the case's forked process.
        XCTAssertTrue(file(e, "io_uring_bpf_filter.c").contains("\tif (rf_user_namespace())\n"))
    }

    /// Every case of cases/ is exported or listed, and at least 90 % of the standard tier is exported.
    func testSuiteExportsAtLeastNinetyPercentAndDropsNothing() throws {
        let all = try CaseLoader.load(directory: Self.root.appendingPathComponent("cases").path, compose: YAMLCompose.composer)
        let e = KselftestExport(cases: all)
        XCTAssertEqual(e.exported.count + e.notExported.count, all.count)
        XCTAssertEqual(Set(e.exported.map(\.id)).union(e.notExported.map(\.id)), Set(all.map(\.id)))
        let share = KselftestExport.standardShare(cases: all, export: e)
        XCTAssertGreaterThanOrEqual(Double(share.exported) / Double(share.total), 0.90, "\(share.exported) of \(share.total)")
    }

    /// The whole export is C the host compiler accepts without a warning (-fsyntax-only; CI builds and boots it).
    func testSuiteExportCompiles() throws {
        let cc = ["/usr/bin/gcc", "/usr/bin/cc"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let cc else { throw XCTSkip("no C compiler on this machine") }
        let all = try CaseLoader.load(directory: Self.root.appendingPathComponent("cases").path, compose: YAMLCompose.composer)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rf-kselftest-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try KselftestExport(cases: all).write(to: dir)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cc)
        p.arguments = ["-fsyntax-only", "-Wall", "-Werror", "-std=gnu11", "\(dir)/io_uring_bpf_filter.c"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, String(text.prefix(2000)))
    }

    /// The C sweep patches the exported template's slots; for every sweep in
    /// cases/ that gives, value by value, the program the Swift runner registers.
    func testSweepSlotsGiveTheSwiftProgramForEveryValue() throws {
        let all = try CaseLoader.load(directory: Self.root.appendingPathComponent("cases").path, compose: YAMLCompose.composer)
        var sweeps: [(Sweep, FilterRegistration)] = []
        func scan(_ steps: [Step]) {
            for s in steps {
                switch s {
                case .sweep(let sw, let reg, _, _): sweeps.append((sw, reg))
                case .fork(let inner, _), .thread(let inner, _): scan(inner)
                default: break
                }
            }
        }
        all.forEach { scan($0.steps) }
        XCTAssertGreaterThan(sweeps.count, 10)
        var checked = 0
        for (sw, reg) in sweeps {
            guard let (template, slots) = KselftestExport.sweepSlots(sw, reg.programSource) else { continue }
            let values = sw.resolvedValues(opcodeLast: 65)
            for v in values.prefix(40) + values.suffix(5) {
                var p = template
                for (i, field) in slots {
                    switch field {
                    case "RF_CODE": p[i].code = UInt16(v)
                    case "RF_JT": p[i].jt = UInt8(v)
                    case "RF_JF": p[i].jf = UInt8(v)
                    default: p[i].k = v
                    }
                }
                XCTAssertEqual(p, SweepProgram(sweep: sw, source: reg.programSource).program(for: v), "\(reg.programSource) with \(sw.variable)=\(v)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 100)
    }

    func testRunsCompressValueLists() {
        func expand(_ runs: [(lo: UInt32, hi: UInt32, step: UInt32)]) -> [UInt32] {
            runs.flatMap { Array(stride(from: $0.lo, through: $0.hi, by: Int($0.step))) }
        }
        for values: [UInt32] in [[0, 4, 8, 12, 40, 44, 64], [5], [], [0xfffffffc, 0xfffffff8, 0x80000000, 40], Array(0x100...0xffff)] {
            XCTAssertEqual(expand(C.runs(values)), values)
        }
        XCTAssertEqual(C.runs(Array(0x100...0xffff)).count, 1)
    }
}
