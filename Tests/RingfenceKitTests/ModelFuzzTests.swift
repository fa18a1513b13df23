import Foundation
import Testing
@testable import RingfenceKit
@testable import RingfenceCore

/// The fuzzer against itself: determinism, and a deliberately wrong model flavour
/// standing in for the kernel so the shrinker has something to find.
@Suite struct ModelFuzzTests {
    @Test func generationIsDeterministic() {
        let g = FuzzGenerator()
        for i in [0, 1, 17, 999] {
            let a = FuzzCaseWriter.yaml(g.generate(seed: 42, index: i), observed: FuzzObservation(), seed: 42, modelSaid: nil)
            let b = FuzzCaseWriter.yaml(g.generate(seed: 42, index: i), observed: FuzzObservation(), seed: 42, modelSaid: nil)
            #expect(a == b)
        }
        let c = FuzzCaseWriter.yaml(g.generate(seed: 43, index: 0), observed: FuzzObservation(), seed: 43, modelSaid: nil)
        let d = FuzzCaseWriter.yaml(g.generate(seed: 42, index: 0), observed: FuzzObservation(), seed: 43, modelSaid: nil)
        #expect(c != d)
        var r1 = SplitMix64(seed: 1), r2 = SplitMix64(seed: 1)
        #expect((0..<8).map { _ in r1.next() } == (0..<8).map { _ in r2.next() })
        // SplitMix64's published first output for seed 0
        var z = SplitMix64(seed: 0)
        #expect(z.next() == 0xe220_a839_7b1d_cdaf)
    }

    @Test func theModelAgreesWithItself() {
        var o = Fuzzer.Options()
        o.seed = 7; o.count = 300
        let report = Fuzzer(options: o, target: BackendFuzzTarget { ReferenceKernel() }).run()
        #expect(report.cases == 300 && report.mismatches.isEmpty, "\(report.mismatches.map(\.model))")
        // features reached: every case counted, the common shapes present
        #expect(report.features.cases == 300)
        for f in ["reg", "op:NOP", "op:SOCKET", "ring:SUBMIT_ALL", "model:filter accepted", "model:request denied (EACCES)"] {
            #expect((report.features.counts[f] ?? 0) > 0, "\(f) never reached: \(report.features.summary)")
        }
        var one = FuzzFeatures()
        one.add(FuzzGenerator().generate(seed: 1, index: 12952), model: nil)
        #expect(one.counts["ring:SQPOLL+R_DISABLED"] == 1 && one.counts["restrict:ring"] == 1 && one.counts["enable"] == nil)
    }

    /// --from I --count 1 replays case I alone: the case a longer run reported, same index,
    /// same mismatch.
    @Test func fromReplaysOneCase() throws {
        var wrong = KernelSemantics.upstream
        wrong.socketTypeMasked = false
        var o = Fuzzer.Options()
        o.count = 2000; o.reruns = 0; o.shrinkBudget = 0
        var long = Fuzzer.Report(seed: 0)
        for seed: UInt64 in 1...10 {
            o.seed = seed
            long = Fuzzer(options: o, target: BackendFuzzTarget { ReferenceKernel(semantics: wrong) }).run()
            if !long.mismatches.isEmpty { break }
        }
        let first = try #require(long.mismatches.first?.original.index)
        o.first = first; o.count = 1
        let one = Fuzzer(options: o, target: BackendFuzzTarget { ReferenceKernel(semantics: wrong) }).run()
        #expect(one.cases == 1 && one.mismatches.map(\.original.index) == [first])
        #expect(one.mismatches.first?.difference == long.mismatches.first?.difference)
    }

