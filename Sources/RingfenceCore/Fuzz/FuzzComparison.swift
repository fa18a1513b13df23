// Model and kernel observations of one fuzz case, compared: both normalised in the
// model's context, and the first event where they differ.

/// How a CQE of a fuzz SQE is compared between model and kernel, read off its SQESpec.
public enum FuzzComparison {
    enum How { case exact, resultClass, deniedOnly }

    static let resultClassOps = ["SOCKET", "OPENAT", "OPENAT2", "CONNECT"].compactMap(Opcode.number)
    static let exactOps = ["NOP", "FSYNC", "CLOSE", "FADVISE", "NOP128"].compactMap(Opcode.number)

    /// NOP, and FSYNC/CLOSE/FADVISE on fd -1, NOP128 on a 64-byte ring and unknown opcodes
    /// are exact; SOCKET, OPENAT(2) and CONNECT results are reduced to a class; other
    /// opcodes' own results are not modelled, only the filter verdict.
    static func how(_ s: SQESpec) -> How {
        guard case .number(let op) = s.opcode else { return .exact }
        if resultClassOps.contains(op) { return .resultClass }
        return exactOps.contains(op) || op >= Opcode.lastKnown ? .exact : .deniedOnly
    }

    /// The SQE points at memory the harness frees when its submit returns (a path, an
    /// open_how, a sockaddr): if it is left in the SQ ring (submission stopped early), a
    /// later io_uring_enter reads garbage.
    static func pointsAtMemory(_ s: SQESpec) -> Bool { s.addrPayload != nil || s.offPayload != nil }

    /// How each user_data's CQE is compared.
    static func table(_ c: FuzzCase) -> [UInt64: How] {
        var how: [UInt64: How] = [:]
        for step in c.steps { for s in FuzzCase.submitted(step) ?? [] { how[s.userData] = Self.how(s) } }
        return how
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
        let how = table(c)
        let cut = c.unpredictableFrom(model) ?? Int.max
        let sqpoll = c.ringFlags.contains(.sqpoll)
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
        // The same events normalise alike (normalise depends on the event, the case and the
        // model only): most cases end here, without building either normalised form.
        if kernel.events == model.events { return nil }
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
    /// Index into the observations' events (one event per case step).
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

/// The submit counts a disabled SQPOLL ring may return (see FuzzComparison.normalise).
struct SubmitCountSet: Equatable {
    var values: Set<Int32>
    /// nil: any count >= 0 (the SQ ring overflowed, so liburing's count depends on when it flushed)
    var anyCount = false
    func contains(_ n: Int32) -> Bool { values.contains(n) || (anyCount && n >= 0) }
    var label: String { "{" + values.sorted().map { Errno.describe(result: $0) }.joined(separator: "|") + (anyCount ? "|n" : "") + "}" }
}

extension FuzzCase {
    /// For each submit step on an SQPOLL ring that is still R_DISABLED (per the model's
    /// observation: no `enable` that returned 0 since the ring was made), by event index:
    /// -EBADFD or every SQE queued on the ring so far.
    func disabledSubmitOutcomes(model: FuzzObservation) -> [Int: SubmitCountSet] {
        guard ringFlags.isSuperset(of: [.sqpoll, .rDisabled]) else { return [:] }
        let entries = 8   // RingSpec's and Executor.ring(_:)'s default
        var out: [Int: SubmitCountSet] = [:]
        var disabled = true, queued = 0
        for (i, step) in steps.enumerated() {
            switch step {
            case .ring: disabled = true; queued = 0
            case .enableRings:
                if i < model.events.count, case .call(_, let r) = model.events[i], r == 0 { disabled = false }
            case .submit(_, let sqes, _, _):
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
