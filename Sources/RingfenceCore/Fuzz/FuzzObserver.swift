// Runs a FuzzCase on a backend, step by step as the Executor would (the ring is made
// at `.setup` or on first use), and records what came back as comparable tokens.

public struct FuzzObservation: Equatable, Sendable, CustomStringConvertible {
    public enum Event: Equatable, Sendable {
        case register(ret: Int32, pduWrittenBack: UInt8?)
        case setup(ret: Int32)
        case submit(submitted: Int32, cqes: [CQE])
        /// "restrict" or "enable" and its return.
        case call(String, ret: Int32)
    }
    public var events: [Event] = []
    /// The longest CQE wait of the case's submits (ms, LiveKernel only) and whether a wait
    /// ended at the CQE timeout with completions missing. Measurements, not observations:
    /// equality and comparison look at `events` alone.
    public var cqeWaitMs = 0
    public var cqeWaitTimedOut = false
    public init(events: [Event] = []) { self.events = events }
    public static func == (a: FuzzObservation, b: FuzzObservation) -> Bool { a.events == b.events }

    public var description: String {
        events.map { e -> String in
            switch e {
            case .register(let r, let p): return "reg \(Errno.describe(result: r))" + (p.map { " pdu=\($0)" } ?? "")
            case .setup(let r): return "setup \(Errno.describe(result: r))"
            case .call(let what, let r): return "\(what) \(Errno.describe(result: r))"
            case .submit(let n, let cqes):
                return "submit \(Errno.describe(result: n)) [" + cqes.map { "\($0.userData):\(Errno.describe(result: $0.res))" }.joined(separator: " ") + "]"
            }
        }.joined(separator: "; ")
    }

    /// CQE counts per submit, for telling the live run how many to wait for.
    public var cqeCounts: [Int] {
        events.compactMap { if case .submit(_, let c) = $0 { return c.count }; return nil }
    }
}

/// On the pipe from the fuzzer's batch child (one PipeFrame, a line per case) an
/// observation is one compact line, `R ret pdu|U ret|C ret what|S submitted
/// user_data:res,...|W ms 0/1`: a JSON list of observations cost about a tenth of the
/// fuzzer's throughput in a TCG guest.
extension FuzzObservation {
    var compact: String {
        (events.map { e -> String in
            switch e {
            case .register(let r, let p): return "R \(r) \(p.map(String.init) ?? "-")"
            case .setup(let r): return "U \(r)"
            case .call(let what, let r): return "C \(r) \(what)"
            case .submit(let n, let cqes):
                return "S \(n) " + (cqes.isEmpty ? "-" : cqes.map { "\($0.userData):\($0.res)" }.joined(separator: ","))
            }
        } + ["W \(cqeWaitMs) \(cqeWaitTimedOut ? 1 : 0)"]).joined(separator: "|")
    }

    init?(compact line: String) {
        self.init()
        for part in line.split(separator: "|") {
            let f = part.split(separator: " ")
            guard f.count >= 2, let a = Int32(f[1]) else { return nil }
            switch f[0] {
            case "R": events.append(.register(ret: a, pduWrittenBack: f.count > 2 ? UInt8(f[2]) : nil))
            case "U": events.append(.setup(ret: a))
            case "C": events.append(.call(f.count > 2 ? String(f[2]) : "?", ret: a))
            case "W": cqeWaitMs = Int(a); cqeWaitTimedOut = f.count > 2 && f[2] == "1"
            case "S":
                var cqes: [CQE] = []
                if f.count > 2 && f[2] != "-" {
                    for item in f[2].split(separator: ",") {
                        let kv = item.split(separator: ":")
                        guard kv.count == 2, let ud = UInt64(kv[0]), let res = Int32(kv[1]) else { return nil }
                        cqes.append(CQE(userData: ud, res: res))
                    }
                }
                events.append(.submit(submitted: a, cqes: cqes))
            default: return nil
            }
        }
    }
}

