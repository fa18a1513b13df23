import Foundation

/// `ringfence export --kselftest DIR`: the cases as one C program in the
/// kernel's kselftest form (docs/architectures.md). Each exported case is a
/// C function whose body is its steps, calling the helpers of
/// ringfence_rt.h; each cBPF program is a `struct sock_filter` initialiser,
/// one instruction a line with its disassembly beside it and the case's
/// source text above it. A case the C form cannot express is never dropped
/// silently: it is listed in NOT-EXPORTED with the reason.
///
/// Known bugs (cases/known-bugs.yaml) are left to the host judge: the C
/// program reports what the kernel did (`not ok`), and the host applies the
/// baseline for the kernel release when it judges the console, as it does for
/// the Swift runner's results.
public struct KselftestExport {
    public struct Skipped: Equatable, Sendable {
        public var id: String
        public var reason: String
    }

    public var exported: [TestCase] = []
    public var notExported: [Skipped] = []
    /// File name → contents.
    public var files: [(name: String, text: String)] = []

    public static let programName = "io_uring_bpf_filter"
    public static let notExportedFile = "NOT-EXPORTED"
    public static let byteOrderFile = "BYTE-ORDER"

    public init(cases: [TestCase]) {
        var bodies: [String] = []
        var table: [String] = []
        for c in cases {
            if let why = Self.unsupported(c) {
                notExported.append(Skipped(id: c.id, reason: why))
                continue
            }
            let fn = "case_\(exported.count + 1)"
            var gen = CaseGenerator(testCase: c, function: fn)
            bodies.append(gen.generate())
            table.append(gen.tableEntry())
            exported.append(c)
        }
        files = [
            ("\(Self.programName).c", Self.program(bodies: bodies, table: table, cases: cases.count, skipped: notExported)),
            ("ringfence_rt.h", KselftestRuntime.runtimeHeader),
            ("io_uring_bpf_filter.h", KselftestRuntime.uapiHeader),
            ("Makefile", Self.makefile),
            ("config", Self.config),
            ("settings", "timeout=600\n"),
            (Self.notExportedFile, Self.notExportedText(notExported, total: cases.count)),
            (Self.byteOrderFile, Self.byteOrderText(exported)),
        ]
    }

    /// Exported share of the standard tier (0…1).
    public static func standardShare(cases: [TestCase], export: KselftestExport) -> (exported: Int, total: Int) {
        let std = cases.filter { $0.tier == .standard }
        let out = Set(export.exported.map(\.id))
        return (std.filter { out.contains($0.id) }.count, std.count)
    }

    // MARK: what the C form cannot express yet

    /// nil when the case exports; otherwise why not (one line).
    public static func unsupported(_ c: TestCase) -> String? {
        if c.injection != nil { return "inject: (fail-nth fault injection) is not in the C form yet" }
        for r in c.requires {
            if case .module(let m) = r { return "requires module \(m): the C program loads no modules" }
            if case .faultInjection = r { return "requires fault injection" }
        }
        return unsupported(c.steps)
    }

    static func unsupported(_ steps: [Step]) -> String? {
        for s in steps {
            switch s {
            case .ring, .restrict, .enableRings, .submit, .closeRing, .setNoNewPrivs, .dropPrivileges:
                if case .restrict(let r, _, _) = s, case .rawFD = r.target { return "restrict: on a raw fd" }
                if case .submit(_, let sqes, let e, _) = s {
                    if sqes.count > 16 { return "a submit of more than 16 SQEs" }
                    if e.cqes.count > 64 { return "more than 64 expected CQEs" }
                }
                continue
            case .sweep(let sw, let reg, _, _):
                guard let little = KselftestExport.sweepSlots(sw, reg.programSource) else {
                    return "a for: sweep whose variable is not a whole instruction field (\(sw.variable) inside an expression)"
                }
                guard let big = KselftestExport.sweepSlots(sw, reg.programSource, target: AsmTarget(byteOrder: .big)),
                      big.slots.map(\.0) == little.slots.map(\.0), big.slots.map(\.1) == little.slots.map(\.1) else {
                    return "a for: sweep whose big-endian program patches other slots"
                }
            case .register(let reg, _, _):
                if (try? ProgramVariants(reg)) == nil { return "a program that does not assemble for big-endian as long as for little-endian" }
            case .fork(let inner, _):
                if let why = unsupported(inner) { return why }
            case .thread(let inner, _):
                if let why = unsupported(inner) { return why }
            case .exec(let e, _): return "\(e.spawn ? "spawn" : "exec"): needs the steps in a new image; the C form has none yet"
            case .userNamespace: continue
            case .sendRing: return "send_ring: (SCM_RIGHTS / pidfd_getfd to the parent) is not in the C form yet"
            case .taint: return "taint: is a harness self-test step"
            }
        }
        return nil
    }

