// What a fuzz run reached: generator features of the cases it ran (ring flags,
// opcodes, SQE flags, registration shapes) and, from the model's predictions, a few
// outcomes (filters accepted, requests denied). Generation is seeded, so the same
// seed and case count always reach the same features.

public struct FuzzFeatures: Sendable, Equatable {
    public var cases = 0
    /// Cases per feature name, in first-seen order.
    public private(set) var counts: [String: Int] = [:]
    private var order: [String] = []

    public init() {}

    mutating func bump(_ name: String) {
        if counts[name] == nil { order.append(name) }
        counts[name, default: 0] += 1
    }

    /// Tally one case (each feature at most once per case) and the model's observation of it.
    public mutating func add(_ c: FuzzCase, model: FuzzObservation?) {
        cases += 1
        var seen = Set<String>()
        func note(_ n: String) { if seen.insert(n).inserted { bump(n) } }
        if c.ringFlags.contains(.sqpoll) { note("ring:SQPOLL") }
        if c.ringFlags.contains(.iopoll) { note("ring:IOPOLL") }
        if c.ringFlags.contains(.submitAll) { note("ring:SUBMIT_ALL") }
        if c.ringFlags.contains(.rDisabled) { note("ring:R_DISABLED") }
        if c.ringFlags.isSuperset(of: [.sqpoll, .rDisabled]) { note("ring:SQPOLL+R_DISABLED") }
        if c.usesTask { note("task-level") }
        for step in c.steps {
            switch step {
            case .register(let r, _, _):
                note("reg")
                if r.flags & FilterABI.Flag.denyRest.rawValue != 0 { note("reg:DENY_REST") }
                if r.flags & FilterABI.Flag.sizeStrict.rawValue != 0 { note("reg:SZ_STRICT") }
                if r.flags & ~(FilterABI.Flag.denyRest.rawValue | FilterABI.Flag.sizeStrict.rawValue) != 0 { note("reg:unknown flag") }
                if r.argPointer != .normal || r.filterPointer != .normal { note("reg:bad pointer") }
                if r.nrArgs != 1 { note("reg:nr_args") }
                if r.filterLen != nil { note("reg:filter_len") }
                if r.resv != 0 || r.filterResv.contains(where: { $0 != 0 }) || r.resv2.contains(where: { $0 != 0 }) || r.cmdFlags != 0 || r.cmdType != FilterABI.cmdFilter { note("reg:reserved/cmd") }
            case .restrict(let r, _, _): note(r.target == .task ? "restrict:task" : "restrict:ring")
            case .enableRings: note("enable")
            case .submit(_, let sqes, _, _):
                for s in sqes {
                    if case .number(let op) = s.opcode { note("op:" + Opcode.name(op)) }
                    let flags = s.flags
                    if !flags.isDisjoint(with: SQEFlags.link) { note("sqe:link") }
                    if flags.contains(.ioDrain) { note("sqe:DRAIN") }
                    if flags.contains(.async) { note("sqe:ASYNC") }
                    if flags.contains(.fixedFile) { note("sqe:FIXED_FILE") }
                }
            default: break
            }
        }
        guard let m = model else { return }
        for e in m.events {
            switch e {
            case .register(let r, _): note(r == 0 ? "model:filter accepted" : "model:filter rejected")
            case .submit(_, let cqes):
                if cqes.contains(where: { $0.res == -Errno.EACCES }) { note("model:request denied (EACCES)") }
                if cqes.contains(where: { $0.res == -Errno.ECANCELED }) { note("model:link cancelled") }
            default: break
            }
        }
    }

    /// "name N, name N, ..." in first-seen order.
    public var summary: String { order.map { "\($0) \(counts[$0]!)" }.joined(separator: ", ") }
}
