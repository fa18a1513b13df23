/// Runs one case's steps against a backend, in the current process, and
/// says which expectation failed first. Steps after a failure are not run:
/// they depend on the state the failed step should have made.
public final class Executor {
    public struct Outcome: Sendable {
        public var passed: Bool
        /// Observed vs expected, one line each, for KTAP diagnostics.
        public var diagnostics: [String]
    }

    let backend: KernelBackend
    /// The running kernel's IORING_OP_LAST, for `opcode: LAST`.
    let opcodeLast: UInt32
    /// Per SQE batch: how long to wait for the expected CQEs.
    let cqeTimeoutMs: Int
    var rings: [String: Int32] = [:]
    var registeredIndex: [String: Int32] = [:]
    /// The setup flags of a ring made on first use (`ring(_:)`): the fuzz case's flags.
    public var defaultRingFlags: SetupFlags = []
    /// Non-nil in observing mode (`observe(_:expectedCQEs:)`, Executor+Observing.swift).
    var observing: Observing?

    public init(backend: KernelBackend, opcodeLast: UInt32, cqeTimeoutMs: Int = 2000) {
        self.backend = backend
        self.opcodeLast = opcodeLast
        self.cqeTimeoutMs = cqeTimeoutMs
    }

    public func run(_ steps: [Step], numberedFrom first: Int = 1) -> Outcome {
        for (i, step) in steps.enumerated() {
            if let failure = execute(step) {
                return Outcome(passed: false, diagnostics: ["step \(i + first) (\(step.kind), \(step.location)): \(failure.first ?? "")"] + failure.dropFirst())
            }
        }
        return Outcome(passed: true, diagnostics: [])
    }

    /// A whole case: its steps, or with `inject:` the fault-injection loop.
    public func run(_ c: TestCase) -> Outcome {
        guard let inj = c.injection else { return run(c.steps) }
        return runInjection(c.steps, inj)
    }

    // MARK: fault injection (a case's `inject:`)

    /// Errnos the step being executed may fail with instead of its
    /// expectation, and what it failed with.
    private var tolerated: Set<Int32> = []
    private var toleratedFailure: Int32?
    static let injectionMarker = "#inject "

    /// For N = 1, 2, …: a forked child runs the case with the N-th
    /// fault-injectable call of the injected step failing, until an N at which
    /// no fault was injected (the operation has no N-th call). N = 1 must
    /// inject: an operation that makes no injectable call tests nothing.
    ///
    /// Each N runs in `injectionAttempts` fresh children. The N-th call is not
    /// the same allocation in every child: how many allocations come before
    /// it depends on kernel state a child inherits from the one before (a
    /// page allocation refilling an empty slab; vmalloc's per-CPU spare
    /// vmap_area), so one pass over N can skip an allocation. Measured on the
    /// debug kernel with one child per N: the `err:` exit of
    /// io_register_bpf_filter() (the filter node's kzalloc failing) was
    /// reached 4 to 8 times per run, and the new-set branch of it 1 or 2
    /// times in three runs and 0 times in one CI run. A second child per N
    /// usually sees the other count. An interior call skipped at one N is
    /// reached at the next; the step's last call is not when every child at
    /// that N made one call more, and the loop then stops at N+1: so the
    /// last N that injected gets `boundaryAttempts` more children. (Seen
    /// 2026-12-06 in a CI run: io_register_bpf_filter()'s filter kzalloc
    /// failing on a ring that already has a set, the `err:` exit's jump to
    /// `err_prog`, was never injected: 97.5 % of bpf_filter.c, under the
    /// 98.1 % floor.)
    public static let injectionAttempts = 2

    public func runInjection(_ steps: [Step], _ inj: FaultInjection) -> Outcome {
        var tally = InjectionTally()
        for n in 1...inj.maxN {
            var injectedAtN = false
            for attempt in 1...Self.injectionAttempts {
                switch injectAttempt(steps, inj, n, "child \(attempt) of \(Self.injectionAttempts)", &tally) {
                case .failed(let o): return o
                case .held(let injected): injectedAtN = injectedAtN || injected
                }
            }
            if !injectedAtN {
                if n == 1 {
                    return Outcome(passed: false, diagnostics: [
                        "no fault was injected at fail-nth 1: step \(inj.step) made no fault-injectable call, so the case tests nothing "
                        + "(failslab's ignore-gfp-wait must be N: the runner sets it)"])
                }
                // The step's last call: every child at N made fewer than N calls, but the
                // children at N-1 may all have made one more (the first N-1 calls then did
                // not include the last one). More children at N-1 reach it.
                for extra in 1...Self.boundaryAttempts {
                    if case .failed(let o) = injectAttempt(steps, inj, n - 1, "boundary child \(extra) of \(Self.boundaryAttempts)", &tally) { return o }
                }
                return Outcome(passed: true, diagnostics: [])
            }
        }
        let how = tally.failedWith.map { "\(Errno.describe(result: $0.key)) \($0.value)×" }.joined(separator: ", ")
        return Outcome(passed: false, diagnostics: ["step \(inj.step) still hit an injected fault at fail-nth \(inj.maxN) (inject max); failed with \(how), succeeded \(tally.succeededInjected)×"])
    }