    /// Which fields of the template carry the sweep's variable (SweepProgram's
    /// two-probe analysis), or nil when it is not a whole field.
    static func sweepSlots(_ sw: Sweep, _ source: String, target: AsmTarget = AsmTarget()) -> (program: [BPFInstruction], slots: [(Int, String)])? {
        guard source.contains("$" + sw.variable) else {
            guard let p = try? Assembler.assemble(source, target: target) else { return nil }
            return (p, [])
        }
        let (v1, v2): (UInt32, UInt32) = (0x24, 0x38)
        guard let a = try? Assembler.assemble(sw.substitute(source, v1), target: target),
              let b = try? Assembler.assemble(sw.substitute(source, v2), target: target), a.count == b.count else { return nil }
        var slots: [(Int, String)] = []
        for i in a.indices {
            let pairs: [(String, UInt32, UInt32)] = [("RF_CODE", UInt32(a[i].code), UInt32(b[i].code)), ("RF_JT", UInt32(a[i].jt), UInt32(b[i].jt)),
                                                     ("RF_JF", UInt32(a[i].jf), UInt32(b[i].jf)), ("RF_K", a[i].k, b[i].k)]
            for (field, x, y) in pairs where x != y {
                guard x == v1 && y == v2 else { return nil }
                slots.append((i, field))
            }
        }
        // Every value must fit the field it is patched into (SweepProgram falls back otherwise).
        let maxValue = sw.rangeToLast != nil ? UInt32(255) : (sw.values.max() ?? 0)
        for (_, f) in slots {
            if f == "RF_CODE" && maxValue > 0xffff { return nil }
            if (f == "RF_JT" || f == "RF_JF") && maxValue > 0xff { return nil }
        }
        return (a, slots)
    }

    // MARK: byte order

    /// Why a case's verdict depends on the machine's byte order (empty: it
    /// does not). Programs are assembled for both byte orders (named fields
    /// and #htons/#ipv4/#ipv6 are computed for each), and lint refuses raw
    /// loads of sub-word fields and u64 halves in a case that submits, so
    /// only a case that declares `byte_order:` depends on it; it is skipped
    /// on machines of the other order.
    public static func byteOrderDependence(_ c: TestCase) -> [String] {
        guard let d = c.byteOrder else { return [] }
        return ["holds on \(d.order) machines only: \(d.reason)"]
    }

    static func byteOrderText(_ cases: [TestCase]) -> String {
        var s = "# Exported cases that declare a byte order (byte_order: in the case file; docs/architectures.md):\n"
        s += "# each runs on machines of that order and is skipped on the other. id, order, reason.\n"
        for c in cases {
            if let d = c.byteOrder { s += "\(c.id)\t\(d.order.rawValue)\t\(d.reason)\n" }
        }
        return s
    }

    // MARK: files

    static func notExportedText(_ list: [Skipped], total: Int) -> String {
        var s = "# Cases of the suite the C form does not express yet: id, then the reason.\n"
        s += "# \(total - list.count) of \(total) cases exported (ringfence export --kselftest).\n"
        for x in list { s += "\(x.id)\t\(x.reason)\n" }
        return s
    }

    static let makefile = """
    # SPDX-License-Identifier: GPL-2.0
    # Written by `ringfence export --kselftest`. Inside the kernel tree
    # (tools/testing/selftests/io_uring_bpf_filter) lib.mk does the work;
    # standalone, `make CC=gcc` or `make CROSS_COMPILE=aarch64-linux-gnu-`
    # builds a static binary (the only file an initramfs needs).
    TEST_GEN_PROGS := io_uring_bpf_filter
    TEST_FILES := NOT-EXPORTED

    CFLAGS += -O2 -Wall -std=gnu11
    LDFLAGS += -static

    ifneq ($(wildcard ../lib.mk),)
    LOCAL_HDRS := ringfence_rt.h io_uring_bpf_filter.h
    include ../lib.mk
    else
    CC := $(CROSS_COMPILE)$(if $(filter default,$(origin CC)),gcc,$(CC))
    all: io_uring_bpf_filter
    io_uring_bpf_filter: io_uring_bpf_filter.c ringfence_rt.h io_uring_bpf_filter.h
    \t$(CC) $(CFLAGS) -o $@ io_uring_bpf_filter.c $(LDFLAGS)
    run_tests: io_uring_bpf_filter
    \t./io_uring_bpf_filter
    clean:
    \trm -f io_uring_bpf_filter
    .PHONY: all run_tests clean
    endif

    """

    static let config = """
    CONFIG_IO_URING=y
    CONFIG_IO_URING_BPF=y
    CONFIG_BPF=y
    CONFIG_NET=y
    CONFIG_INET=y
    CONFIG_IPV6=y
    CONFIG_UNIX=y

    """