    @Test func aWrongFlavourIsFoundAndShrunk() throws {
        let dir = NSTemporaryDirectory() + "ringfence-fuzz-test-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var wrong = KernelSemantics.upstream
        wrong.socketTypeMasked = false
        // the first seed (deterministic) whose 2000 cases notice the difference
        var report = Fuzzer.Report(seed: 0)
        var o = Fuzzer.Options()
        for seed: UInt64 in 1...10 {
            o.seed = seed; o.count = 2000; o.saveDirectory = dir
            report = Fuzzer(options: o, target: BackendFuzzTarget { ReferenceKernel(semantics: wrong) }).run()
            if !report.mismatches.isEmpty { break }
        }
        #expect(!report.mismatches.isEmpty, "the unmasked socket type was never noticed")
        for m in report.mismatches {
            // a steady difference: reproduced on every re-run, its first differing event named
            #expect(m.reproducedText == "reproduced 3 of 3" && !m.flaky)
            let d = try #require(m.difference)
            #expect(d.model != d.kernel && d.index < m.original.steps.count)
            // shrunk: one filter, one SOCKET with a flag in its type
            let regs = m.shrunk.steps.filter { if case .register = $0 { return true }; return false }
            let sqes = m.shrunk.steps.flatMap { FuzzCase.submitted($0) ?? [] }.compactMap { m.shrunk.sqes[$0.userData] }
            #expect(regs.count == 1 && sqes.count <= 2, "not minimal: \(m.shrunk.steps)")
            #expect(sqes.contains { if case .socket(_, let t, _) = $0.kind { return t & ~0xf != 0 }; return false })
            let path = try #require(m.savedAt)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains("why: \"found by fuzzing: ringfence fuzz --seed \(o.seed)"))
            // With the real assembler the file loads into the same case (the stub cannot parse it).
            if (try? Assembler.assemble("{ 0x6, 0, 0, 0x1 }")) != nil {
                let loaded = try CaseLoader.load(yaml: text, file: "fuzz.yaml")
                #expect(loaded.count == 1)
                // the reproducer holds on the "kernel" it was observed on, and fails on the model
                let onWrong = Executor(backend: ReferenceKernel(semantics: wrong), opcodeLast: Opcode.lastKnown, cqeTimeoutMs: 0).run(loaded[0].steps)
                let onModel = Executor(backend: ReferenceKernel(), opcodeLast: Opcode.lastKnown, cqeTimeoutMs: 0).run(loaded[0].steps)
                #expect(onWrong.passed, "\(onWrong.diagnostics)")
                #expect(!onModel.passed)
            }
        }
        #expect(report.summary.hasPrefix("fuzz: seed \(o.seed), 2000 cases, \(report.mismatches.count) mismatches, "))
    }

    @Test func anSQPollSubmitCountIsNotCompared() {
        var c = FuzzCase()
        c.appendSubmit([FuzzSQE(kind: .nop(nopFlags: 0, len: 0), userData: 1)])
        var early = FuzzObservation(), late = FuzzObservation()
        early.events = [.submit(submitted: 1, cqes: [CQE(userData: 1, res: 0)])]
        late.events = [.submit(submitted: 2, cqes: [CQE(userData: 1, res: 0)])]
        #expect(FuzzComparison.firstDifference(model: early, kernel: late, for: c) != nil)
        c.ringFlags = .sqpoll   // the count is the SQ thread's backlog
        #expect(FuzzComparison.firstDifference(model: early, kernel: late, for: c) == nil)
    }

