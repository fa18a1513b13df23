// Greedy shrinking of a failing fuzz case: drop steps, drop SQEs, simplify
// programs and arguments, clear flags; keep each change that still fails.

public enum FuzzShrinker {
    /// `stillFails` is asked about each candidate; at most `budget` times.
    public static func shrink(_ c: FuzzCase, budget: Int = 400, stillFails: (FuzzCase) -> Bool) -> (FuzzCase, tries: Int) {
        var best = c
        var tries = 0
        func attempt(_ candidate: FuzzCase) -> Bool {
            guard tries < budget else { return false }
            tries += 1
            if stillFails(candidate) { best = candidate; return true }
            return false
        }
        var progress = true
        while progress && tries < budget {
            progress = false
            // 1. drop whole steps, last first
            var i = best.steps.count - 1
            while i >= 0 {
                if i < best.steps.count {
                    var cand = best
                    cand.steps.remove(at: i)
                    if attempt(cand) { progress = true }
                }
                i -= 1
            }
            // 2. drop single SQEs
            for a in best.steps.indices.reversed() {
                guard a < best.steps.count, let sqes = FuzzCase.submitted(best.steps[a]), sqes.count > 1 else { continue }
                for s in sqes.indices.reversed() {
                    guard var cur = FuzzCase.submitted(best.steps[a]), s < cur.count, cur.count > 1 else { continue }
                    cur.remove(at: s)
                    if attempt(best.replacingSQEs(at: a, with: cur)) { progress = true }
                }
            }
            // 3. simplify registrations
            for a in best.steps.indices {
                guard case .register(let r, let e, let l) = best.steps[a] else { continue }
                for simpler in simplifications(r) {
                    var cand = best
                    cand.steps[a] = .register(simpler, e, l)
                    if attempt(cand) { progress = true; break }
                }
            }
            // 4. simplify SQEs (the generator's description of each, kept in `sqes`)
            for a in best.steps.indices {
                guard let specs = FuzzCase.submitted(best.steps[a]) else { continue }
                for s in specs.indices {
                    guard let cur = FuzzCase.submitted(best.steps[a]), s < cur.count, let sqe = best.sqes[cur[s].userData] else { continue }
                    for simpler in simplifications(sqe) {
                        var cand = best
                        cand.sqes[simpler.userData] = simpler
                        var next = cur
                        next[s] = simpler.spec
                        if attempt(cand.replacingSQEs(at: a, with: next)) { progress = true; break }
                    }
                }
            }
            // 5. ring flags
            if !best.ringFlags.isEmpty {
                var cand = best
                cand.setRingFlags([])
                if attempt(cand) { progress = true }
            }
        }
        return (best, tries)
    }

    static func simplifications(_ r: FilterRegistration) -> [FilterRegistration] {
        var out: [FilterRegistration] = []
        func with(_ f: (inout FilterRegistration) -> Void) { var c = r; f(&c); out.append(c) }
        // (a lone return is final: offering the other one would flip-flop between the two)
        let lone = r.program.count == 1 && r.program[0].code == 0x06
        for k: UInt32 in [1, 0] where !lone {
            with { $0.program = [BPFInstruction(code: 0x06, jt: 0, jf: 0, k: k)]; $0.programSource = FuzzCaseWriter.rawSource($0.program); $0.filterLen = nil }
        }
        if r.program.count > 1 {
            for i in r.program.indices {
                with { $0.program.remove(at: i); $0.programSource = FuzzCaseWriter.rawSource($0.program) }
            }
        }
        if r.flags != 0 { with { $0.flags = 0 } }
        if r.filterLen != nil { with { $0.filterLen = nil } }
        if r.argPointer != .normal { with { $0.argPointer = .normal } }
        if r.filterPointer != .normal { with { $0.filterPointer = .normal } }
        if r.nrArgs != 1 { with { $0.nrArgs = 1 } }
        if r.cmdType != FilterABI.cmdFilter || r.cmdFlags != 0 || r.resv != 0 {
            with { $0.cmdType = FilterABI.cmdFilter; $0.cmdFlags = 0; $0.resv = 0 }
        }
        if r.filterResv != [0, 0, 0] || r.resv2 != [0, 0, 0, 0, 0] { with { $0.filterResv = [0, 0, 0]; $0.resv2 = [0, 0, 0, 0, 0] } }
        return out
    }

    static func simplifications(_ s: FuzzSQE) -> [FuzzSQE] {
        var out: [FuzzSQE] = []
        func with(_ f: (inout FuzzSQE) -> Void) { var c = s; f(&c); out.append(c) }
        if !s.flags.isEmpty { with { $0.flags = [] } }
        if s.ioprio != 0 || s.bufIndex != 0 || s.fileIndex != 0 { with { $0.ioprio = 0; $0.bufIndex = 0; $0.fileIndex = 0 } }
        if s.userData > 0xffff_ffff { with { $0.userData &= 0xffff_ffff } }
        switch s.kind {
        case .nop(let f, let len) where f != 0 || len != 0: with { $0.kind = .nop(nopFlags: 0, len: 0) }
        case .openat(let p, let f, let m) where f != 0 || m != 0: with { $0.kind = .openat(path: p, flags: 0, mode: 0) }
        case .openat2(let p, let f, let m, let r, let size) where f != 0 || m != 0 || r != 0 || size != 24:
            with { $0.kind = .openat2(path: p, flags: 0, mode: 0, resolve: 0, howSize: 24) }
        case .connect(let t, let l) where l != nil: with { $0.kind = .connect(target: t, addrLen: nil) }
        default: break
        }
        if !(s.kind == .nop(nopFlags: 0, len: 0)) { with { $0.kind = .nop(nopFlags: 0, len: 0) } }
        return out
    }
}

extension FuzzCase {
    /// The case with the submit step at `index` submitting `specs` instead.
    func replacingSQEs(at index: Int, with specs: [SQESpec]) -> FuzzCase {
        var c = self
        if case .submit(let ring, _, let e, let l) = steps[index] { c.steps[index] = .submit(ring: ring, specs, e, l) }
        return c
    }
}
