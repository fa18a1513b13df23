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

    static func placement(_ p: Placement) -> String? {
        switch p {
        case .normal: return nil
        case .null: return "null"
        case .unmapped: return "unmapped"
        case .readOnly: return "readonly"
        case .truncated(let n): return "\"truncated:\(n)\""
        }
    }

    static func errnoName(_ ret: Int32) -> String { ret < 0 ? Errno.name(-ret) : "0" }

    public static func yaml(_ c: FuzzCase, observed: FuzzObservation, seed: UInt64, modelSaid: FuzzObservation?,
                            shrunk: Bool = true) -> String {
        var out: [String] = []
        out.append("- name: fuzz seed \(seed) case \(c.index)")
        var why = "found by fuzzing: ringfence fuzz --seed \(seed), case \(c.index)\(shrunk ? ", shrunk" : " (not shrunk: the shrunk case passed once more)"); the expectations are what the kernel did"
        if let m = modelSaid { why += "; the reference model predicted: \(m)" }
        out.append("  why: \(yamlString(why))")
        out.append("  steps:")
        var events = observed.events[...]
        let setupFirst = c.ringFlags != 0 && !c.hasExplicitSetup
        if setupFirst { out.append("    - setup: { flags: \(hex(c.ringFlags)) }") }
        let cut = c.unpredictableFrom(observed) ?? Int.max
        for (index, action) in c.actions.enumerated() where index < cut {
            let event = events.popFirst()
            switch action {
            case .setup:
                out.append("    - setup: { flags: \(hex(c.ringFlags)) }")
            case .restrict(let r):
                var fields: [String] = []
                if r.target == .task { fields.append("task: true") }
                if !r.registerOps.isEmpty { fields.append("register_ops: [\(r.registerOps.map(String.init).joined(separator: ", "))]") }
                if !r.sqeOps.isEmpty { fields.append("sqe_ops: [\(r.sqeOps.map(String.init).joined(separator: ", "))]") }
                if let a = r.sqeFlagsAllowed { fields.append("sqe_flags_allowed: \(hex(a))") }
                if let q = r.sqeFlagsRequired { fields.append("sqe_flags_required: \(hex(q))") }
                out.append("    - restrict: { \(fields.joined(separator: ", ")) }")
                if case .call(_, let ret)? = event, ret != 0 { out.append("      expect: { errno: \(errnoName(ret)) }") }
            case .enable:
                out.append("    - enable:")
                if case .call(_, let ret)? = event, ret != 0 { out.append("      expect: { errno: \(errnoName(ret)) }") }
            case .register(let r):
                var fields: [String] = []
                switch r.target {
                case .task: fields.append("task: true")
                case .rawFD(let n): fields.append("fd: \(n)")
                case .ring: break
                }
                let op: UInt32 = { if case .number(let n) = r.opcode { return n }; return 0 }()
                fields.append("opcode: \(op < Opcode.lastKnown ? Opcode.name(op) : String(op))")
                if r.flags != 0 { fields.append("flags: \(hex(r.flags))") }
                fields.append("pdu_size: \(r.pduSize)")
                if r.cmdType != FilterABI.cmdFilter { fields.append("cmd_type: \(r.cmdType)") }
                if r.cmdFlags != 0 { fields.append("cmd_flags: \(r.cmdFlags)") }
                if r.resv != 0 { fields.append("resv: \(r.resv)") }
                if r.filterResv.contains(where: { $0 != 0 }) { fields.append("filter_resv: [\(r.filterResv.map(String.init).joined(separator: ", "))]") }
                if r.resv2.contains(where: { $0 != 0 }) { fields.append("resv2: [\(r.resv2.map(String.init).joined(separator: ", "))]") }
                if let n = r.filterLen { fields.append("filter_len: \(n)") }
                if r.nrArgs != 1 { fields.append("nr_args: \(r.nrArgs)") }
                if let p = placement(r.argPointer) { fields.append("arg: \(p)") }
                if let p = placement(r.filterPointer) { fields.append("filter_ptr: \(p)") }
                out.append("    - register:")
                for f in fields { out.append("        \(f)") }
                out.append("        program: |")
                for line in rawSource(r.program).split(separator: "\n") { out.append("          \(line)") }
                if case .register(let ret, let pdu)? = event {
                    var e: [String] = []
                    if ret != 0 { e.append("errno: \(errnoName(ret))") }
                    if let p = pdu { e.append("pdu_size: \(p)") }
                    if !e.isEmpty { out.append("      expect: { \(e.joined(separator: ", ")) }") }
                }
            case .submit(let sqes):
                out.append("    - submit:")
                for s in sqes { out.append("        - { \(sqeFields(s).joined(separator: ", ")) }") }
                if case .submit(let n, let cqes)? = event {
                    var how: [UInt64: FuzzSQE.Comparison] = [:]
                    for case .submit(let all) in c.actions { for s in all { how[s.userData] = s.comparison } }
                    let items = cqes.map { cqe -> String in
                        let res: String
                        switch how[cqe.userData] ?? .exact {
                        case .exact: res = cqe.res < 0 ? "-" + Errno.name(-cqe.res) : String(cqe.res)
                        case .resultClass: res = cqe.res >= 0 ? "ok" : "-" + Errno.name(-cqe.res)
                        case .deniedOnly: res = cqe.res == -Errno.EACCES ? "-EACCES" : cqe.res == -Errno.ECANCELED ? "-ECANCELED" : "allowed"
                        }
                        return "{ user_data: \(hex(cqe.userData)), res: \(res) }"
                    }
                    out.append("      expect: { submitted: \(n), cqes: [ \(items.joined(separator: ", ")) ] }")
                }
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func sqeFields(_ s: FuzzSQE) -> [String] {
        var f: [String] = []
        switch s.kind {
        case .nop(let flags, let len):
            f.append("op: NOP")
            if flags != 0 { f.append("op_flags: \(hex(flags))") }
            if len != 0 { f.append("len: \(hex(len))") }
        case .socket(let d, let t, let p):
            f += ["op: SOCKET", "domain: \(d)", "type: \(hex(t))", "protocol: \(p)"]
        case .openat(let path, let flags, let mode):
            f += ["op: OPENAT", "path: \(yamlString(path))", "open_flags: \(hex(flags))", "mode: \(hex(mode))"]
        case .openat2(let path, let flags, let mode, let resolve, let size):
            f += ["op: OPENAT2", "path: \(yamlString(path))", "open_flags: \(hex(flags))", "mode: \(hex(mode))",
                  "resolve: \(hex(resolve))", "how_size: \(size)"]
        case .connect(let target, let len):
            f += ["op: CONNECT", "connect: \(yamlString(target))"]
            if let l = len { f.append("addr_len: \(hex(l))") }
        case .fdOnly(let op, let fd):
            f += ["op: \(op < Opcode.lastKnown ? Opcode.name(op) : String(op))", "fd: \(fd)"]
        }
        f.append("user_data: \(hex(s.userData))")
        if s.flags != 0 { f.append("flags: \(hex(s.flags))") }
        if s.ioprio != 0 { f.append("ioprio: \(s.ioprio)") }
        if s.bufIndex != 0 { f.append("buf_index: \(s.bufIndex)") }
        if s.fileIndex != 0 { f.append("file_index: \(s.fileIndex)") }
        return f
    }

    static func yamlString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