public enum FuzzObserver {
    public static func observe(_ c: FuzzCase, on k: KernelBackend, expectedCQEs: [Int]? = nil, timeoutMs: Int = 1000) -> FuzzObservation {
        var obs = FuzzObservation()
        var ring: Int32?
        func ensureRing() -> Int32 {
            if let r = ring { return r }
            let r = k.setupRing(entries: 8, flags: c.ringFlags)
            ring = r
            return r
        }
        var submitIndex = 0
        // SQPOLL on a ring that is enabled (per this backend's own enable result): after each
        // submit, wait until the SQ thread has consumed what it was handed, so the next
        // registration comes after those SQEs went through io_submit_sqes(), as in the model.
        let sqpoll = c.ringFlags & 2 != 0
        var enabled = c.ringFlags & 0x40 == 0
        for action in c.actions {
            switch action {
            case .setup:
                enabled = c.ringFlags & 0x40 == 0
                let r = k.setupRing(entries: 8, flags: c.ringFlags)
                if let old = ring, old >= 0 { k.closeRing(old) }
                ring = r
                obs.events.append(.setup(ret: r < 0 ? r : 0))
            case .register(let reg):
                let fd: Int32
                switch reg.target {
                case .task: fd = -1
                case .rawFD(let n): fd = n
                case .ring: fd = ensureRing()
                }
                let op: UInt32 = { if case .number(let n) = reg.opcode { return n }; return 0 }()
                let out = k.register(reg.registerCall(fd: fd, opcode: op))
                let pdu = (out.ret == 0 || out.ret == -Errno.EMSGSIZE) ? out.argAfter.map(FilterRegistration.pduSize(in:)) : nil
                obs.events.append(.register(ret: out.ret, pduWrittenBack: pdu))
            case .restrict(let spec):
                let fd: Int32 = spec.target == .task ? -1 : ensureRing()
                obs.events.append(.call("restrict", ret: k.register(spec.registerCall(fd: fd)).ret))
            case .enable:
                var call = RegisterCall(fd: ensureRing(), opcode: FilterABI.registerEnableRings, arg: [])
                call.argPlacement = .null
                call.nrArgs = 0
                let ret = k.register(call).ret
                if ret == 0 { enabled = true }
                obs.events.append(.call("enable", ret: ret))
            case .submit(let sqes):
                let r = ensureRing()
                let want = expectedCQEs.flatMap { submitIndex < $0.count ? $0[submitIndex] : nil } ?? sqes.count
                submitIndex += 1
                let out = k.submit(ring: r, sqes: sqes.map(\.spec), expecting: want, timeoutMs: timeoutMs)
                if sqpoll && enabled && out.submitted >= 0 { _ = k.waitForSQConsumed(ring: r, timeoutMs: timeoutMs) }
                obs.events.append(.submit(submitted: out.submitted, cqes: out.cqes))
                obs.cqeWaitMs = max(obs.cqeWaitMs, Int(out.cqeWaitNs / 1_000_000))
                if out.cqeWaitTimedOut { obs.cqeWaitTimedOut = true }
            }
        }
        if let r = ring, r >= 0 { k.closeRing(r) }
        return obs
    }

    /// Observations normalised for comparison: CQEs sorted; results the model cannot know
    /// exactly (SOCKET, OPENAT(2), CONNECT) reduced to a class, unmodelled opcodes to the
    /// filter verdict, and everything after an SQE was left pointing at freed memory to "*".
    ///
    /// Both sides are normalised in the same context, taken from the case and the *model's*
    /// observation (`model`), never from the observation being normalised: which SQEs are
    /// still in the SQ ring, whether the ring is still R_DISABLED. (Until issue 23 each side
    /// used its own submit counts: on a disabled SQPOLL ring liburing's count of 2 looked
    /// like "2 SQEs consumed" on the kernel side while the model's -EBADFD left them pending,
    /// so only the model side was cut with "*": fuzz seed 1 case 12952 on 7.3.4.)
    ///
    /// Submit counts on an SQPOLL ring (liburing `io_uring_submit()` returns
    /// `__io_uring_flush_sq()`, the SQ ring's tail - khead, and enters the kernel only when
    /// `sq_ring_needs_enter()` sees IORING_SQ_NEED_WAKEUP, which `io_sq_thread()` sets only
    /// once it has idled for sq_thread_idle):
    /// - ring enabled: any count is "?" (the backlog the SQ thread has not consumed yet);
    /// - ring still R_DISABLED: exactly one of two outcomes, written as the set
    ///   "{-EBADFD|P}": -EBADFD (liburing entered, `io_uring_enter()` refuses a disabled ring
    ///   before its SQPOLL branch) or P, every SQE queued on the ring so far (nothing is ever
    ///   consumed: `__io_sq_thread()` skips io_submit_sqes() on an R_DISABLED ring). Any
    ///   other value stays itself and is a mismatch.
    public static func normalise(_ o: FuzzObservation, for c: FuzzCase, model: FuzzObservation) -> [String] {
        var how: [UInt64: FuzzSQE.Comparison] = [:]
        for case .submit(let sqes) in c.actions { for s in sqes { how[s.userData] = s.comparison } }
        let cut = c.unpredictableFrom(model) ?? Int.max
        let sqpoll = c.ringFlags & 2 != 0
        let allowed = c.disabledSubmitOutcomes(model: model)
        var out: [String] = []
        for (i, e) in o.events.enumerated() {
            if i >= cut { out.append("*"); continue }
            switch e {
            case .register(let r, let p): out.append("reg \(r) \(p.map(String.init) ?? "-")")
            case .setup(let r): out.append("setup \(r)")
            case .call(let what, let r): out.append("\(what) \(r)")
            case .submit(let n, let cqes):
                let items = cqes.map { cqe -> String in
                    let res: String
                    switch how[cqe.userData] ?? .exact {
                    case .exact: res = String(cqe.res)
                    case .resultClass: res = resultClass(cqe.res)
                    case .deniedOnly: res = [-Errno.EACCES, -Errno.ECANCELED].contains(cqe.res) ? resultClass(cqe.res) : "~"
                    }
                    return "\(cqe.userData):\(res)"
                }.sorted()
                let count: String
                if let set = allowed[i] {
                    count = set.contains(n) ? set.label : String(n)
                } else if sqpoll && n >= 0 {
                    count = "?"
                } else {
                    count = String(n)
                }
                out.append("submit \(count) [\(items.joined(separator: " "))]")
            }
        }
        return out
    }

