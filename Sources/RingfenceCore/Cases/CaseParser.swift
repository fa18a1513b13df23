#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import CRingfence

/// Turns one case's YAML into a TestCase. The vocabulary is documented in
/// docs/writing-cases.md; keep the two in step.
struct CaseParser {
    let file: String

    /// Assembler.assemble, its time counted in CaseLoader.timings. The same
    /// program text always assembles to the same instructions, and most cases
    /// share a few programs (`ret #1`, `ret #0`), so successes are remembered;
    /// an error is never cached, so it is always thrown with its own line.
    /// The memo is shared by every thread that loads cases (swift-testing runs
    /// suites in parallel: unguarded, two loads at once crashed the test
    /// process with SIGSEGV once in six runs), so it is behind a lock.
    static func timedAssemble(_ source: String) throws -> [BPFInstruction] {
        if let known = assembledLock.withLock({ assembled[source] }) { return known }
        let t0 = rf_now_ns()
        defer {
            CaseLoader.timings.assembleNs += rf_now_ns() - t0
            CaseLoader.timings.assembleCalls += 1
        }
        let insns = try Assembler.assemble(source)
        assembledLock.withLock { assembled[source] = insns }
        return insns
    }
    nonisolated(unsafe) private static var assembled: [String: [BPFInstruction]] = [:]
    private static let assembledLock = ProcessLock()

    private static let caseKeys: Set<String> = ["name", "why", "requires", "timeout", "tier", "steps", "inject", "byte_order"]
    private static let stepActions: Set<String> = ["setup", "register", "restrict", "enable", "submit", "fork",
                                                   "no_new_privs", "drop_privileges", "close", "taint",
                                                   "thread", "exec", "spawn", "user_namespace", "send_ring"]

    /// One case; every error in it is collected (each step on its own) and
    /// thrown together (CaseFileErrors), so lint shows them all at once.
    func parseCase(_ f: YAMLField, index: Int) throws -> TestCase {
        var errors: [CaseFileError] = []
        func attempt<T>(_ body: () throws -> T) -> T? {
            do { return try body() } catch {
                errors += CaseFileErrors.flatten(error, file: file, line: f.line)
                return nil
            }
        }
        let fields = try f.mapping(allowed: Self.caseKeys, unknown: { errors.append($0) })
        let dict = Dictionary(fields, uniquingKeysWith: { a, _ in a })
        var name = "case #\(index + 1)"
        if let nameField = dict["name"] {
            if let n = attempt({ try nameField.string() }) {
                name = n
                if n.trimmingBlanks().isEmpty {
                    errors.append(nameField.error("the name is empty; give the case a short sentence, e.g. name: \"Nonzero resv is rejected\""))
                } else if n.contains("#") {
                    errors.append(nameField.error("a name may not contain '#' (KTAP uses it for directives)"))
                } else if CaseLoader.caseID(file: file, name: n).hasSuffix(":") {
                    errors.append(nameField.error("the name '\(n)' has no letter or digit to make an id from; use words"))
                }
            }
        } else {
            errors.append(f.error("case #\(index + 1) has no 'name'; add name: \"what the case shows\""))
        }
        var requires: [Requirement] = [.bpfFilter]
        if let r = dict["requires"], let items = attempt({ try r.sequence() }) {
            for item in items { if let req = attempt({ try requirement(item) }) { requires.append(req) } }
        }
        var usedOpcodes: [UInt32] = []
        var steps: [Step] = []
        if let stepsField = dict["steps"] {
            if let parsed = attempt({ try parseSteps(stepsField, usedOpcodes: &usedOpcodes) }) {
                steps = parsed
                if steps.isEmpty { errors.append(stepsField.error("a case needs at least one step")) }
            }
        } else {
            errors.append(f.error("case '\(name)' has no 'steps'; add steps: [...] (docs/writing-cases.md)"))
        }
        if !steps.isEmpty, let stepsField = dict["steps"] { _ = attempt { try Self.checkNesting(steps, inFork: false, f: stepsField) } }
        var injection: FaultInjection?
        if let inj = dict["inject"], !steps.isEmpty {
            injection = attempt { try parseInjection(inj, steps: steps, usedOpcodes: &usedOpcodes) }
            requires.append(.faultInjection)
        }
        // A named opcode the running kernel may not know yet is a requirement, not a failure.
        for op in Set(usedOpcodes).sorted() where !requires.contains(.opcode(op)) { requires.append(.opcode(op)) }
        var tier = Tier.standard
        if let t = dict["tier"] {
            if let parsed = attempt({ () throws -> Tier in
                guard let parsed = Tier(rawValue: try t.string()) else { throw t.error("tier is standard or exhaustive") }
                return parsed
            }) { tier = parsed }
        }
        let why = dict["why"].flatMap { w in attempt { try w.string() } }
        let timeout = dict["timeout"].flatMap { t in attempt { try caseTimeout(t) } }
        let byteOrder = dict["byte_order"].flatMap { b in attempt { try declaredByteOrder(b) } }
        try CaseFileErrors.check(errors.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(\.element))
        var c = TestCase(
            id: CaseLoader.caseID(file: file, name: name), name: name,
            why: why, location: SourceLocation(file: file, line: f.line),
            requires: requires, steps: steps, timeout: timeout, tier: tier)
        c.injection = injection
        c.byteOrder = byteOrder
        return c
    }

