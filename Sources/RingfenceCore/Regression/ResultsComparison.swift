/// `ringfence compare OLD NEW`: what changed between two results files.
public struct ResultsComparison: Codable, Sendable {
    public struct Change: Codable, Sendable {
        public var id: String
        public var old: CaseStatus?
        public var new: CaseStatus?
        public var oldObserved: [String]
        public var newObserved: [String]
    }

    public var oldKernel: String
    public var newKernel: String
    public var newlyFailing: [Change] = []
    public var newlyPassing: [Change] = []
    public var newlySkipped: [Change] = []
    /// Now failing as a known bug (xfail: cases/known-bugs.yaml covers it, so not
    /// a new failure), e.g. going back to a kernel from before a fix.
    public var newlyKnownBugs: [Change] = []
    /// Failing in both, with different diagnostics (observed values changed).
    public var changedObserved: [Change] = []
    public var added: [Change] = []
    public var removed: [Change] = []

    public var hasNewFailures: Bool { !newlyFailing.isEmpty }

    public init(old: RunReport, new: RunReport) {
        oldKernel = old.kernel.release
        newKernel = new.kernel.release
        let before = Dictionary(old.cases.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.cases.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for n in new.cases {
            guard let o = before[n.id] else {
                let c = Change(id: n.id, old: nil, new: n.status, oldObserved: [], newObserved: n.diagnostics)
                added.append(c)
                if n.status.isFailure { newlyFailing.append(c) }
                continue
            }
            let c = Change(id: n.id, old: o.status, new: n.status, oldObserved: o.diagnostics, newObserved: n.diagnostics)
            if !o.status.isFailure && n.status.isFailure { newlyFailing.append(c) }
            if !o.status.isPass && n.status.isPass { newlyPassing.append(c) }
            if o.status.isFailure && n.status.isFailure && o.diagnostics != n.diagnostics { changedObserved.append(c) }
            if n.status == .skip && o.status != .skip { newlySkipped.append(c) }
            if n.status == .xfail && o.status != .xfail { newlyKnownBugs.append(c) }
        }
        for o in old.cases where after[o.id] == nil {
            removed.append(Change(id: o.id, old: o.status, new: nil, oldObserved: o.diagnostics, newObserved: []))
        }
    }

    /// A readable table for people.
    public func table() -> String {
        var out = ["compare: \(oldKernel) -> \(newKernel)"]
        func section(_ title: String, _ changes: [Change], observed: Bool = false) {
            out.append("\(title): \(changes.count)")
            for c in changes {
                out.append("  \(c.id)  \(c.old?.rawValue ?? "-") -> \(c.new?.rawValue ?? "-")")
                if observed {
                    c.oldObserved.prefix(3).forEach { out.append("      old: \($0)") }
                    c.newObserved.prefix(3).forEach { out.append("      new: \($0)") }
                }
            }
        }
        section("newly failing", newlyFailing, observed: true)
        section("newly passing", newlyPassing)
        section("newly skipped", newlySkipped)
        section("newly known bugs (covered, not failing)", newlyKnownBugs, observed: true)
        section("changed observed values", changedObserved, observed: true)
        section("added cases", added)
        section("removed cases", removed)
        return out.joined(separator: "\n")
    }
}