    /// Extra children at the last N that injected (see runInjection).
    public static let boundaryAttempts = 8

    /// How the injected step ended across children: by errno, or succeeded with a fault injected.
    struct InjectionTally {
        var failedWith: [Int32: Int] = [:]
        var succeededInjected = 0
    }

    /// One child's ending: it held (and whether a fault was injected), or the case failed.
    enum InjectionAttempt {
        case held(injected: Bool)
        case failed(Outcome)
    }

    /// One child at fail-nth `n`: whether a fault was injected, or the failed outcome.
    private func injectAttempt(_ steps: [Step], _ inj: FaultInjection, _ n: Int, _ which: String,
                               _ tally: inout InjectionTally) -> InjectionAttempt {
        let opcodeLast = self.opcodeLast, timeout = cqeTimeoutMs
        let r = backend.runInChild { child in
            Executor(backend: child, opcodeLast: opcodeLast, cqeTimeoutMs: timeout).injectOnce(steps, inj, n)
        }
        var diags = r.diagnostics
        let marker = diags.last.flatMap { $0.hasPrefix(Self.injectionMarker) ? diags.removeLast() : nil }
        guard r.ok, let m = marker else {
            return .failed(Outcome(passed: false, diagnostics: ["with the fault at fail-nth \(n) (the \(n). fault-injectable call of step \(inj.step) failing, \(which)):"]
                                                                        + diags.map { "  " + $0 }))
        }
        let injected = m.contains("injected=1")
        if let f = m.split(separator: " ").first(where: { $0.hasPrefix("failed=") }).flatMap({ Int32($0.dropFirst(7)) }) {
            tally.failedWith[f, default: 0] += 1
        } else if injected {
            tally.succeededInjected += 1
        }
        return .held(injected: injected)
    }

    /// One N, in a fresh child: the steps before the injected one, the step
    /// with the fault armed, then either the rest (it succeeded) or
    /// `if_failed` (it failed with a tolerated errno). The last diagnostics
    /// line is the marker the parent reads.
    func injectOnce(_ steps: [Step], _ inj: FaultInjection, _ n: Int) -> (ok: Bool, diagnostics: [String]) {
        let k = inj.step - 1
        let before = run(Array(steps[..<k]))
        if !before.passed { return (false, before.diagnostics) }
        let armed = backend.armFailNth(n)
        if armed < 0 { return (false, ["cannot arm /proc/thread-self/fail-nth: \(Errno.describe(result: armed))"]) }
        let step = steps[k]
        tolerated = Set(inj.errnos)
        toleratedFailure = nil
        let failure = execute(step)
        tolerated = []
        let injected = backend.failNthInjected()
        let label = "step \(k + 1) (\(step.kind), \(step.location))"
        if let failure {
            return (false, ["\(label), fault \(injected ? "injected" : "not injected"): \(failure.first ?? "")"] + failure.dropFirst())
        }
        var marker = Self.injectionMarker + "injected=\(injected ? 1 : 0)"
        if let f = toleratedFailure {
            guard injected else {
                return (false, ["\(label) failed with \(Errno.describe(result: f)) although no fault was injected"])
            }
            marker += " failed=\(f)"
            let after = run(inj.ifFailed)
            if !after.passed {
                return (false, ["\(label) failed with \(Errno.describe(result: f)) (fault injected), but the state is not as before it (if_failed):"]
                        + after.diagnostics.map { "  " + $0 })
            }
        } else {
            let after = run(Array(steps[(k + 1)...]), numberedFrom: k + 2)
            if !after.passed {
                return (false, ["\(label) succeeded\(injected ? " with the fault injected" : ""), but its effect is not complete:"] + after.diagnostics.map { "  " + $0 })
            }
        }
        return (true, [marker])
    }

    func resolve(_ op: OpcodeRef) -> UInt32 {
        switch op {
        case .number(let n): return n
        case .last(let plus): return opcodeLast &+ plus
        }
    }