    /// `byte_order: { order: little, reason: "..." }`: the case holds only on
    /// machines of that byte order (docs/writing-cases.md, "Byte order").
    private func declaredByteOrder(_ f: YAMLField) throws -> DeclaredByteOrder {
        let usage = "write byte_order: { order: little, reason: \"why the case cannot be byte-order neutral\" } (or order: big)"
        guard f.node.kind == .mapping else { throw f.error(usage) }
        let fields = Dictionary(try f.mapping(allowed: ["order", "reason"]), uniquingKeysWith: { a, _ in a })
        guard let o = fields["order"] else { throw f.error("byte_order needs 'order' (little or big); " + usage) }
        guard let order = ByteOrder(rawValue: try o.string()) else { throw o.error("order is little or big") }
        guard let r = fields["reason"], case let reason = try r.string(), !reason.trimmingBlanks().isEmpty else {
            throw f.error("byte_order needs a 'reason': say why the case cannot use named fields; " + usage)
        }
        return DeclaredByteOrder(order: order, reason: reason)
    }

    /// `inject: { step: K, errno: [ENOMEM], if_failed: [steps], max: 400 }`.
    private func parseInjection(_ f: YAMLField, steps: [Step], usedOpcodes: inout [UInt32]) throws -> FaultInjection {
        let fields = Dictionary(try f.mapping(allowed: ["step", "errno", "if_failed", "max"]), uniquingKeysWith: { a, _ in a })
        guard let stepField = fields["step"] else { throw f.error("inject needs 'step': the number of the step (1 = the first) to run with an allocation failing") }
        let k: Int = try stepField.integer()
        guard k >= 1 && k <= steps.count else { throw stepField.error("inject step \(k) is out of range: the case has \(steps.count) steps (1 to \(steps.count))") }
        switch steps[k - 1] {
        case .ring, .register, .restrict, .fork: break
        default: throw stepField.error("inject step \(k) is a '\(steps[k - 1].kind)' step; only setup, register, restrict and fork steps run with an allocation failing")
        }
        var errnos: [Int32] = [Errno.ENOMEM]
        if let e = fields["errno"] {
            let items = e.node.kind == .sequence ? try e.sequence() : [e]
            errnos = try items.map { item -> Int32 in
                let name = try item.string()
                guard let v = Errno.number(name) else { throw item.error("unknown errno '\(name)'") }
                return v
            }
        }
        var maxN = 400
        if let m = fields["max"] {
            maxN = try m.integer()
            guard maxN >= 1 && maxN <= 10_000 else { throw m.error("inject max is 1 to 10000, not \(maxN)") }
        }
        guard let ifFailed = fields["if_failed"] else {
            throw f.error("inject needs 'if_failed': the steps that must hold when the injected step failed (the state as before it)")
        }
        return FaultInjection(step: k, errnos: errnos, ifFailed: try parseSteps(ifFailed, usedOpcodes: &usedOpcodes), maxN: maxN)
    }

    /// Seconds, 1 to `TestCase.maximumTimeout`: a case's child is killed after
    /// it, so 0, a negative or an absurd value is an error here, not a trap later.
    private func caseTimeout(_ f: YAMLField) throws -> Double {
        let text = try f.string()
        guard let v = Double(text.replacingOccurrences(of: "_", with: "")), v.isFinite else {
            throw f.error("timeout is a number of seconds, not '\(text)'")
        }
        guard v > 0, v <= TestCase.maximumTimeout else {
            throw f.error("timeout must be more than 0 and at most \(Int(TestCase.maximumTimeout)) seconds, not \(text)")
        }
        return v
    }

