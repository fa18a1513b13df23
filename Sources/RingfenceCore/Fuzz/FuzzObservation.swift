// What the executor's observing mode records for a fuzz case (Executor.observe): one
// event per step, as comparable tokens.

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