    struct StepFailure: Error { let lines: [String] }

    /// The ring's fd, creating a default ring on first use.
    func ring(_ name: String) -> Result<Int32, StepFailure> {
        if let fd = rings[name] { return .success(fd) }
        let fd = backend.setupRing(entries: 8, flags: defaultRingFlags.rawValue)
        if observing != nil {
            // a ring that could not be made stays the (negative) fd its steps use
            observing?.madeRing(name, flags: defaultRingFlags)
        } else if fd < 0 {
            return .failure(StepFailure(lines: ["could not create ring '\(name)': \(Errno.describe(result: fd))"]))
        }
        rings[name] = fd
        return .success(fd)
    }

    private func expectResult(_ ret: Int32, errno expected: Int32?, what: String) -> [String]? {
        // Under fault injection a documented error (ENOMEM) is one of the two allowed endings.
        if !tolerated.isEmpty, ret < 0, tolerated.contains(-ret), ret != -(expected ?? 0) {
            toleratedFailure = ret
            return nil
        }
        if let expected {
            if ret == -expected { return nil }
            return ["\(what): expected -\(Errno.name(expected)), observed \(Errno.describe(result: ret))"]
        }
        if ret >= 0 { return nil }
        return ["\(what): expected success, observed \(Errno.describe(result: ret))"]
    }

    /// nil when the step held; otherwise what went wrong.
    func execute(_ step: Step) -> [String]? {
        switch step {
        case .ring(let spec, let expected, _):
            return setUpRing(spec, expected)
        case .sweep(let sweep, let template, let expect, let location):
            return runSweep(sweep, template, expect, location)
        case .register(let reg, let expect, _):
            return register(reg, expect)
        case .restrict(let spec, let expected, _):
            var fd: Int32 = -1
            if case .ring(let name) = spec.target {
                switch ring(name) {
                case .failure(let f): return f.lines
                case .success(let r): fd = r
                }
            }
            let out = backend.register(spec.registerCall(fd: fd))
            if observing != nil { return record(.call("restrict", ret: out.ret)) }
            return expectResult(out.ret, errno: expected, what: "IORING_REGISTER_RESTRICTIONS")
        case .enableRings(let name, let expected, _):
            switch ring(name) {
            case .failure(let f): return f.lines
            case .success(let fd):
                var call = RegisterCall(fd: fd, opcode: FilterABI.registerEnableRings, arg: [])
                call.argPlacement = .null
                call.nrArgs = 0
                let ret = backend.register(call).ret
                if observing != nil { return observeEnable(name, ret) }
                return expectResult(ret, errno: expected, what: "IORING_REGISTER_ENABLE_RINGS")
            }
        case .submit(let name, let specs, let expect, _):
            return submit(name, specs, expect)
        case .fork(let steps, _):
            return runForked(steps)
        case .thread(let steps, _):
            return runThread(steps)
        case .exec(let spec, _):
            return runExec(spec)
        case .userNamespace:
            let r = backend.unshareUserNamespace()
            return r == 0 ? nil : ["unshare(CLONE_NEWUSER): \(Errno.describe(result: r))"]
        case .sendRing(let name, let alias, let via, let expected, _):
            switch ring(name) {
            case .failure(let f): return f.lines
            case .success(let fd):
                let r = backend.sendRingToParent(fd, tag: alias, via: via)
                return expectResult(r, errno: expected, what: "passing ring '\(name)' to the parent (\(via.rawValue))")
            }
        case .setNoNewPrivs:
            let r = backend.setNoNewPrivs()
            return r == 0 ? nil : ["prctl(PR_SET_NO_NEW_PRIVS): \(Errno.describe(result: r))"]
        case .dropPrivileges:
            let r = backend.dropPrivileges()
            return r == 0 ? nil : ["dropping privileges: \(Errno.describe(result: r))"]
        case .closeRing(let name, _):
            if let fd = rings.removeValue(forKey: name) { backend.closeRing(fd) }
            return nil
        case .taint(let mask, _):
            let r = backend.addTaint(mask)
            return r == 0 ? nil : ["writing \(mask) to /proc/sys/kernel/tainted: \(Errno.describe(result: r))"]
        }
    }

    // MARK: the steps, one kind each

