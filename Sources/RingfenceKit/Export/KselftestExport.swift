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
