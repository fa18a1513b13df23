#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Writes a fuzz case as a case file (the vocabulary of CaseParser / docs/writing-cases.md),
/// expecting what `observed` recorded.
public enum FuzzCaseWriter {
    /// `{ code, jt, jf, k }` lines: the assembler takes them verbatim.
    public static func rawSource(_ program: [BPFInstruction]) -> String {
        program.map { "{ 0x\(String($0.code, radix: 16)), \($0.jt), \($0.jf), 0x\(String($0.k, radix: 16)) }" }
            .joined(separator: "\n")
    }

    static func hex<T: BinaryInteger>(_ v: T) -> String { "0x" + String(v, radix: 16) }

    static func placement(_ p: Placement) -> CaseNode? {
        switch p {
        case .normal: return nil
        case .null: return .scalar("null", line: 0, isNull: true)
        case .unmapped: return scalar("unmapped")
        case .readOnly: return scalar("readonly")
        case .truncated(let n): return scalar("truncated:\(n)")
        }
    }

    static func errnoName(_ ret: Int32) -> String { ret < 0 ? Errno.name(-ret) : "0" }

    // The tree CaseYAML writes: scalars, mappings and lists without line numbers.
    static func scalar(_ text: String) -> CaseNode { .scalar(text, line: 0) }
    static func scalar<T: BinaryInteger>(_ v: T) -> CaseNode { .scalar(String(v), line: 0) }
    static func map(_ pairs: [(String, CaseNode)]) -> CaseNode { .mapping(pairs.map { (scalar($0.0), $0.1) }, line: 0) }
    static func list(_ items: [CaseNode]) -> CaseNode { .sequence(items, line: 0) }

    public static func yaml(_ c: FuzzCase, observed: FuzzObservation, seed: UInt64, modelSaid: FuzzObservation?,
                            shrunk: Bool = true) -> String {
        CaseYAML.text(tree(c, observed: observed, seed: seed, modelSaid: modelSaid, shrunk: shrunk))
    }

    /// The case file as a tree: one case, its steps expecting what `observed` recorded.
    public static func tree(_ c: FuzzCase, observed: FuzzObservation, seed: UInt64, modelSaid: FuzzObservation?,
                            shrunk: Bool = true) -> CaseNode {
        var why = "found by fuzzing: ringfence fuzz --seed \(seed), case \(c.index)\(shrunk ? ", shrunk" : " (not shrunk: the shrunk case passed once more)"); the expectations are what the kernel did"
        if let m = modelSaid { why += "; the reference model predicted: \(m)" }
        var steps: [CaseNode] = []
        let setup = map([("setup", map([("flags", scalar(hex(c.ringFlags.rawValue)))]))])
        if !c.ringFlags.isEmpty && !c.hasExplicitSetup { steps.append(setup) }
        let cut = c.unpredictableFrom(observed) ?? Int.max
        let how = FuzzComparison.table(c)
        for (index, step) in c.steps.enumerated() where index < cut {
            let event = index < observed.events.count ? observed.events[index] : nil
            switch step {
            case .ring:
                steps.append(setup)
            case .restrict(let r, _, _):
                var fields: [(String, CaseNode)] = []
                if r.target == .task { fields.append(("task", scalar("true"))) }
                if !r.registerOps.isEmpty { fields.append(("register_ops", list(r.registerOps.map(scalar)))) }
                if !r.sqeOps.isEmpty { fields.append(("sqe_ops", list(r.sqeOps.map(scalar)))) }
                if let a = r.sqeFlagsAllowed { fields.append(("sqe_flags_allowed", scalar(hex(a.rawValue)))) }
                if let q = r.sqeFlagsRequired { fields.append(("sqe_flags_required", scalar(hex(q.rawValue)))) }
                steps.append(map([("restrict", map(fields))] + callExpectation(event)))
            case .enableRings:
                steps.append(map([("enable", .scalar("", line: 0, isNull: true))] + callExpectation(event)))
            case .register(let r, _, _):
                steps.append(map([("register", registration(r))] + registerExpectation(event)))
            case .submit(_, let specs, _, _):
                steps.append(map([("submit", list(specs.map { map(sqeFields($0, c.sqes[$0.userData])) }))] + submitExpectation(event, how)))
            default:
                continue   // the generator makes no other steps
            }
        }
        let one = map([("name", scalar("fuzz seed \(seed) case \(c.index)")), ("why", scalar(why)), ("steps", list(steps))])
        return list([one])
    }

    static func callExpectation(_ event: FuzzObservation.Event?) -> [(String, CaseNode)] {
        guard case .call(_, let ret)? = event, ret != 0 else { return [] }
        return [("expect", map([("errno", scalar(errnoName(ret)))]))]
    }

    static func registerExpectation(_ event: FuzzObservation.Event?) -> [(String, CaseNode)] {
        guard case .register(let ret, let pdu)? = event else { return [] }
        var e: [(String, CaseNode)] = []
        if ret != 0 { e.append(("errno", scalar(errnoName(ret)))) }
        if let p = pdu { e.append(("pdu_size", scalar(p))) }
        return e.isEmpty ? [] : [("expect", map(e))]
    }