    /// Fuzz seed 2026 case 11225 on 7.3.4: an SQPOLL ring created R_DISABLED, a submit
    /// before enabling it. The model said -EBADFD; the kernel's liburing returned 2
    /// without entering (the SQ thread had not set NEED_WAKEUP yet). On a disabled SQPOLL
    /// ring either is right, and only those two: -EBADFD or every SQE queued so far (2
    /// here; issue 23 made the set exact, so the batch has the two SQEs such a count needs).
    /// On an enabled ring -EBADFD stays a mismatch, and so does it without SQPOLL.
    @Test func aDisabledSQPollRingsSubmitMayOrMayNotEnter() {
        let two = [FuzzSQE(kind: .nop(nopFlags: 0, len: 0), userData: 1), FuzzSQE(kind: .nop(nopFlags: 0, len: 0), userData: 2)]
        func fuzzCase(_ flags: SetupFlags, enable: Bool = false) -> FuzzCase {
            var c = FuzzCase()
            c.ringFlags = flags
            c.appendSetup()
            if enable { c.appendEnable() }
            c.appendSubmit(two)
            return c
        }
        var c = fuzzCase([.sqpoll, .rDisabled])
        var model = FuzzObservation(), kernel = FuzzObservation()
        model.events = [.setup(ret: 0), .submit(submitted: -Errno.EBADFD, cqes: [])]
        kernel.events = [.setup(ret: 0), .submit(submitted: 2, cqes: [])]
        #expect(FuzzComparison.firstDifference(model: model, kernel: kernel, for: c) == nil)
        #expect(FuzzComparison.normalise(kernel, for: c, model: model)[1] == "submit {-EBADFD|2} []")
        // a count that is neither -EBADFD nor the SQEs queued so far is a mismatch
        kernel.events = [.setup(ret: 0), .submit(submitted: 1, cqes: [])]
        let d = FuzzComparison.firstDifference(model: model, kernel: kernel, for: c)
        #expect(d?.index == 1 && d?.model == "submit {-EBADFD|2} []" && d?.kernel == "submit 1 []")
        c = fuzzCase([.sqpoll, .rDisabled], enable: true)
        model.events = [.setup(ret: 0), .call("enable", ret: 0), .submit(submitted: -Errno.EBADFD, cqes: [])]
        kernel.events = [.setup(ret: 0), .call("enable", ret: 0), .submit(submitted: 2, cqes: [])]
        #expect(FuzzComparison.firstDifference(model: model, kernel: kernel, for: c) != nil)
        // an enable the model says failed leaves the ring disabled
        model.events[1] = .call("enable", ret: -Errno.EACCES)
        kernel.events[1] = .call("enable", ret: -Errno.EACCES)
        #expect(FuzzComparison.firstDifference(model: model, kernel: kernel, for: c) == nil)
        c = fuzzCase(.rDisabled)   // R_DISABLED without SQPOLL: the count is exact
        model.events = [.setup(ret: 0), .submit(submitted: -Errno.EBADFD, cqes: [])]
        kernel.events = [.setup(ret: 0), .submit(submitted: 2, cqes: [])]
        #expect(FuzzComparison.firstDifference(model: model, kernel: kernel, for: c) != nil)
    }

    /// Replays recorded kernel observations instead of running a kernel.
    final class RecordedTarget: FuzzTarget {
        let observations: [Int: FuzzObservation]
        init(_ observations: [Int: FuzzObservation]) { self.observations = observations }
        func run(_ cases: [FuzzCase], expected: [[Int]]) -> [FuzzObservation] {
            cases.map { observations[$0.index] ?? $0.observe(on: ReferenceKernel(), timeoutMs: 0) }
        }
    }

    /// Issue 23: `ringfence fuzz --seed 1 --count 12960` on 7.3.4 reported case 12952 (setup
    /// flags 0xc2 = SQPOLL | R_DISABLED | SUBMIT_ALL, restrict, two submits, two
    /// registrations, never enabled) as a mismatch, 2 of 2 runs: the model said `submit
    /// -EBADFD` twice, the kernel `submit 2`, `submit 4` (liburing did not enter; the SQ ring
    /// held 2, then 4 SQEs). The kernel observation below is the issue's, with the elided
    /// events (setup, restrict, the two registrations) as the model has them. The first
    /// batch has an OPENAT2, which points at memory: the model's -EBADFD left it in the SQ
    /// ring, so only the model side was cut to "*" after it, while the kernel's count of 2
    /// let its side be compared. The context is now the model's for both sides.
    /// (Written against Fuzzer.compare, which this commit leaves in place: at 332934b it
    /// failed with the model cut at event 4.)
    @Test func issue23DisabledSQPollCaseIsNoLongerAMismatch() throws {
        let c = FuzzGenerator().generate(seed: 1, index: 12952)
        #expect(c.ringFlags == [.sqpoll, .rDisabled, .submitAll])
        let model = c.observe(on: ReferenceKernel(), timeoutMs: 0)
        #expect(model.description == "setup 0; restrict 0; submit -EBADFD []; reg -EINVAL; submit -EBADFD []; reg 0 pdu=24")
        var kernel = model
        kernel.events[2] = .submit(submitted: 2, cqes: [])
        kernel.events[4] = .submit(submitted: 4, cqes: [])
        var o = Fuzzer.Options()
        o.seed = 1
        let fuzzer = Fuzzer(options: o, target: RecordedTarget([12952: kernel]))
        #expect(fuzzer.compare(c) == nil)
        // a count outside {-EBADFD, SQEs queued} is still caught (the second submit is after
        // the OPENAT2 left in the SQ ring, so it is "*" on both sides)
        var wrong = kernel
        wrong.events[2] = .submit(submitted: 1, cqes: [])
        #expect(Fuzzer(options: o, target: RecordedTarget([12952: wrong])).compare(c) != nil)
        let d = FuzzComparison.firstDifference(model: model, kernel: wrong, for: c)
        #expect(d?.index == 2 && d?.model == "submit {-EBADFD|2} []" && d?.kernel == "submit 1 []")
        #expect(d?.description == "event 2: model submit -EBADFD [] vs kernel submit 1 [] (normalised: model \"submit {-EBADFD|2} []\" vs kernel \"submit 1 []\")")
    }

