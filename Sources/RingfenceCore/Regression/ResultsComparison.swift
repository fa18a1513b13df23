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
    /// The guests' architectures and executors (results.json `host.arch`,
    /// `host.executor`; nil in a results file from before they were recorded).
    public var oldArch: String?
    public var newArch: String?
    public var oldExecutor: String?
    public var newExecutor: String?
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
    /// Cases NEW has at all, and those it ran (not skipped).
    public var newTotal = 0
    public var newExecuted = 0

    /// The gate's answer: the exit code and every reason for it.
    /// 4 NEW ran no case (all skipped: a host run, a kernel without the
    /// feature), 1 a case newly fails, 3 cases of OLD are missing from NEW
    /// (unless `allowRemoved`), else 0. Several reasons: the first of 4, 1, 3.
    public func gate(allowRemoved: Bool) -> (code: Int32, reasons: [String]) {
        var found: [(Int32, String)] = []
        if newExecuted == 0 {
            let what = newTotal == 0 ? "has no cases" : "ran no case (all \(newTotal) skipped)"
            found.append((4, "NEW \(what): it tested nothing (a host run, or a kernel without IORING_REGISTER_BPF_FILTER?); compare a run on a kernel with the feature (./run-in-vm.sh)"))
        }
        if !newlyFailing.isEmpty {
            found.append((1, "\(newlyFailing.count) case(s) newly failing in NEW"))
        }
        if !removed.isEmpty && !allowRemoved {
            let some = removed.prefix(3).map(\.id).joined(separator: ", ") + (removed.count > 3 ? ", …" : "")
            found.append((3, "\(removed.count) of OLD's cases are missing from NEW (\(some)): a different suite or a --filter run; compare like with like, or pass --allow-removed"))
        }
        for code: Int32 in [4, 1, 3] { if found.contains(where: { $0.0 == code }) { return (code, found.map(\.1)) } }
        return (0, [])
    }

    public init(old: RunReport, new: RunReport) {
        oldKernel = old.kernel.release
        newKernel = new.kernel.release
        oldArch = old.host?.arch
        newArch = new.host?.arch
        oldExecutor = old.host?.executor
        newExecutor = new.host?.executor
        newTotal = new.cases.count
        newExecuted = new.cases.filter { $0.status != .skip }.count
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

    /// What makes the two runs unlike besides the kernel: another
    /// architecture (byte-order cases skip on one and run on the other) or
    /// another executor (the C kselftest runs only the exported cases). Not a
    /// gate reason: printed so that a difference is not read as the kernel's.
    public var warnings: [String] {
        var out: [String] = []
        if let a = oldArch, let b = newArch, a != b {
            out.append("OLD ran on \(a) and NEW on \(b): cases that declare a byte order skip on one of them (docs/architectures.md); compare runs of one architecture to judge a kernel")
        }
        if let a = oldExecutor, let b = newExecutor, a != b {
            out.append("OLD ran with the \(a) executor and NEW with \(b): the C kselftest runs only the exported cases (NOT-EXPORTED lists the rest)")
        }
        return out
    }

    /// A readable table for people.
    public func table() -> String {
        func label(_ kernel: String, _ arch: String?, _ executor: String?) -> String {
            let facts = [arch, executor].compactMap { $0 }
            return facts.isEmpty ? kernel : "\(kernel) (\(facts.joined(separator: ", ")))"
        }
        var out = ["compare: \(label(oldKernel, oldArch, oldExecutor)) -> \(label(newKernel, newArch, newExecutor))"]
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
