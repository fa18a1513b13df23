// The executor's observing mode, for the fuzzer: every step runs (a failing call does
// not stop the case) and each ring, register, restrict, enable and submit step records
// one event instead of judging its expectation, so event i is step i's outcome.
// Other steps run as usual and record nothing; the fuzzer makes none.

extension Executor {
    /// What observing mode keeps besides the events.
    struct Observing {
        var observation = FuzzObservation()
        /// Per submit step, in order: how many CQEs to wait for (the model's count, so the
        /// live run waits for as many as the model produced); without it, one per SQE.
        var expectedCQEs: [Int]?
        var submits = 0
        /// Per ring: its setup flags, and whether it is enabled (not R_DISABLED, or
        /// IORING_REGISTER_ENABLE_RINGS returned 0 on it).
        var rings: [String: (flags: SetupFlags, enabled: Bool)] = [:]

        mutating func madeRing(_ name: String, flags: SetupFlags) {
            rings[name] = (flags, !flags.contains(.rDisabled))
        }

        /// An SQPOLL ring that is enabled: its SQ thread consumes what a submit hands it.
        func sqThreadRuns(_ name: String) -> Bool {
            guard let r = rings[name] else { return false }
            return r.flags.contains(.sqpoll) && r.enabled
        }
    }

    /// Runs `steps` in observing mode and returns one event per step; the rings the steps
    /// made are closed at the end.
    public func observe(_ steps: [Step], expectedCQEs: [Int]? = nil) -> FuzzObservation {
        observing = Observing(expectedCQEs: expectedCQEs)
        for step in steps { _ = execute(step) }
        let o = observing?.observation ?? FuzzObservation()
        observing = nil
        for fd in rings.values where fd >= 0 { backend.closeRing(fd) }
        rings = [:]
        return o
    }

    /// Records `event`; the step never fails in observing mode.
    func record(_ event: FuzzObservation.Event) -> [String]? {
        observing?.observation.events.append(event)
        return nil
    }

    /// A `ring` step: the new ring replaces the old one of that name even when its setup
    /// failed (its steps then use the negative fd, as on first use).
    func observeSetUp(_ spec: RingSpec, _ fd: Int32) -> [String]? {
        if let old = rings[spec.name], old >= 0 { backend.closeRing(old) }
        rings[spec.name] = fd
        observing?.madeRing(spec.name, flags: spec.flags)
        return record(.setup(ret: fd < 0 ? fd : 0))
    }

    /// The return, and the pdu_size written back when the kernel writes it (0 or -EMSGSIZE).
    func observeRegister(_ out: RegisterOutcome) -> [String]? {
        let pdu = (out.ret == 0 || out.ret == -Errno.EMSGSIZE) ? out.argAfter.map(FilterRegistration.pduSize(in:)) : nil
        return record(.register(ret: out.ret, pduWrittenBack: pdu))
    }

    func observeEnable(_ name: String, _ ret: Int32) -> [String]? {
        if ret == 0 { observing?.rings[name]?.enabled = true }
        return record(.call("enable", ret: ret))
    }

    /// Submits, waits for as many CQEs as expected, and on an SQPOLL ring that is enabled
    /// (per this backend's own enable result) waits until the SQ thread has consumed what
    /// it was handed, so the next registration comes after those SQEs went through
    /// io_submit_sqes(), as in the model. Only here: a case file's submit does not wait.
    func observeSubmit(_ name: String, _ fd: Int32, _ sqes: [SQESpec]) -> [String]? {
        guard observing != nil else { return nil }
        let submits = observing!.submits
        let want = observing!.expectedCQEs.flatMap { submits < $0.count ? $0[submits] : nil } ?? sqes.count
        observing!.submits += 1
        let out = backend.submit(ring: fd, sqes: sqes, expecting: want, timeoutMs: cqeTimeoutMs)
        if observing!.sqThreadRuns(name), out.submitted >= 0 {
            _ = backend.waitForSQConsumed(ring: fd, timeoutMs: cqeTimeoutMs)
        }
        observing!.observation.events.append(.submit(submitted: out.submitted, cqes: out.cqes))
        observing!.observation.cqeWaitMs = max(observing!.observation.cqeWaitMs, Int(out.cqeWaitNs / 1_000_000))
        if out.cqeWaitTimedOut { observing!.observation.cqeWaitTimedOut = true }
        return nil
    }
}