    /// Fuzz seed 2313 case 45778 on Debian 7.2.13 (reproduced 3 of 3 in the 10-minute
    /// campaign): an IO_DRAIN NOP leaves IO_RING_F_DRAIN_ACTIVE set (before 7.3.2), then a
    /// submit of a NOP that fails at init (ioprio), a NOP and an OPENAT2 whose filter denies
    /// when ctx.sqe_flags is 0. The kernel allowed the OPENAT2: io_queue_deferred() keeps
    /// the second NOP on the defer list while the failed one is still allocated
    /// (nr_req_allocated != nr_drained), so the drain goes on and the OPENAT2 sees
    /// IOSQE_ASYNC. The model used to clear DRAIN_ACTIVE at that NOP and predicted -EACCES.
    @Test func fuzzSeed2313Case45778DrainStaysBehindAFailedRequest() throws {
        let v = try #require(KernelVersion("7.2.13"))
        let c = FuzzGenerator(semantics: .of(kernel: v)).generate(seed: 2313, index: 45778)
        let model = c.observe(on: ReferenceKernel(semantics: .of(kernel: v)), timeoutMs: 0)
        // the second submit: 9 fails at init (ioprio on a NOP), 10 at init too, the OPENAT2 (11)
        // opens "/": the kernel's fd, not the -EACCES the model used to predict
        guard case .submit(3, let cqes)? = model.events.last else { Issue.record("\(model)"); return }
        #expect(cqes.map(\.userData) == [9, 10, 11] && cqes[0].res == -Errno.EINVAL && cqes[2].res >= 0, "\(model)")
    }

    /// The model, recording when observing mode waits for the SQ thread.
    final class WaitRecorder: KernelBackend {
        let model = ReferenceKernel()
        var waits: [Int32] = []
        func setupRing(entries: UInt32, flags: UInt32) -> Int32 { model.setupRing(entries: entries, flags: flags) }
        func registerRingFD(_ ring: Int32) -> Int32 { model.registerRingFD(ring) }
        func closeRing(_ ring: Int32) { model.closeRing(ring) }
        func register(_ call: RegisterCall) -> RegisterOutcome { model.register(call) }
        func submit(ring: Int32, sqes: [SQESpec], expecting: Int, timeoutMs: Int) -> SubmitOutcome {
            model.submit(ring: ring, sqes: sqes, expecting: expecting, timeoutMs: timeoutMs)
        }
        func waitForSQConsumed(ring: Int32, timeoutMs: Int) -> Bool { waits.append(ring); return true }
        func setNoNewPrivs() -> Int32 { model.setNoNewPrivs() }
        func dropPrivileges() -> Int32 { model.dropPrivileges() }
        func runInChild(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) { model.runInChild(body) }
    }