    static func program(bodies: [String], table: [String], cases: Int, skipped: [Skipped]) -> String {
        var s = """
        // SPDX-License-Identifier: GPL-2.0
        /*
         * io_uring cBPF filters (IORING_REGISTER_BPF_FILTER): conformance cases.
         *
         * Written by `ringfence export --kselftest` from ringfence's case files
         * (cases/<area>/<file>.yaml); one function per case, its `why:` as the
         * comment. \(bodies.count) of \(cases) cases; the others and why are in
         * NOT-EXPORTED. Known bugs are judged by the host, not here.
         *
         * Run: ./io_uring_bpf_filter [-e]   (-e: the exhaustive tier too)
         * Output: KTAP; exit 0 all passed, 1 a case failed, 4 all skipped.
         */
        #include "ringfence_rt.h"


        """
        s += bodies.joined(separator: "\n")
        s += "\nstatic const struct rf_case rf_cases[] = {\n"
        s += table.joined()
        s += "};\n\nint main(int argc, char **argv)\n{\n\treturn rf_main(argc, argv, rf_cases, sizeof(rf_cases) / sizeof(rf_cases[0]));\n}\n"
        return s
    }

    // MARK: writing

    /// Writes the files into `directory` (created if missing). Refuses a
    /// directory holding files this export does not write.
    public func write(to directory: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: directory, isDirectory: &isDir) {
            guard isDir.boolValue else { throw ExportError("\(directory): exists and is not a directory; name a new or empty directory") }
            let ours = Set(files.map(\.name) + [Self.programName, "\(Self.programName).o"])
            let foreign = (try? fm.contentsOfDirectory(atPath: directory))?.filter { !ours.contains($0) } ?? []
            if !foreign.isEmpty {
                throw ExportError("\(directory): holds files the export did not write (\(foreign.sorted().prefix(5).joined(separator: ", "))); name a new or empty directory")
            }
        } else {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        for f in files {
            try f.text.write(toFile: directory + "/" + f.name, atomically: true, encoding: .utf8)
        }
    }
}

public struct ExportError: Error, CustomStringConvertible {
    public var description: String
    init(_ s: String) { description = s }
}

/// One case → one C function (and one per `fork:` block inside it).
struct CaseGenerator {
    let testCase: TestCase
    let function: String
    var rings: [String] = []
    var helpers: [String] = []
    var forks = 0

    init(testCase: TestCase, function: String) {
        self.testCase = testCase
        self.function = function
    }

    mutating func ringIndex(_ name: String) -> Int {
        if let i = rings.firstIndex(of: name) { return i }
        rings.append(name)
        return rings.count - 1
    }

    func ringRef(_ name: String) -> String { "\(rings.firstIndex(of: name)!) /* \(C.comment(name)) */" }

    mutating func generate() -> String {
        collectRings(testCase.steps)
        var out = "/*\n * \(C.comment(testCase.id))\n * \(C.comment(testCase.name))\n"
        if let why = testCase.why {
            out += " *\n" + C.wrap(why, prefix: " * ")
        }
        out += " * (\(C.comment(testCase.location.description)))\n */\n"
        let body = steps(testCase.steps, indent: "\t")
        out += helpers.joined()
        out += "static int \(function)(struct rf_ctx *c)\n{\n"
        for (i, r) in rings.enumerated() { out += "\tc->ring_names[\(i)] = \(C.string(r));\n" }
        out += body
        out += "\treturn 0;\n}\n"
        return out
    }

    mutating func collectRings(_ steps: [Step]) {
        for s in steps {
            switch s {
            case .ring(let spec, _, _): _ = ringIndex(spec.name)
            case .register(let r, _, _), .sweep(_, let r, _, _):
                if case .ring(let n) = r.target { _ = ringIndex(n) }
            case .restrict(let r, _, _):
                if case .ring(let n) = r.target { _ = ringIndex(n) }
            case .enableRings(let n, _, _), .closeRing(let n, _): _ = ringIndex(n)
            case .submit(let n, let sqes, _, _):
                _ = ringIndex(n)
                for q in sqes { if let t = q.ringForFD { _ = ringIndex(t) } }
            case .fork(let inner, _), .thread(let inner, _): collectRings(inner)
            default: break
            }
        }
    }

    func tableEntry() -> String {
        var reqs: [String] = []
        for r in testCase.requires {
            switch r {
            case .root: reqs.append("{ RF_REQ_ROOT, 0, 0 }")
            case .opcode(let op): reqs.append("{ RF_REQ_OPCODE, \(op), \(C.string(Opcode.name(op))) }")
            case .context(let op): reqs.append("{ RF_REQ_CONTEXT, \(op), \(C.string(Opcode.name(op))) }")
            default: continue
            }
        }
        if testCase.tier == .exhaustive { reqs.append("{ RF_REQ_EXHAUSTIVE, 0, 0 }") }
        if let d = testCase.byteOrder { reqs.append("{ RF_REQ_BYTE_ORDER, \(d.order == .big ? 1 : 0) /* \(d.order) */, \(C.string(d.reason)) }") }
        let timeout = Int((testCase.timeout ?? 10) * 1000)
        return "\t{ \(C.string(testCase.id)), \(function), \(timeout), { \(reqs.joined(separator: ", ")) } },\n"
    }