    private func requirement(_ f: YAMLField) throws -> Requirement {
        let text = try f.string()
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts[0], parts.count) {
        case ("bpf-filter", 1): return .bpfFilter
        case ("root", 1): return .root
        case ("module", 2): return .module(parts[1])
        case ("context", 2), ("opcode", 2):
            guard let op = Opcode.number(parts[1]) else { throw f.error("unknown opcode '\(parts[1])'") }
            return parts[0] == "context" ? .context(opcode: op) : .opcode(op)
        default:
            throw f.error("unknown requirement '\(text)' (bpf-filter, root, module:NAME, context:OPCODE, opcode:OPCODE)")
        }
    }

    /// Every step is parsed, the errors of all of them thrown together.
    func parseSteps(_ f: YAMLField, usedOpcodes: inout [UInt32]) throws -> [Step] {
        var steps: [Step] = []
        var errors: [CaseFileError] = []
        for item in try f.sequence() {
            do { steps.append(try parseStep(item, usedOpcodes: &usedOpcodes)) } catch {
                errors += CaseFileErrors.flatten(error, file: file, line: item.line)
            }
        }
        try CaseFileErrors.check(errors)
        return steps
    }

    private func parseStep(_ f: YAMLField, usedOpcodes: inout [UInt32]) throws -> Step {
        let fields = try f.mapping(allowed: Self.stepActions.union(["expect", "ring", "for"]))
        let actions = fields.filter { Self.stepActions.contains($0.0) }
        guard actions.count == 1, let (action, body) = actions.first else {
            throw f.error("a step needs exactly one action (\(Self.stepActions.sorted().joined(separator: ", ")))")
        }
        let dict = Dictionary(fields, uniquingKeysWith: { a, _ in a })
        let expect = dict["expect"]
        let ringName = try dict["ring"]?.string() ?? "main"
        let loc = SourceLocation(file: file, line: f.line)
        if dict["for"] != nil && action != "register" { throw f.error("'for' only repeats 'register' steps") }
        switch action {
        case "setup":
            return .ring(try ringSpec(body), expectErrno: try errnoOnly(expect), loc)
        case "register":
            if let sweepField = dict["for"] {
                var sweep = try self.sweep(sweepField)
                let (reg, op) = try registration(body, sweep: &sweep)
                if let op { usedOpcodes.append(op) }
                return .sweep(sweep, reg, try registerExpectation(expect), loc)
            }
            let (reg, op) = try registration(body)
            if let op { usedOpcodes.append(op) }
            return .register(reg, try registerExpectation(expect), loc)
        case "restrict":
            return .restrict(try restriction(body), expectErrno: try errnoOnly(expect), loc)
        case "enable":
            let name = body.isNull ? ringName : try body.string()
            return .enableRings(ring: name, expectErrno: try errnoOnly(expect), loc)
        case "submit":
            guard let expect else { throw f.error("a submit step needs 'expect: { cqes: [...] }'") }
            let sqes = try body.sequence().enumerated().map { try sqe($0.element, index: $0.offset, usedOpcodes: &usedOpcodes) }
            return .submit(ring: ringName, sqes, try submitExpectation(expect), loc)
        case "fork":
            if expect != nil { throw f.error("'fork' takes no 'expect'; its steps carry their own") }
            return .fork(try parseSteps(body, usedOpcodes: &usedOpcodes), loc)
        case "thread":
            if expect != nil { throw f.error("'thread' takes no 'expect'; its steps carry their own") }
            return .thread(try parseSteps(body, usedOpcodes: &usedOpcodes), loc)
        case "exec", "spawn":
            if expect != nil { throw f.error("'\(action)' takes no 'expect'; its steps carry their own") }
            return .exec(try execSpec(body, spawn: action == "spawn", usedOpcodes: &usedOpcodes), loc)
        case "user_namespace":
            if expect != nil { throw f.error("'user_namespace' takes no 'expect'") }
            guard try body.bool() else { throw body.error("user_namespace: true is the only form") }
            return .userNamespace(loc)
        case "send_ring":
            return try sendRing(body, ring: ringName, expectErrno: try errnoOnly(expect), loc)
        case "no_new_privs":
            return .setNoNewPrivs(loc)
        case "drop_privileges":
            return .dropPrivileges(loc)
        case "close":
            return .closeRing(body.isNull ? ringName : try body.string(), loc)
        case "taint":
            if expect != nil { throw f.error("'taint' takes no 'expect'") }
            return .taint(try taintMask(body), loc)
        default:
            throw f.error("unknown action '\(action)'")
        }
    }

    /// `send_ring: NAME` or `send_ring: { ring, as, via: scm_rights|pidfd_getfd }`.
    private func sendRing(_ body: YAMLField, ring ringName: String, expectErrno errno: Int32?, _ loc: SourceLocation) throws -> Step {
        if body.node.kind == .scalar { let r = try body.string(); return .sendRing(ring: r, as: r, via: .scmRights, expectErrno: errno, loc) }
        var ring = ringName, alias: String?, via = RingPassing.scmRights
        for (key, v) in try body.mapping(allowed: ["ring", "as", "via"]) {
            switch key {
            case "ring": ring = try v.string()
            case "as": alias = try v.string()
            default:
                guard let p = RingPassing(rawValue: try v.string()) else { throw v.error("via is scm_rights or pidfd_getfd") }
                via = p
            }
        }
        return .sendRing(ring: ring, as: alias ?? ring, via: via, expectErrno: errno, loc)
    }

    /// `taint: "UW"`: the kernel's taint letters as a mask of /proc/sys/kernel/tainted bits.
    private func taintMask(_ body: YAMLField) throws -> UInt64 {
        var mask: UInt64 = 0
        for ch in try body.string() where ch != " " {
            guard let bit = KernelTaint.bit(forLetter: ch) else {
                throw body.error("unknown taint letter '\(ch)' (the kernel's: \(KernelTaint.flags.map { String($0.letter) }.joined()))")
            }
            mask |= 1 << UInt64(bit)
        }
        if mask == 0 { throw body.error("taint needs at least one letter, e.g. U") }
        return mask
    }

    /// OPENAT/OPENAT2's typed fields: `open_flags`, `mode`, `resolve` (OPENAT2:
    /// an open_how at off, how_size bytes, `how_tail` in its last byte).
    private func openFields(_ dict: [String: YAMLField], opName: String, into s: inout SQESpec) throws {
        let symbols: (String) -> UInt64? = { SymbolicConstant.value($0).map(UInt64.init) }
        let archNames = Set(SymbolicConstant.archOpenFlags.map(\.name))
        var archUsed: [String] = []
        let openFlags: UInt64 = try dict["open_flags"]?.flags(UInt64.self, names: { n in
            if archNames.contains(n.uppercased()) && !archUsed.contains(n.uppercased()) { archUsed.append(n.uppercased()) }
            return symbols(n)
        }, what: "O_ flag") ?? 0
        s.archOpenFlags = archUsed
        let mode: UInt64 = try dict["mode"]?.integer(UInt64.self) ?? 0
        let resolve: UInt64 = try dict["resolve"]?.flags(UInt64.self, names: { symbols($0) }, what: "RESOLVE_ flag") ?? 0
        if opName == "OPENAT2" {
            var how = ByteImage(size: 24)
            how.store(openFlags, at: 0); how.store(mode, at: 8); how.store(resolve, at: 16)
            s.len = try dict["how_size"]?.integer() ?? 24
            // The kernel reads how_size bytes (copy_struct_from_user): pad with
            // zeroes, or put how_tail in the last byte past the 24 known ones.
            var bytes = how.bytes + Array(repeating: 0, count: max(0, Int(s.len) - 24))
            if let t = dict["how_tail"] {
                guard s.len > 24 else { throw t.error("how_tail needs how_size > 24") }
                bytes[Int(s.len) - 1] = try t.integer()
            }
            s.offPayload = bytes
        } else if dict["open_flags"] != nil || dict["mode"] != nil {
            s.opFlags = UInt32(truncatingIfNeeded: openFlags)
            s.len = UInt32(truncatingIfNeeded: mode)
        }
    }

    /// The raw SQE fields, applied after the typed helpers so they override them.
    private func rawField(_ key: String, _ v: YAMLField, into s: inout SQESpec) throws {
        let symbols: (String) -> UInt64? = { SymbolicConstant.value($0).map(UInt64.init) }
        switch key {
        case "user_data": s.userData = try v.integer()
        case "flags": s.flags = SQEFlags(rawValue: try sqeFlags(v))
        case "ioprio": s.ioprio = try v.integer()
        case "fd": s.fd = try v.integer(); s.socketForFD = nil; s.pipeEndForFD = nil
        case "off": s.off = try v.integer(); s.offPayload = nil
        case "addr": s.addr = try v.integer(); s.addrPayload = nil
        case "len": s.len = try v.integer()
        case "op_flags": s.opFlags = try v.integer(symbols: symbols); s.archOpenFlags = []
        case "buf_index": s.bufIndex = try v.integer()
        case "personality": s.personality = try v.integer()
        case "file_index": s.fileIndex = try v.integer()
        case "addr3": s.addr3 = try v.integer()
        case "addr_len": s.off = try v.integer()
        case "ring_fd": s.ringForFD = try v.string(); s.socketForFD = nil; s.pipeEndForFD = nil
        default: break
        }
    }

    /// `exec: [steps]` or `exec: { keep: [rings], before: [steps], steps: [steps] }`; `spawn:` alike, without `before`.
    private func execSpec(_ f: YAMLField, spawn: Bool, usedOpcodes: inout [UInt32]) throws -> ExecSpec {
        var keep: [String] = [], before: [Step] = []
        var stepsField = f
        if f.node.kind == .mapping {
            var found: YAMLField?
            for (key, v) in try f.mapping(allowed: spawn ? ["keep", "steps"] : ["keep", "before", "steps"]) {
                switch key {
                case "keep": keep = try v.sequence().map { try $0.string() }
                case "before": before = try parseSteps(v, usedOpcodes: &usedOpcodes)
                default: found = v
                }
            }
            guard let found else { throw f.error("'\(spawn ? "spawn" : "exec")' needs 'steps'") }
            stepsField = found
        }
        let steps = try parseSteps(stepsField, usedOpcodes: &usedOpcodes)
        if steps.isEmpty { throw stepsField.error("the new image needs at least one step") }
        return ExecSpec(spawn: spawn, keep: keep, before: before, steps: steps)
    }

    /// send_ring needs a parent to send to: it must sit inside a fork: (not inside a
    /// spawn or exec of that fork, whose process or image has no channel to it).
    static func checkNesting(_ steps: [Step], inFork: Bool, f: YAMLField) throws {
        for step in steps {
            switch step {
            case .fork(let inner, _): try checkNesting(inner, inFork: true, f: f)
            case .thread(let inner, _): try checkNesting(inner, inFork: inFork, f: f)
            case .exec(let e, _):
                try checkNesting(e.before, inFork: false, f: f)
                try checkNesting(e.steps, inFork: false, f: f)
            case .sendRing(_, _, _, _, let loc) where !inFork:
                throw CaseFileError(file: loc.file, line: loc.line, field: "send_ring",
                                    message: "send_ring passes a ring to the parent of a fork: child; put it directly inside fork:")
            default: continue
            }
        }
    }

    // MARK: ring, restrict

    private func ringSpec(_ f: YAMLField) throws -> RingSpec {
        if f.node.kind == .scalar { return RingSpec(name: try f.string()) }
        var spec = RingSpec(name: "main")
        for (key, v) in try f.mapping(allowed: ["name", "entries", "flags", "register_fd"]) {
            switch key {
            case "name": spec.name = try v.string()
            case "entries": spec.entries = try v.integer()
            case "flags": spec.flags = SetupFlags(rawValue: try v.flags(UInt32.self, names: { IoUringNames.lookup($0, in: IoUringNames.setupFlags, prefix: "IORING_SETUP_") }, what: "IORING_SETUP_ flag"))
            default: spec.registerFD = try v.bool()
            }
        }
        return spec
    }

    private func restriction(_ f: YAMLField) throws -> RestrictionSpec {
        var r = RestrictionSpec()
        let keys: Set<String> = ["ring", "task", "register_ops", "sqe_ops", "sqe_flags_allowed", "sqe_flags_required",
                                 "flags", "resv", "nr_args"]
        for (key, v) in try f.mapping(allowed: keys) {
            switch key {
            case "ring": r.target = .ring(try v.string())
            case "task": r.target = try v.bool() ? .task : r.target
            case "register_ops":
                r.registerOps = try v.sequence().map { item in
                    let n = try item.flags(UInt32.self, names: { IoUringNames.lookup($0, in: IoUringNames.registerOps, prefix: "IORING_REGISTER_") }, what: "register opcode")
                    guard let b = UInt8(exactly: n) else { throw item.error("register opcode \(n) is out of range: 0 to 255") }
                    return b
                }
            case "sqe_ops":
                r.sqeOps = try v.sequence().map { item in
                    guard case .number(let n) = try opcodeRef(item, max: 255, what: "an SQE opcode (__u8)").0, let b = UInt8(exactly: n) else {
                        throw item.error("expected an opcode name or number 0 to 255 (LAST is not allowed here)")
                    }
                    return b
                }
            case "sqe_flags_allowed": r.sqeFlagsAllowed = SQEFlags(rawValue: try sqeFlags(v))
            case "sqe_flags_required": r.sqeFlagsRequired = SQEFlags(rawValue: try sqeFlags(v))
            case "flags": r.taskFlags = try v.integer()
            case "resv": r.taskResv = try v.sequence().map { try $0.integer(UInt32.self) }
            default: r.nrArgs = try v.integer()
            }
        }
        return r
    }

    private func sqeFlags(_ f: YAMLField) throws -> UInt8 {
        try f.flags(UInt8.self, names: { IoUringNames.lookup($0, in: IoUringNames.sqeFlags, prefix: "IOSQE_") }, what: "IOSQE_ flag")
    }

    // MARK: register

    /// `for: { VAR: "A..B" | "A..B step S" | [values], except: [values] }`
    private func sweep(_ f: YAMLField) throws -> Sweep {
        var variable: String?
        var values: [UInt32] = []
        var toLast: (lo: UInt32, minus: UInt32, step: UInt32)?
        var except = Set<UInt32>()
        for (key, v) in try f.mapping() {
            if key == "except" {
                except = Set(try v.sequence().map { try $0.integer(UInt32.self) })
                continue
            }
            guard variable == nil else { throw v.error("'for' takes one variable (and 'except')") }
            guard key.allSatisfy({ $0.isLetter || $0 == "_" }) else { throw v.error("variable names are letters and _") }
            variable = key
            if v.node.kind == .sequence {
                values = try v.sequence().map { try $0.integer(UInt32.self) }
            } else if let r = try rangeToLast(v) {
                toLast = r
            } else {
                values = try range(v)
            }
        }
        guard let variable else { throw f.error("'for' needs a variable, e.g. for: { code: \"0..0xff\" }") }
        if let toLast {
            var s = Sweep(variable: variable, values: [])
            s.rangeToLast = toLast
            s.except = except
            return s
        }
        let kept = values.filter { !except.contains($0) }
        guard !kept.isEmpty else { throw f.error("'for' leaves no values") }
        return Sweep(variable: variable, values: kept)
    }

    /// "A..LAST-N" (optionally "step S"): a range up to the running kernel's IORING_OP_LAST minus N.
    private func rangeToLast(_ f: YAMLField) throws -> (lo: UInt32, minus: UInt32, step: UInt32)? {
        let text = try f.string()
        let parts = text.components(separatedBy: " step ")
        let ends = parts[0].components(separatedBy: "..")
        guard ends.count == 2 else { return nil }
        let hi = ends[1].trimmingCharacters(in: .whitespaces)
        guard hi.hasPrefix("LAST") else { return nil }
        let minusText = hi.dropFirst(4)
        guard let lo = YAMLField.integerValue(ends[0].trimmingCharacters(in: .whitespaces), as: UInt32.self),
              let minus = minusText.isEmpty ? 0 : (minusText.hasPrefix("-") ? UInt32(minusText.dropFirst()) : nil),
              let step = parts.count == 2 ? YAMLField.integerValue(parts[1].trimmingCharacters(in: .whitespaces), as: UInt32.self) : 1,
              step > 0, parts.count <= 2 else {
            throw f.error("expected 'A..LAST' or 'A..LAST-N' (LAST is the running kernel's IORING_OP_LAST)")
        }
        return (lo, minus, step)
    }

    private func range(_ f: YAMLField) throws -> [UInt32] {
        let text = try f.string()
        let parts = text.components(separatedBy: " step ")
        let ends = parts[0].components(separatedBy: "..")
        guard ends.count == 2, parts.count <= 2,
              let lo = YAMLField.integerValue(ends[0].trimmingCharacters(in: .whitespaces), as: UInt32.self),
              let hi = YAMLField.integerValue(ends[1].trimmingCharacters(in: .whitespaces), as: UInt32.self), lo <= hi,
              let step = parts.count == 2 ? YAMLField.integerValue(parts[1].trimmingCharacters(in: .whitespaces), as: UInt32.self) : 1,
              step > 0 else {
            throw f.error("expected a list or a range 'A..B' (inclusive) or 'A..B step S'")
        }
        guard (hi - lo) / step < 1_000_000 else { throw f.error("range too long") }
        return Array(stride(from: lo, through: hi, by: Int(step)))
    }

    /// Returns the registration and the opcode number when given by name.
    /// With a sweep, the program is assembled once per value to catch errors now.
    private func registration(_ f: YAMLField, sweep: inout Sweep) throws -> (FilterRegistration, UInt32?) {
        var s: Sweep? = sweep
        let r = try registration(f, sweepRef: &s)
        sweep = s!
        return r
    }

    private func registration(_ f: YAMLField) throws -> (FilterRegistration, UInt32?) {
        var none: Sweep? = nil
        return try registration(f, sweepRef: &none)
    }

    private func registration(_ f: YAMLField, sweepRef: inout Sweep?) throws -> (FilterRegistration, UInt32?) {
        let sweep = sweepRef
        var r = FilterRegistration()
        var named: UInt32?
        var paddedTo: Int?
        var paddedField: YAMLField?
        var programField: YAMLField?
        let keys: Set<String> = ["ring", "task", "fd", "opcode", "program", "padded_to", "flags", "pdu_size", "cmd_type",
                                 "cmd_flags", "resv", "filter_resv", "resv2", "filter_len", "filter_ptr", "arg",
                                 "nr_args", "registered_ring"]
        for (key, v) in try f.mapping(allowed: keys) {
            switch key {
            case "ring": r.target = .ring(try v.string())
            case "task": if try v.bool() { r.target = .task }
            case "fd": r.target = .rawFD(try v.integer())
            case "opcode":
                if let sw = sweep, try v.string() == "$" + sw.variable {
                    sweepRef?.opcodeFromVariable = true
                } else {
                    (r.opcode, named) = try opcodeRef(v)
                }
            case "program": programField = v
            case "padded_to": paddedTo = try v.integer(); paddedField = v
            case "flags": r.flags = try v.flags(UInt32.self, names: filterFlag, what: "filter flag (DENY_REST, SZ_STRICT)")
            case "pdu_size": r.pduSize = try v.integer()
            case "cmd_type": r.cmdType = try v.integer()
            case "cmd_flags": r.cmdFlags = try v.integer()
            case "resv": r.resv = try v.integer()
            case "filter_resv": r.filterResv = try fixedList(v, count: FilterABI.Filter.resvCount)
            case "resv2": r.resv2 = try fixedList(v, count: FilterABI.Filter.resv2Count)
            case "filter_len": r.filterLen = try v.integer()
            case "filter_ptr": r.filterPointer = try placement(v)
            case "arg": r.argPointer = try placement(v)
            case "nr_args": r.nrArgs = try v.integer()
            default: r.useRegisteredRing = try v.bool()
            }
        }
        guard let programField else { throw f.error("'register' needs a 'program'") }
        r.programSource = try programField.string()
        // Raw `ld [k]` loads, for lint's byte-order rule (CaseLint.byteOrder).
        r.rawLoads = Assembler.rawContextLoads(r.programSource).map {
            RawContextLoad(location: SourceLocation(file: file, line: programLine(programField, $0.line)), offset: $0.offset)
        }
        do {
            if let sweep {
                guard r.programSource.contains("$" + sweep.variable) || sweepRef?.opcodeFromVariable == true else {
                    throw programField.error("neither the program nor the opcode uses $\(sweep.variable)")
                }
                if paddedTo != nil { throw f.error("padded_to cannot be combined with 'for'") }
                let probe = sweep.rangeToLast.map { [$0.lo] } ?? [sweep.values.first!, sweep.values.last!]
                for v in probe { _ = try Self.timedAssemble(sweep.substitute(r.programSource, v)) }
                return (r, named)
            }
            r.program = try Self.timedAssemble(r.programSource)
        } catch let e as AssemblyError {
            throw CaseFileError(file: file, line: programLine(programField, e.line), field: programField.path,
                                message: "program line \(e.line): \(e.message)")
        }
        if let n = paddedTo, let pf = paddedField {
            guard n >= 0, n <= Self.maxPaddedTo else {
                throw pf.error("padded_to \(n) is out of range: \(r.program.count) (the program's length) to \(Self.maxPaddedTo)")
            }
            guard n >= r.program.count else {
                let insns = r.program.count == 1 ? "1 instruction" : "\(r.program.count) instructions"
                throw pf.error("padded_to \(n) is less than the program's \(insns); pad to at least \(r.program.count) or drop padded_to")
            }
            // BPF_LD|BPF_IMM, k=0: accepted everywhere, changes nothing the program then computes.
            r.program = Array(repeating: BPFInstruction(code: 0x00, jt: 0, jf: 0, k: 0), count: n - r.program.count) + r.program
        }
        return (r, named)
    }

    /// The longest padded program a case may ask for (16 times BPF_MAXINSNS).
    static let maxPaddedTo = 65535

    /// The file line of a program line: block scalars start on the next line.
    private func programLine(_ f: YAMLField, _ programLine: Int) -> Int {
        if f.node.kind == .scalar, f.node.isBlock { return f.line + programLine }
        return f.line
    }

    private func filterFlag(_ name: String) -> UInt32? {
        let bare = name.hasPrefix("IO_URING_BPF_FILTER_") ? String(name.dropFirst(20)) : name
        return FilterABI.Flag.names.first { $0.0 == bare.uppercased() }?.1.rawValue
    }

    private func fixedList<T: FixedWidthInteger>(_ f: YAMLField, count: Int) throws -> [T] {
        let items = try f.sequence().map { try $0.integer(T.self) }
        guard items.count <= count else { throw f.error("at most \(count) values") }
        return items + Array(repeating: 0, count: count - items.count)
    }

    private func placement(_ f: YAMLField) throws -> Placement {
        if f.isNull { return .null }
        let text = try f.string()
        switch text {
        case "normal": return .normal
        case "null": return .null
        case "unmapped": return .unmapped
        case "readonly", "read-only": return .readOnly
        default:
            if text.hasPrefix("truncated:"), let n = Int(text.dropFirst(10)), n >= 0 { return .truncated(mappedBytes: n) }
            throw f.error("expected normal, null, unmapped, readonly or truncated:N (N bytes mapped)")
        }
    }

    /// An opcode by name (returned too, so the case can require it), number, or LAST[+N].
    /// `max`: the largest number the field holds (an SQE's opcode is a byte; a filter's a __u32).
    private func opcodeRef(_ f: YAMLField, max: UInt32 = UInt32.max, what: String = "a filter's opcode (__u32)") throws -> (OpcodeRef, UInt32?) {
        let text = try f.string()
        if text == "LAST" { return (.last(plus: 0), nil) }
        if text.hasPrefix("LAST+") {
            guard let n = UInt32(text.dropFirst(5)), n <= max else {
                throw f.error("\(text) is out of range: LAST+N takes N from 0 to \(max)")
            }
            return (.last(plus: n), nil)
        }
        let digits = String(text.filter { $0 != "_" })
        if let n = YAMLField.integerValue(digits, as: UInt32.self), n <= max { return (.number(n), nil) }
        if YAMLField.parseInteger(digits) != nil {
            throw f.error("opcode \(text) is out of range: \(what) is 0 to \(max)")
        }
        if let n = Opcode.number(text) { return (.number(n), n) }
        throw f.error("unknown opcode '\(text)' (a name such as NOP or OPENAT2, a number, or LAST)")
    }

    private func registerExpectation(_ f: YAMLField?) throws -> RegisterExpectation {
        guard let f else { return RegisterExpectation() }
        var e = RegisterExpectation()
        for (key, v) in try f.mapping(allowed: ["errno", "pdu_size"]) {
            if key == "errno" { e.errno = try errno(v) } else { e.pduSizeWrittenBack = try v.integer() }
        }
        return e
    }

    private func errnoOnly(_ f: YAMLField?) throws -> Int32? {
        guard let f else { return nil }
        guard let first = try f.mapping(allowed: ["errno"]).first else { return nil }
        return try errno(first.1)
    }

    private func errno(_ f: YAMLField) throws -> Int32? {
        let text = try f.string()
        if text == "0" || text == "none" { return nil }
        let bare = text.hasPrefix("-") ? String(text.dropFirst()) : text
        guard let n = Errno.number(bare) else { throw f.error("unknown errno name '\(text)'") }
        return n
    }

    // MARK: submit

    private static let sqeKeys: Set<String> = [
        "op", "user_data", "flags", "ioprio", "fd", "off", "addr", "len", "op_flags", "buf_index", "personality",
        "file_index", "addr3", "domain", "type", "protocol", "path", "open_flags", "mode", "resolve", "how_size",
        "connect", "addr_len", "how_tail", "timeout_ms", "pipe", "ring_fd",
    ]

    private func sqe(_ f: YAMLField, index: Int, usedOpcodes: inout [UInt32]) throws -> SQESpec {
        var s = SQESpec()
        s.userData = UInt64(index + 1)
        let fields = try f.mapping(allowed: Self.sqeKeys)
        let dict = Dictionary(fields, uniquingKeysWith: { a, _ in a })
        guard let opField = dict["op"] else { throw f.error("an SQE needs 'op'") }
        let (op, named) = try opcodeRef(opField, max: 255, what: "an SQE's opcode (__u8)")
        s.opcode = op
        if let named { usedOpcodes.append(named) }
        let opName: String = { if case .number(let n) = op { return Opcode.name(n) } else { return "" } }()
        let symbols: (String) -> UInt64? = { SymbolicConstant.value($0).map(UInt64.init) }
        // Typed helpers first, raw fields after so they can override.
        if opName == "OPENAT" || opName == "OPENAT2" { s.fd = -100 }  // AT_FDCWD
        if let p = dict["path"] { s.addrPayload = Array(try p.string().utf8) + [0] }
        try openFields(dict, opName: opName, into: &s)
        if let d = dict["domain"] { s.fd = try d.integer(symbols: symbols) }
        if let t = dict["type"] { s.off = UInt64(try t.flags(UInt32.self, names: { symbols($0).flatMap { UInt32(exactly: $0) } }, what: "SOCK_ type")) }
        if let p = dict["protocol"] { s.len = try p.integer(symbols: symbols) }
        if let t = dict["timeout_ms"] {
            // struct __kernel_timespec at addr, len 1 (TIMEOUT, LINK_TIMEOUT)
            let ms: UInt64 = try t.integer()
            var ts = ByteImage(size: 16)
            ts.store(ms / 1000, at: 0); ts.store((ms % 1000) * 1_000_000, at: 8)
            s.addrPayload = ts.bytes
            s.len = 1
        }
        if let p = dict["pipe"] {
            switch try p.string() {
            case "read": s.pipeEndForFD = 0
            case "write": s.pipeEndForFD = 1
            default: throw p.error("expected 'read' or 'write' (which end of a new pipe goes into fd)")
            }
        }
        if let c = dict["connect"] {
            let (sock, addr) = try SocketAddress.parse(try c.string(), field: c)
            s.socketForFD = sock
            s.addrPayload = addr
            s.off = UInt64(addr.count)
        }
        for (key, v) in fields { try rawField(key, v, into: &s) }
        return s
    }

    private func submitExpectation(_ f: YAMLField) throws -> SubmitExpectation {
        var e = SubmitExpectation()
        for (key, v) in try f.mapping(allowed: ["cqes", "submitted"]) {
            if key == "submitted" { e.submitted = try v.integer(); continue }
            e.cqes = try v.sequence().map { item in
                var userData: UInt64?
                var res: ResultMatcher?
                for (k, x) in try item.mapping(allowed: ["user_data", "res"]) {
                    if k == "user_data" { userData = try x.integer() } else { res = try resultMatcher(x) }
                }
                guard let userData, let res else { throw item.error("a CQE expectation needs 'user_data' and 'res'") }
                return CQEExpectation(userData: userData, res: res)
            }
        }
        return e
    }

    private func resultMatcher(_ f: YAMLField) throws -> ResultMatcher {
        let text = try f.string()
        switch text {
        case "ok", "success", ">=0": return .success
        case "allowed", "not-denied": return .notDenied
        case "any": return .any
        default:
            if let n = YAMLField.integerValue(text, as: Int32.self) { return .exactly(n) }
            if text.hasPrefix("-"), let e = Errno.number(String(text.dropFirst())) { return .exactly(-e) }
            throw f.error("expected an integer, -ERRNO (e.g. -EACCES), ok, allowed or any")
        }
    }
}