    /// Fuzz seed 2312 case 29801 on 7.1.13 (reproduced 1 of 3): on an enabled SQPOLL ring a
    /// SOCKET with CQE_SKIP_SUCCESS was submitted, then a DENY_REST filter registered; when
    /// the SQ thread had not consumed the SQE yet, the filter denied it (-EACCES CQE), which
    /// the model (consumed at submit) did not predict. The executor's observing mode now
    /// waits for the SQ ring to drain after each submit on an enabled SQPOLL ring, and only
    /// there; a case file's steps (Executor.run) never wait.
    @Test func observingWaitsForTheSQThreadOnlyOnEnabledSQPollRings() {
        let nop = FuzzSQE(kind: .nop(nopFlags: 0, len: 0), userData: 1)
        let table: [(SetupFlags, Bool, Int)] = [(.sqpoll, false, 2), ([], false, 0), ([.sqpoll, .rDisabled], false, 0),
                                                ([.sqpoll, .rDisabled], true, 2), (.rDisabled, true, 0)]
        for (flags, enable, waits) in table {
            for explicitSetup in [true, false] where explicitSetup || !flags.contains(.rDisabled) {
                var c = FuzzCase()
                c.ringFlags = flags
                if explicitSetup { c.appendSetup() }
                if flags.contains(.rDisabled) { c.appendRestrict(RestrictionSpec()) }
                if enable { c.appendEnable() }
                c.appendSubmit([nop]); c.appendSubmit([nop])
                let k = WaitRecorder()
                let o = c.observe(on: k, timeoutMs: 0)
                #expect(k.waits.count == waits, "flags \(flags) enable \(enable) setup \(explicitSetup): \(k.waits.count) waits")
                #expect(o.events.count == c.steps.count)
                let cases = WaitRecorder()
                _ = Executor(backend: cases, opcodeLast: Opcode.lastKnown, cqeTimeoutMs: 0).run(c.steps)
                #expect(cases.waits.isEmpty)
            }
        }
    }

    /// A target that disagrees with the model only on its first run of each case, as a
    /// timing-dependent kernel result would.
    final class FlakyTarget: FuzzTarget {
        var seen: Set<Int> = []
        func run(_ cases: [FuzzCase], expected: [[Int]]) -> [FuzzObservation] {
            cases.map { c in
                var o = c.observe(on: ReferenceKernel(), timeoutMs: 0)
                if seen.insert(c.index).inserted { o.events.append(.setup(ret: -1)) }
                return o
            }
        }
    }

    @Test func aMismatchThatDoesNotRecurKeepsTheOriginalCase() {
        var o = Fuzzer.Options()
        o.seed = 3; o.count = 1
        let report = Fuzzer(options: o, target: FlakyTarget()).run()
        let m = try? #require(report.mismatches.first)
        #expect(m?.shrinkHeld == false)
        // reported, labelled flaky, never dropped; the first differing event is named
        #expect(report.mismatches.count == 1)
        #expect(m?.flaky == true && m?.reproducedText == "reproduced 0 of 3 (flaky)")
        #expect(m?.difference?.kernel == "setup -1" && m?.difference?.model == nil)
        #expect(report.summary.contains("1 mismatches (1 flaky)"))
        let yaml = { (c: FuzzCase) in FuzzCaseWriter.yaml(c, observed: FuzzObservation(), seed: 3, modelSaid: nil) }
        #expect(m.map { yaml($0.shrunk) == yaml($0.original) } == true)
        #expect(m.map { $0.target.events.last == .setup(ret: -1) } == true)   // the original's own observation
    }

    @Test func observationsSurviveThePipe() {
        var o = FuzzObservation()
        o.events = [.register(ret: -22, pduWrittenBack: nil), .register(ret: 0, pduWrittenBack: 12), .setup(ret: 0),
                    .submit(submitted: 2, cqes: [CQE(userData: 0x1_0000_0001, res: -13), CQE(userData: 2, res: 0)]),
                    .submit(submitted: -77, cqes: [])]
        o.events.append(.call("restrict", ret: -1))
        func piped(_ o: FuzzObservation) -> FuzzObservation? {
            var r = PipeFrame.Reader()
            r.append(PipeFrame.encode(o.compact))
            return (try? r.finish(String.self).get()).flatMap { FuzzObservation(compact: $0) }
        }
        #expect(piped(o) == o)
        // the CQE wait travels too (a measurement: == looks at the events alone)
        o.cqeWaitMs = 1234
        o.cqeWaitTimedOut = true
        let back = piped(o)
        #expect(back?.cqeWaitMs == 1234 && back?.cqeWaitTimedOut == true)
        var waits = CQEWaits()
        waits.add(o)
        waits.add(FuzzObservation())
        #expect(waits.summary == "2 cases: longest 1234 ms; >= 10 ms: 1, >= 100 ms: 1, >= 500 ms: 1; met the CQE timeout: 1")
    }
}