    // MARK: steps

    /// A `fork:` or `thread:` block as its own C function (numbered per
    /// case); returns the function's name.
    mutating func nested(_ inner: [Step], kind: String, runs: String) -> String {
        forks += 1
        let name = "\(function)_\(kind)\(forks)"
        var sub = "/* \(C.comment(testCase.id)): the steps of a \(kind): block, \(runs) */\n"
        sub += "static int \(name)(struct rf_ctx *c)\n{\n"
        sub += steps(inner, indent: "\t")
        sub += "\treturn 0;\n}\n\n"
        helpers.append(sub)
        return name
    }

    mutating func steps(_ list: [Step], indent: String) -> String {
        var out = ""
        for (i, s) in list.enumerated() {
            out += "\(indent)/* step \(i + 1): \(C.comment(s.kind)) (\(C.comment(s.location.description))) */\n"
            out += step(s, indent: indent)
        }
        return out
    }

    func fail(_ indent: String, _ cond: String) -> String {
        "\(indent)if (\(cond))\n\(indent)\treturn -1;\n"
    }

    mutating func step(_ s: Step, indent i: String) -> String {
        switch s {
        case .ring(let spec, let errno, _): return ringStep(spec, errno, indent: i)
        case .register(let reg, let expect, _): return registerStep(reg, expect, indent: i)
        case .sweep(let sw, let reg, let expect, _): return sweepStep(sw, reg, expect, indent: i)
        case .restrict(let spec, let errno, _): return restrictStep(spec, errno, indent: i)
        case .enableRings(let name, let errno, _):
            return fail(i, "rf_enable(c, \(ringRef(name)), \(errno ?? 0))")
        case .submit(let name, let sqes, let expect, _): return submitStep(name, sqes, expect, indent: i)

        case .fork(let inner, _):
            return fail(i, "rf_fork(c, \(nested(inner, kind: "fork", runs: "run in the child")))")

        case .thread(let inner, _):
            return fail(i, "rf_thread(c, \(nested(inner, kind: "thread", runs: "run on a new thread")))")

        case .closeRing(let name, _):
            return "\(i)rf_ring_close(&c->rings[\(ringRef(name))]);\n"
        case .setNoNewPrivs:
            return fail(i, "rf_no_new_privs()")
        case .dropPrivileges:
            return fail(i, "rf_drop_privileges()")
        case .userNamespace:
            return fail(i, "rf_user_namespace()")
        default:
            return "\(i)return -1; /* not exported */\n"
        }
    }

    func ringStep(_ spec: RingSpec, _ errno: Int32?, indent i: String) -> String {
        var out = "\(i){\n\(i)\tint fd = rf_setup(&c->rings[\(ringRef(spec.name))], \(spec.entries), 0x\(String(spec.flags, radix: 16)));\n"
        out += fail(i + "\t", "rf_expect(fd, \(errno ?? 0), \"io_uring_setup\")")
        if spec.registerFD {
            out += "\(i)\tif (fd >= 0 && rf_register_ring_fd(&c->rings[\(ringRef(spec.name))]) < 0) {\n"
            out += "\(i)\t\trf_diag(\"IORING_REGISTER_RING_FDS failed\");\n\(i)\t\treturn -1;\n\(i)\t}\n"
        }
        return out + "\(i)}\n"
    }

    func registerStep(_ reg: FilterRegistration, _ expect: RegisterExpectation, indent i: String) -> String {
        var out = "\(i){\n"
        out += program("prog", try! ProgramVariants(reg), source: reg.programSource, indent: i + "\t")
        out += target(reg.target, registered: reg.useRegisteredRing, indent: i + "\t")
        out += registerSpec(reg, expect, programLength: reg.program.count, indent: i + "\t")
        out += fail(i + "\t", "rf_register(c, &t, &s)")
        return out + "\(i)}\n"
    }