    static func submitExpectation(_ event: FuzzObservation.Event?, _ how: [UInt64: FuzzComparison.How]) -> [(String, CaseNode)] {
        guard case .submit(let n, let cqes)? = event else { return [] }
        let items = cqes.map { cqe -> CaseNode in
            let res: String
            switch how[cqe.userData] ?? .exact {
            case .exact: res = cqe.res < 0 ? "-" + Errno.name(-cqe.res) : String(cqe.res)
            case .resultClass: res = cqe.res >= 0 ? "ok" : "-" + Errno.name(-cqe.res)
            case .deniedOnly: res = cqe.res == -Errno.EACCES ? "-EACCES" : cqe.res == -Errno.ECANCELED ? "-ECANCELED" : "allowed"
            }
            return map([("user_data", scalar(hex(cqe.userData))), ("res", scalar(res))])
        }
        return [("expect", map([("submitted", scalar(n)), ("cqes", list(items))]))]
    }

    static func registration(_ r: FilterRegistration) -> CaseNode {
        var fields: [(String, CaseNode)] = []
        switch r.target {
        case .task: fields.append(("task", scalar("true")))
        case .rawFD(let n): fields.append(("fd", scalar(n)))
        case .ring: break
        }
        let op: UInt32 = { if case .number(let n) = r.opcode { return n }; return 0 }()
        fields.append(("opcode", scalar(op < Opcode.lastKnown ? Opcode.name(op) : String(op))))
        if r.flags != 0 { fields.append(("flags", scalar(hex(r.flags)))) }
        fields.append(("pdu_size", scalar(r.pduSize)))
        if r.cmdType != FilterABI.cmdFilter { fields.append(("cmd_type", scalar(r.cmdType))) }
        if r.cmdFlags != 0 { fields.append(("cmd_flags", scalar(r.cmdFlags))) }
        if r.resv != 0 { fields.append(("resv", scalar(r.resv))) }
        if r.filterResv.contains(where: { $0 != 0 }) { fields.append(("filter_resv", list(r.filterResv.map(scalar)))) }
        if r.resv2.contains(where: { $0 != 0 }) { fields.append(("resv2", list(r.resv2.map(scalar)))) }
        if let n = r.filterLen { fields.append(("filter_len", scalar(n))) }
        if r.nrArgs != 1 { fields.append(("nr_args", scalar(r.nrArgs))) }
        if let p = placement(r.argPointer) { fields.append(("arg", p)) }
        if let p = placement(r.filterPointer) { fields.append(("filter_ptr", p)) }
        let source = rawSource(r.program)
        fields.append(("program", .scalar(source.isEmpty ? "" : source + "\n", line: 0, isBlock: true)))
        return map(fields)
    }

    /// The SQE as the generator described it; an SQE it did not describe (none today) as its opcode and fd.
    static func sqeFields(_ spec: SQESpec, _ sqe: FuzzSQE?) -> [(String, CaseNode)] {
        let op: UInt32 = { if case .number(let n) = spec.opcode { return n }; return 0 }()
        var s = sqe ?? FuzzSQE(kind: .fdOnly(opcode: op, fd: spec.fd), userData: spec.userData)
        s.userData = spec.userData; s.flags = spec.flags; s.ioprio = spec.ioprio; s.bufIndex = spec.bufIndex; s.fileIndex = spec.fileIndex
        var f: [(String, CaseNode)] = []
        switch s.kind {
        case .nop(let flags, let len):
            f.append(("op", scalar("NOP")))
            if flags != 0 { f.append(("op_flags", scalar(hex(flags)))) }
            if len != 0 { f.append(("len", scalar(hex(len)))) }
        case .socket(let d, let t, let p):
            f += [("op", scalar("SOCKET")), ("domain", scalar(d)), ("type", scalar(hex(t))), ("protocol", scalar(p))]
        case .openat(let path, let flags, let mode):
            f += [("op", scalar("OPENAT")), ("path", scalar(path)), ("open_flags", scalar(hex(flags))), ("mode", scalar(hex(mode)))]
        case .openat2(let path, let flags, let mode, let resolve, let size):
            f += [("op", scalar("OPENAT2")), ("path", scalar(path)), ("open_flags", scalar(hex(flags))), ("mode", scalar(hex(mode))),
                  ("resolve", scalar(hex(resolve))), ("how_size", scalar(size))]
        case .connect(let target, let len):
            f += [("op", scalar("CONNECT")), ("connect", scalar(target))]
            if let l = len { f.append(("addr_len", scalar(hex(l)))) }
        case .fdOnly(let op, let fd):
            f += [("op", scalar(op < Opcode.lastKnown ? Opcode.name(op) : String(op))), ("fd", scalar(fd))]
        }
        f.append(("user_data", scalar(hex(s.userData))))
        if !s.flags.isEmpty { f.append(("flags", scalar(hex(s.flags.rawValue)))) }
        if s.ioprio != 0 { f.append(("ioprio", scalar(s.ioprio))) }
        if s.bufIndex != 0 { f.append(("buf_index", scalar(s.bufIndex))) }
        if s.fileIndex != 0 { f.append(("file_index", scalar(s.fileIndex))) }
        return f
    }
}