    private func setUpRing(_ spec: RingSpec, _ expected: Int32?) -> [String]? {
        let fd = backend.setupRing(entries: spec.entries, flags: spec.flags.rawValue)
        if observing != nil { return observeSetUp(spec, fd) }
        if let failure = expectResult(fd, errno: expected, what: "io_uring_setup") { return failure }
        if fd >= 0 {
            if let old = rings[spec.name] { backend.closeRing(old) }
            rings[spec.name] = fd
            if spec.registerFD {
                let idx = backend.registerRingFD(fd)
                if idx < 0 { return ["IORING_REGISTER_RING_FDS failed: \(Errno.describe(result: idx))"] }
                registeredIndex[spec.name] = idx
            }
        }
        return nil
    }

    private func runSweep(_ sweep: Sweep, _ template: FilterRegistration, _ expect: RegisterExpectation, _ location: SourceLocation) -> [String]? {
        var mismatches: [String] = []
        let values = sweep.resolvedValues(opcodeLast: opcodeLast)
        if values.isEmpty { return ["the sweep has no values on this kernel"] }
        let programs = SweepProgram(sweep: sweep, source: template.programSource)
        for value in values {
            var reg = template
            if sweep.opcodeFromVariable { reg.opcode = .number(value) }
            guard let program = programs.program(for: value) else {
                mismatches.append("\(sweep.variable)=0x\(String(value, radix: 16)): program does not assemble")
                continue
            }
            reg.program = program
            // reg.programSource keeps `$variable`: only a failure's first line
            // (never the program line) goes into the mismatch.
            if let failure = execute(.register(reg, expect, location)) {
                mismatches.append("\(sweep.variable)=0x\(String(value, radix: 16)): \(failure[0])")
            }
        }
        if mismatches.isEmpty { return nil }
        return ["\(mismatches.count) of \(values.count) values differ"] + mismatches.prefix(20)
            + (mismatches.count > 20 ? ["... \(mismatches.count - 20) more"] : [])
    }

    private func register(_ reg: FilterRegistration, _ expect: RegisterExpectation) -> [String]? {
        let fd: Int32
        switch reg.target {
        case .task: fd = -1
        case .rawFD(let n): fd = n
        case .ring(let name):
            switch ring(name) {
            case .failure(let f): return f.lines
            case .success(let ringFD):
                if reg.useRegisteredRing {
                    guard let idx = registeredIndex[name] else { return ["ring '\(name)' was not set up with register_fd: true"] }
                    fd = idx
                } else {
                    fd = ringFD
                }
            }
        }
        let out = backend.register(reg.registerCall(fd: fd, opcode: resolve(reg.opcode)))
        if observing != nil { return observeRegister(out) }
        if var failure = expectResult(out.ret, errno: expect.errno, what: "IORING_REGISTER_BPF_FILTER") {
            failure.append("program: \(reg.programSource.split(separator: "\n").joined(separator: "; "))")
            return failure
        }
        if toleratedFailure != nil { return nil }
        if let want = expect.pduSizeWrittenBack {
            guard let after = out.argAfter else { return ["pdu_size: the argument buffer could not be read back"] }
            let got = FilterRegistration.pduSize(in: after)
            if got != want { return ["pdu_size written back: expected \(want), observed \(got)"] }
        }
        return nil
    }

    private func submit(_ name: String, _ specs: [SQESpec], _ expect: SubmitExpectation) -> [String]? {
        let fd: Int32
        switch ring(name) {
        case .failure(let f): return f.lines
        case .success(let r): fd = r
        }
        // Changed in place only where needed: an unchanged batch is not copied.
        var sqes = specs
        for i in sqes.indices {
            if case .last = sqes[i].opcode { sqes[i].opcode = .number(resolve(sqes[i].opcode)) }
            if let target = sqes[i].ringForFD {
                switch ring(target) {
                case .failure(let f): return f.lines
                case .success(let r): sqes[i].fd = r
                }
            }
        }
        if observing != nil { return observeSubmit(name, fd, sqes) }
        let out = backend.submit(ring: fd, sqes: sqes, expecting: expect.cqes.count, timeoutMs: cqeTimeoutMs)
        return compare(out, expect)
    }

    /// An executor for nested steps on `backend` (a forked child, a thread, a
    /// new image) that starts with this one's rings and registered indexes.
    private static func nested(on backend: KernelBackend, opcodeLast: UInt32, cqeTimeoutMs: Int,
                               rings: [String: Int32], indexes: [String: Int32] = [:]) -> Executor {
        let inner = Executor(backend: backend, opcodeLast: opcodeLast, cqeTimeoutMs: cqeTimeoutMs)
        inner.rings = rings
        inner.registeredIndex = indexes
        return inner
    }