    /// A `for:` sweep: the template once, the slots its variable is patched into, the values.
    func sweepStep(_ sw: Sweep, _ reg: FilterRegistration, _ expect: RegisterExpectation, indent i: String) -> String {
        let (tmpl, slots) = KselftestExport.sweepSlots(sw, reg.programSource)!
        let big = KselftestExport.sweepSlots(sw, reg.programSource, target: AsmTarget(byteOrder: .big))!.program
        var out = "\(i){\n"
        out += program("prog", ProgramVariants(little: tmpl, big: big), source: reg.programSource, indent: i + "\t",
                       note: "assembled with $\(sw.variable) = 0x24; the sweep patches the slots below")
        out += "\(i)\tstatic const struct rf_slot slots[] = { \(slots.map { "{ \($0.0), \($0.1) }" }.joined(separator: ", "))\(slots.isEmpty ? "{ 0, RF_K }" : "") };\n"
        var sweepInit: [String] = [".variable = \(C.string(sw.variable))", ".slots = slots", ".nslots = \(slots.count)"]
        if sw.opcodeFromVariable { sweepInit.append(".opcode_from_variable = 1") }
        if let r = sw.rangeToLast {
            sweepInit += [".to_last = 1", ".lo = \(r.lo)", ".minus = \(r.minus)", ".step = \(r.step)"]
            let ex = sw.except.sorted()
            out += "\(i)\tstatic const uint32_t except[] = { \(ex.isEmpty ? "0" : ex.map(String.init).joined(separator: ", ")) };\n"
            sweepInit += [".except = except", ".nexcept = \(ex.count)"]
        } else {
            let runs = C.runs(sw.values)
            out += "\(i)\tstatic const struct rf_run runs[] = {\n"
            for r in runs { out += "\(i)\t\t{ 0x\(String(r.lo, radix: 16)), 0x\(String(r.hi, radix: 16)), \(r.step) },\n" }
            out += "\(i)\t};\n"
            sweepInit += [".runs = runs", ".nruns = \(runs.count)"]
        }
        out += "\(i)\tstatic const struct rf_sweep sw = { \(sweepInit.joined(separator: ", ")) };\n"
        out += target(reg.target, registered: reg.useRegisteredRing, indent: i + "\t")
        out += registerSpec(reg, expect, programLength: tmpl.count, indent: i + "\t")
        out += fail(i + "\t", "rf_run_sweep(c, &t, &s, &sw)")
        return out + "\(i)}\n"
    }

    func restrictStep(_ spec: RestrictionSpec, _ errno: Int32?, indent i: String) -> String {
        var out = "\(i){\n"
        var entries: [String] = []
        entries += spec.registerOps.map { "{ .opcode = IORING_RESTRICTION_REGISTER_OP, .register_op = \($0) }" }
        entries += spec.sqeOps.map { "{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = \($0) }" }
        if let a = spec.sqeFlagsAllowed { entries.append("{ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = 0x\(String(a, radix: 16)) }") }
        if let r = spec.sqeFlagsRequired { entries.append("{ .opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED, .sqe_flags = 0x\(String(r, radix: 16)) }") }
        out += "\(i)\tstatic const struct io_uring_restriction res[] = {\n"
        for e in entries { out += "\(i)\t\t\(e),\n" }
        if entries.isEmpty { out += "\(i)\t\t{ 0 },\n" }
        out += "\(i)\t};\n"
        if spec.target == .task {
            out += "\(i)\tstatic const struct io_uring_task_restriction hdr = { .flags = \(spec.taskFlags), .nr_res = \(entries.count), "
            out += ".resv = { \(spec.taskResv.prefix(3).map(String.init).joined(separator: ", ")) } };\n"
            out += fail(i + "\t", "rf_restrict(c, -1, res, \(entries.count), &hdr, \(spec.nrArgs ?? 1), \(errno ?? 0))")
        } else if case .ring(let name) = spec.target {
            out += fail(i + "\t", "rf_restrict(c, \(ringRef(name)), res, \(entries.count), NULL, \(spec.nrArgs ?? UInt32(entries.count)), \(errno ?? 0))")
        } else {
            out += "\(i)\treturn -1; /* a raw fd target for restrictions */\n"
        }
        return out + "\(i)}\n"
    }

    func submitStep(_ name: String, _ sqes: [SQESpec], _ expect: SubmitExpectation, indent i: String) -> String {
        var out = "\(i){\n"
        var payloads = 0
        var specs: [String] = []
        for q in sqes { specs.append(sqeFields(q, payloads: &payloads, out: &out, indent: i).joined(separator: ", ")) }
        out += "\(i)\tstatic const struct rf_sqe_spec sqes[] = {\n"
        for sp in specs { out += "\(i)\t\t{ \(sp) },\n" }
        if specs.isEmpty { out += "\(i)\t\t{ .pipe_end = -1, .ring_fd = -1 },\n" }
        out += "\(i)\t};\n"
        out += cqeExpectations(expect, indent: i)
        out += fail(i + "\t", "rf_submit(c, \(ringRef(name)), sqes, \(sqes.count), \(expect.submitted == nil ? 0 : 1), \(expect.submitted ?? 0), want, \(expect.cqes.count))")
        return out + "\(i)}\n"
    }

