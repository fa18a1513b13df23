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
        for action in c.actions {
            switch action {
            case .setup:
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
                obs.events.append(.call("enable", ret: k.register(call).ret))
            case .submit(let sqes):
                let r = ensureRing()
                let want = expectedCQEs.flatMap { submitIndex < $0.count ? $0[submitIndex] : nil } ?? sqes.count
                submitIndex += 1
                let out = k.submit(ring: r, sqes: sqes.map(\.spec), expecting: want, timeoutMs: timeoutMs)
                obs.events.append(.submit(submitted: out.submitted, cqes: out.cqes))
            }
        }
        if let r = ring, r >= 0 { k.closeRing(r) }
        return obs
    }

    /// Observations normalised for comparison: CQEs sorted; results the model cannot know
    /// exactly (SOCKET, OPENAT(2), CONNECT) reduced to a class, unmodelled opcodes to the
    /// filter verdict, and everything after an SQE was left pointing at freed memory to "*".
    /// On an SQPOLL ring the submit count is "?": liburing's io_uring_submit() returns the
    /// SQEs the SQ thread has not consumed yet, earlier submits' included, which is timing.
    /// On an SQPOLL ring that is still R_DISABLED, -EBADFD is "?" too: liburing enters the
    /// kernel (which refuses a disabled ring with -EBADFD) only when the SQ thread has set
    /// IORING_SQ_NEED_WAKEUP, and whether it has yet is timing (fuzz seed 2026 case 11225:
    /// the model said -EBADFD, the kernel's liburing returned 2 without entering).
    public static func normalise(_ o: FuzzObservation, for c: FuzzCase) -> [String] {
        var how: [UInt64: FuzzSQE.Comparison] = [:]
        for case .submit(let sqes) in c.actions { for s in sqes { how[s.userData] = s.comparison } }
        let cut = c.unpredictableFrom(o) ?? Int.max
        let sqpoll = c.ringFlags & 2 != 0
        // Per submit action, in order: was the ring still disabled (R_DISABLED, no enable yet)?
        var disabledAtSubmit: [Bool] = []
        var enabled = c.ringFlags & 0x40 == 0
        for a in c.actions {
            switch a {
            case .enable: enabled = true
            case .submit: disabledAtSubmit.append(!enabled)
            default: break
            }
        }
        var submits = 0
        var out: [String] = []
        for (i, e) in o.events.enumerated() {
            if i >= cut { out.append("*"); continue }
            switch e {
            case .register(let r, let p): out.append("reg \(r) \(p.map(String.init) ?? "-")")
            case .setup(let r): out.append("setup \(r)")
            case .call(let what, let r): out.append("\(what) \(r)")
            case .submit(let n, let cqes):
                let disabled = submits < disabledAtSubmit.count && disabledAtSubmit[submits]
                submits += 1
                let items = cqes.map { cqe -> String in
                    let res: String
                    switch how[cqe.userData] ?? .exact {
                    case .exact: res = String(cqe.res)
                    case .resultClass: res = resultClass(cqe.res)
                    case .deniedOnly: res = [-Errno.EACCES, -Errno.ECANCELED].contains(cqe.res) ? resultClass(cqe.res) : "~"
                    }
                    return "\(cqe.userData):\(res)"
                }.sorted()
                let racy = sqpoll && (n >= 0 || (disabled && n == -Errno.EBADFD))
                out.append("submit \(racy ? "?" : String(n)) [\(items.joined(separator: " "))]")
            }
        }
        return out
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