    /// The first event where model and kernel differ after normalisation, nil when they agree.
    public static func firstDifference(model: FuzzObservation, kernel: FuzzObservation, for c: FuzzCase) -> FuzzDifference? {
        let m = normalise(model, for: c, model: model)
        let k = normalise(kernel, for: c, model: model)
        guard m != k else { return nil }
        let i = zip(m, k).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(m.count, k.count)
        func raw(_ o: FuzzObservation) -> String? { i < o.events.count ? FuzzObservation(events: [o.events[i]]).description : nil }
        return FuzzDifference(index: i, model: i < m.count ? m[i] : nil, kernel: i < k.count ? k[i] : nil,
                              modelRaw: raw(model), kernelRaw: raw(kernel))
    }

    static func resultClass(_ res: Int32) -> String {
        switch res {
        case -Errno.EACCES: return "EACCES"
        case -Errno.ECANCELED: return "ECANCELED"
        case -Errno.EINVAL: return "EINVAL"
        case -Errno.EFAULT: return "EFAULT"
        case -Errno.EBADF: return "EBADF"
        case let r where r >= 0: return "ok"
        default: return "error"
        }
    }
}

/// Where a kernel observation first departs from the model's, after normalisation.
public struct FuzzDifference: Equatable, Sendable, CustomStringConvertible {
    /// Index into the observations' events (one event per case action).
    public var index: Int
    /// Normalised forms; nil when that side has no event there (it ended early).
    public var model: String?
    public var kernel: String?
    /// The raw events at `index`.
    public var modelRaw: String?
    public var kernelRaw: String?

    public var description: String {
        "event \(index): model \(modelRaw ?? "(none)") vs kernel \(kernelRaw ?? "(none)")"
            + " (normalised: model \"\(model ?? "(none)")\" vs kernel \"\(kernel ?? "(none)")\")"
    }
}

/// The submit counts a disabled SQPOLL ring may return (see FuzzObserver.normalise).
struct SubmitCountSet: Equatable {
    var values: Set<Int32>
    /// nil: any count >= 0 (the SQ ring overflowed, so liburing's count depends on when it flushed)
    var anyCount = false
    func contains(_ n: Int32) -> Bool { values.contains(n) || (anyCount && n >= 0) }
    var label: String { "{" + values.sorted().map { Errno.describe(result: $0) }.joined(separator: "|") + (anyCount ? "|n" : "") + "}" }
}

extension FuzzCase {
    /// For each submit action on an SQPOLL ring that is still R_DISABLED (per the model's
    /// observation: no `enable` that returned 0 since the ring was made), by event index:
    /// -EBADFD or every SQE queued on the ring so far.
    func disabledSubmitOutcomes(model: FuzzObservation) -> [Int: SubmitCountSet] {
        guard ringFlags & 2 != 0, ringFlags & 0x40 != 0 else { return [:] }
        let entries = 8   // FuzzObserver's setupRing(entries: 8)
        var out: [Int: SubmitCountSet] = [:]
        var disabled = true, queued = 0
        for (i, a) in actions.enumerated() {
            switch a {
            case .setup: disabled = true; queued = 0
            case .enable:
                if i < model.events.count, case .call(_, let r) = model.events[i], r == 0 { disabled = false }
            case .submit(let sqes):
                guard disabled else { continue }
                queued += sqes.count
                out[i] = queued <= entries ? SubmitCountSet(values: [-Errno.EBADFD, Int32(queued)])
                                           : SubmitCountSet(values: [-Errno.EBADFD], anyCount: true)
            default: break
            }
        }
        return out
    }
}