    /// One SQE's designated initialisers; its payloads are written to `out` as static arrays.
    func sqeFields(_ q: SQESpec, payloads: inout Int, out: inout String, indent i: String) -> [String] {
        var f: [String] = []
        switch q.opcode {
        case .number(let n): f.append(".opcode = \(n) /* \(C.comment(Opcode.name(n))) */")
        case .last(let plus): f.append(".opcode = RF_LAST | \(plus) /* IORING_OP_LAST + \(plus) */")
        }
        if q.flags != 0 { f.append(".flags = 0x\(String(q.flags, radix: 16))") }
        if q.ioprio != 0 { f.append(".ioprio = \(q.ioprio)") }
        f.append(".fd = \(q.fd)")
        if q.off != 0 { f.append(".off = 0x\(String(q.off, radix: 16))ull") }
        if q.addr != 0 { f.append(".addr = 0x\(String(q.addr, radix: 16))ull") }
        if q.len != 0 { f.append(".len = \(q.len)") }
        // Open flags whose value is per architecture: the target's C names (<fcntl.h>).
        let archC = SymbolicConstant.archOpenFlags.filter { q.archOpenFlags.contains($0.name) }.map(\.c).joined(separator: " | ")
        let archX86 = q.archOpenFlags.compactMap { SymbolicConstant.value($0) }.reduce(0, |)
        if !archC.isEmpty && q.offPayload == nil {
            f.append(".op_flags = 0x\(String(q.opFlags & ~archX86, radix: 16)) | \(archC) /* x86_64: 0x\(String(q.opFlags, radix: 16)) */")
        } else if q.opFlags != 0 { f.append(".op_flags = 0x\(String(q.opFlags, radix: 16))") }
        if !archC.isEmpty, q.offPayload != nil {
            f.append(".how_flags_x86 = 0x\(String(archX86, radix: 16)), .how_flags_arch = \(archC)")
        }
        f.append(".user_data = \(q.userData)ull")
        if q.bufIndex != 0 { f.append(".buf_index = \(q.bufIndex)") }
        if q.personality != 0 { f.append(".personality = \(q.personality)") }
        if q.fileIndex != 0 { f.append(".file_index = \(q.fileIndex)") }
        if q.addr3 != 0 { f.append(".addr3 = 0x\(String(q.addr3, radix: 16))ull") }
        if let p = q.addrPayload {
            payloads += 1
            out += "\(i)\tstatic const unsigned char payload\(payloads)[] = { \(C.bytes(p)) };\(C.payloadNote(p))\n"
            f.append(".addr_payload = payload\(payloads), .addr_payload_len = \(p.count)")
            if q.socketForFD != nil { f.append(".addr_le = RF_LE_SOCKADDR") }
            else if case .number(let op) = q.opcode, op == 11 || op == 15, p.count == 16 { f.append(".addr_le = RF_LE_U64S") }
        }
        if let p = q.offPayload {
            payloads += 1
            out += "\(i)\tstatic const unsigned char payload\(payloads)[] = { \(C.bytes(p)) }; /* struct open_how, little-endian */\n"
            f.append(".off_payload = payload\(payloads), .off_payload_len = \(p.count), .off_le = RF_LE_U64S")
        }
        if let s = q.socketForFD { f.append(".socket = 1, .domain = \(s.domain), .type = \(s.type), .proto = \(s.proto)") }
        f.append(".pipe_end = \(q.pipeEndForFD ?? -1)")
        f.append(".ring_fd = \(q.ringForFD.map { ringRef($0) } ?? "-1")")
        return f
    }

    func cqeExpectations(_ expect: SubmitExpectation, indent i: String) -> String {
        var out = ""
        out += "\(i)\tstatic const struct rf_cqe_expect want[] = {\n"
        for w in expect.cqes {
            let m: String
            switch w.res {
            case .exactly(let v): m = "RF_EXACTLY, \(v)\(v < 0 ? " /* -\(Errno.name(-v)) */" : "")"
            case .success: m = "RF_SUCCESS, 0"
            case .notDenied: m = "RF_ALLOWED, 0"
            case .any: m = "RF_ANY, 0"
            }
            out += "\(i)\t\t{ \(w.userData)ull, \(m) },\n"
        }
        if expect.cqes.isEmpty { out += "\(i)\t\t{ 0, RF_ANY, 0 },\n" }
        out += "\(i)\t};\n"
        return out
    }

    func target(_ t: RegisterTarget, registered: Bool, indent i: String) -> String {
        switch t {
        case .ring(let n): return "\(i)struct rf_target t = { 0, \(ringRef(n)), \(registered ? 1 : 0) };\n"
        case .task: return "\(i)struct rf_target t = { 1, -1, \(registered ? 1 : 0) }; /* fd -1: the task */\n"
        case .rawFD(let fd): return "\(i)struct rf_target t = { 2, \(fd), \(registered ? 1 : 0) }; /* a raw fd\(registered ? " as a registered ring index" : "") */\n"
        }
    }