    private func runForked(_ steps: [Step]) -> [String]? {
        let opcodeLast = self.opcodeLast, timeout = cqeTimeoutMs, rings = self.rings, indexes = registeredIndex
        let result = backend.runInChild { child in
            let o = Self.nested(on: child, opcodeLast: opcodeLast, cqeTimeoutMs: timeout, rings: rings, indexes: indexes).run(steps)
            return (o.passed, o.diagnostics)
        }
        // Rings the child sent with send_ring are this process's now, by their `as` name.
        for (tag, fd) in backend.takeReceivedRings() {
            if let old = self.rings[tag] { backend.closeRing(old) }
            self.rings[tag] = fd
        }
        // fork(2) itself failed with a tolerated errno (fault injection): no child ran.
        if !result.ok, !tolerated.isEmpty, result.diagnostics.count == 1, result.diagnostics[0].hasPrefix("fork: "),
           let e = Errno.number(String(result.diagnostics[0].dropFirst(6))), tolerated.contains(e) {
            toleratedFailure = -e
            return nil
        }
        return result.ok ? nil : ["in the forked child:"] + result.diagnostics.map { "  " + $0 }
    }

    private func runThread(_ steps: [Step]) -> [String]? {
        let opcodeLast = self.opcodeLast, timeout = cqeTimeoutMs, rings = self.rings, indexes = registeredIndex
        var after: (rings: [String: Int32], indexes: [String: Int32]) = (rings, indexes)
        let result = backend.runInThread { same in
            let inner = Self.nested(on: same, opcodeLast: opcodeLast, cqeTimeoutMs: timeout, rings: rings, indexes: indexes)
            let o = inner.run(steps)
            after = (inner.rings, inner.registeredIndex)
            return (o.passed, o.diagnostics)
        }
        // One process: the rings the thread set up or closed are the case's.
        self.rings = after.rings
        registeredIndex = after.indexes
        return result.ok ? nil : ["in the thread:"] + result.diagnostics.map { "  " + $0 }
    }

    private func runExec(_ spec: ExecSpec) -> [String]? {
        let opcodeLast = self.opcodeLast, timeout = cqeTimeoutMs, rings = self.rings, indexes = registeredIndex
        let payload: [UInt8]
        do { payload = try CompiledCases.encodeSteps(spec.steps) } catch { return ["the nested steps do not encode: \(error)"] }
        let plan = ExecPlan(spawn: spec.spawn, payload: payload, opcodeLast: opcodeLast, cqeTimeoutMs: timeout)
        let result = backend.runInNewImage(plan, prepare: { here in
            let inner = Self.nested(on: here, opcodeLast: opcodeLast, cqeTimeoutMs: timeout, rings: rings, indexes: indexes)
            let o = inner.run(spec.before)
            if !o.passed { return (nil, ["before the exec:"] + o.diagnostics.map { "  " + $0 }) }
            var kept: [(name: String, fd: Int32)] = []
            for name in spec.keep {
                switch inner.ring(name) {
                case .failure(let f): return (nil, f.lines)
                case .success(let fd): kept.append((name, fd))
                }
            }
            return (kept, [])
        }, body: { image, kept in
            let o = Self.nested(on: image, opcodeLast: opcodeLast, cqeTimeoutMs: timeout, rings: kept).run(spec.steps)
            return (o.passed, o.diagnostics)
        })
        return result.ok ? nil : ["in the \(spec.spawn ? "spawned" : "exec'd") image:"] + result.diagnostics.map { "  " + $0 }
    }

    private func compare(_ out: SubmitOutcome, _ expect: SubmitExpectation) -> [String]? {
        var problems: [String] = []
        if let want = expect.submitted, want != out.submitted {
            problems.append("submitted: expected \(want), observed \(Errno.describe(result: out.submitted))")
        } else if expect.submitted == nil, out.submitted < 0 {
            problems.append("io_uring_submit failed: \(Errno.describe(result: out.submitted))")
        }
        var unmatched = out.cqes
        for want in expect.cqes {
            guard let i = unmatched.firstIndex(where: { $0.userData == want.userData }) else {
                problems.append("CQE user_data=\(want.userData): expected res \(want.res), observed no CQE")
                continue
            }
            let got = unmatched.remove(at: i)
            if !want.res.matches(got.res) {
                problems.append("CQE user_data=\(want.userData): expected res \(want.res), observed \(Errno.describe(result: got.res))")
            }
        }
        for extra in unmatched {
            problems.append("unexpected CQE user_data=\(extra.userData) res=\(Errno.describe(result: extra.res))")
        }
        return problems.isEmpty ? nil : problems
    }
}
