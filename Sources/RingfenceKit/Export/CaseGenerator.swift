import Foundation

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
        var out = "\(i){\n\(i)\tint fd = rf_setup(&c->rings[\(ringRef(spec.name))], \(spec.entries), 0x\(String(spec.flags.rawValue, radix: 16)));\n"
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
        if let a = spec.sqeFlagsAllowed { entries.append("{ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = 0x\(String(a.rawValue, radix: 16)) }") }
        if let r = spec.sqeFlagsRequired { entries.append("{ .opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED, .sqe_flags = 0x\(String(r.rawValue, radix: 16)) }") }
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
        if !q.flags.isEmpty { f.append(".flags = 0x\(String(q.flags.rawValue, radix: 16))") }
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