    func placement(_ p: Placement) -> (String, Int) {
        switch p {
        case .normal: return ("RF_NORMAL", 0)
        case .null: return ("RF_NULL", 0)
        case .unmapped: return ("RF_UNMAPPED", 0)
        case .readOnly: return ("RF_READONLY", 0)
        case .truncated(let n): return ("RF_TRUNCATED", n)
        }
    }

    func registerSpec(_ reg: FilterRegistration, _ expect: RegisterExpectation, programLength: Int, indent i: String) -> String {
        var filter: [String] = []
        switch reg.opcode {
        case .number(let n): filter.append(".opcode = \(n) /* \(C.comment(Opcode.name(n))) */")
        case .last(let plus): filter.append(".opcode = RF_LAST | \(plus) /* IORING_OP_LAST + \(plus) */")
        }
        if reg.flags != 0 {
            let names = FilterABI.Flag.names.filter { FilterABI.Flag(rawValue: reg.flags).contains($0.1) }.map { "IO_URING_BPF_FILTER_" + $0.0 }
            filter.append(".flags = 0x\(String(reg.flags, radix: 16))\(names.isEmpty ? "" : " /* " + names.joined(separator: " | ") + " */")")
        }
        if let l = reg.filterLen { filter.append(".filter_len = \(l)") }
        if reg.pduSize != 0 { filter.append(".pdu_size = \(reg.pduSize)") }
        if reg.filterResv.contains(where: { $0 != 0 }) { filter.append(".resv = { \(reg.filterResv.map(String.init).joined(separator: ", ")) }") }
        if reg.resv2.contains(where: { $0 != 0 }) { filter.append(".resv2 = { \(reg.resv2.map { "0x\(String($0, radix: 16))ull" }.joined(separator: ", ")) }") }
        var arg = [".cmd_type = \(reg.cmdType)"]
        if reg.cmdFlags != 0 { arg.append(".cmd_flags = \(reg.cmdFlags)") }
        if reg.resv != 0 { arg.append(".resv = \(reg.resv)") }
        arg.append(".filter = { \(filter.joined(separator: ", ")) }")
        let (pp, pt) = placement(reg.filterPointer), (ap, at) = placement(reg.argPointer)
        var out = "\(i)struct rf_register_spec s = {\n"
        out += "\(i)\t.arg = { \(arg.joined(separator: ", ")) },\n"
        out += "\(i)\t.prog = prog, .prog_len = \(programLength), .filter_len_set = \(reg.filterLen == nil ? 0 : 1),\n"
        out += "\(i)\t.prog_place = \(pp), .prog_trunc = \(pt), .arg_place = \(ap), .arg_trunc = \(at), .nr_args = \(reg.nrArgs),\n"
        out += "\(i)\t.expect_errno = \(expect.errno.map { "\($0) /* \(Errno.name($0)) */" } ?? "0"), .expect_pdu = \(expect.pduSizeWrittenBack.map { Int($0) } ?? -1),\n"
        out += "\(i)\t.source = \(C.string(reg.programSource.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; "))),\n"
        out += "\(i)};\n"
        return out
    }

    /// The program as a `struct sock_filter` initialiser: the case's text
    /// above it, each instruction's disassembly beside it. A program that
    /// differs between byte orders is written twice, under `#if
    /// __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__`, the source text once.
    func program(_ name: String, _ v: ProgramVariants, source: String, indent i: String, note: String? = nil) -> String {
        var out = "\(i)/*\n"
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            out += "\(i) *   \(C.comment(String(line)))\n"
        }
        if let note { out += "\(i) * (\(C.comment(note)))\n" }
        if !v.arch.isEmpty { out += "\(i) * (open flags are the target's, from <fcntl.h> and RF_O_LARGEFILE; the disassembly shows x86_64's values)\n" }
        out += "\(i) */\n"
        guard v.little != v.big else {
            return out + initialiser(name, v.little, .little, v.arch, indent: i)
        }
        out += "#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__\n"
        out += initialiser(name, v.big, .big, v.arch, indent: i)
        out += "#else\n"
        out += initialiser(name, v.little, .little, v.arch, indent: i)
        return out + "#endif\n"
    }

    func initialiser(_ name: String, _ insns: [BPFInstruction], _ order: ByteOrder, _ arch: [Int: (little: UInt32, big: UInt32, names: [String])], indent i: String) -> String {
        func entry(_ pc: Int) -> String {
            let insn = insns[pc]
            let k = arch[pc].map { "0x\(String(order == .big ? $0.big : $0.little, radix: 16)) | \($0.names.joined(separator: " | "))" } ?? "0x\(String(insn.k, radix: 16))"
            return "{ 0x\(String(insn.code, radix: 16)), \(insn.jt), \(insn.jf), \(k) }"
        }
        var out = "\(i)static const struct sock_filter \(name)[] = {\n"
        if insns.count > 64, Set(insns.dropLast()).count == 1, arch.isEmpty {
            // `padded_to`: a long run of the same instruction, then the program.
            let pad = insns.count - 1
            out += "\(i)\t/* \(pad) x \(C.comment(Disassembler.line(insns[0], pc: 0, byteOrder: order))) */\n"
            out += "\(i)\t[0 ... \(pad - 1)] = \(entry(0)),\n"
            out += "\(i)\t\(entry(pad)), /* \(C.comment(Disassembler.line(insns[pad], pc: pad, byteOrder: order))) */\n"
        } else {
            for pc in insns.indices {
                out += "\(i)\t\(entry(pc)), /* \(C.comment(Disassembler.line(insns[pc], pc: pc, byteOrder: order))) */\n"
            }
        }
        if insns.isEmpty { out += "\(i)\t{ 0, 0, 0, 0 }, /* (the case sends no instructions) */\n" }
        return out + "\(i)};\n"
    }
}

/// A registration's program for each target: little- and big-endian, and
/// the instructions whose k carries an open flag whose value is per
/// architecture (#O_LARGEFILE, #O_DIRECTORY, …: SymbolicConstant.archOpenFlags),
/// with k without them per order and the C names to OR in; found by
/// assembling again with each such flag 0.
struct ProgramVariants {
    var little: [BPFInstruction]
    var big: [BPFInstruction]
    var arch: [Int: (little: UInt32, big: UInt32, names: [String])] = [:]

    init(little: [BPFInstruction], big: [BPFInstruction]) {
        self.little = little
        self.big = big
    }

    init(_ reg: FilterRegistration) throws {
        little = reg.program
        big = try reg.program(for: AsmTarget(byteOrder: .big))
        guard big.count == little.count else { throw AssemblyError(line: 1, message: "big-endian program length differs") }
        let upper = reg.programSource.uppercased()
        let used = SymbolicConstant.archOpenFlags.filter { upper.contains($0.name) }
        guard !used.isEmpty else { return }
        func without(_ names: [String], _ order: ByteOrder) throws -> [BPFInstruction] {
            var t = AsmTarget(byteOrder: order)
            for n in names { if n == "O_LARGEFILE" { t.oLargefile = 0 } else { t.openFlags[n] = 0 } }
            return try reg.program(for: t)
        }
        let l0 = try without(used.map(\.name), .little), b0 = try without(used.map(\.name), .big)
        for pc in little.indices where l0[pc].k != little[pc].k {
            var names: [String] = []
            for f in used where try without([f.name], .little)[pc].k != little[pc].k { names.append(f.c) }
            arch[pc] = (l0[pc].k, b0[pc].k, names)
        }
    }
}

/// C text helpers.
enum C {
    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "?": out += "\\?"
            default:
                if u.value < 0x20 || u.value > 0x7e { out += String(format: "\\%03o", u.value & 0xff) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func comment(_ s: String) -> String {
        s.replacingOccurrences(of: "*/", with: "* /").replacingOccurrences(of: "/*", with: "/ *")
    }

    static func wrap(_ s: String, prefix: String, width: Int = 76) -> String {
        var out = "", line = ""
        for word in comment(s).split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if !line.isEmpty && line.count + word.count + 1 > width - prefix.count {
                out += prefix + line + "\n"
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { out += prefix + line + "\n" }
        return out
    }

    static func bytes(_ b: [UInt8]) -> String {
        b.isEmpty ? "0" : b.map { "0x" + String($0, radix: 16) }.joined(separator: ", ")
    }

    /// A printable payload (a path) is shown as text too.
    static func payloadNote(_ b: [UInt8]) -> String {
        let text = b.last == 0 ? Array(b.dropLast()) : b
        guard !text.isEmpty, text.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else { return "" }
        return " /* \(comment(String(decoding: text, as: UTF8.self))) */"
    }

    /// Sorted values as arithmetic runs (lo, hi, step).
    static func runs(_ values: [UInt32]) -> [(lo: UInt32, hi: UInt32, step: UInt32)] {
        var out: [(lo: UInt32, hi: UInt32, step: UInt32)] = []
        var i = 0
        while i < values.count {
            let lo = values[i]
            guard i + 1 < values.count, values[i + 1] > lo else { out.append((lo, lo, 1)); i += 1; continue }
            let step = values[i + 1] - lo
            var j = i + 1
            while j + 1 < values.count, values[j + 1] > values[j], values[j + 1] - values[j] == step { j += 1 }
            if j == i + 1 && i + 2 < values.count {
                out.append((lo, lo, 1)); i += 1; continue
            }
            out.append((lo, values[j], step))
            i = j + 1
        }
        return out
    }
}
