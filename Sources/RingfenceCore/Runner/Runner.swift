import CRingfence
#if canImport(Glibc)
import Glibc
#endif

public struct RunOptions: Sendable {
    /// Seconds before a case's process is killed.
    public var timeout: Double = 10
    /// Fork a child per case (task-level filters can never be removed). Only a
    /// simulated backend may run without it.
    public var isolate = true
    /// Also run cases of the exhaustive tier.
    public var exhaustive = false
    /// With isolate: a fresh child for every case, even those a shared worker
    /// could run (CaseIsolation, Worker.swift). `run --isolate-all`.
    public var isolateAll = false
    public init() {}
}

/// Runs cases: checks requirements against the probed kernel, executes each
/// case in a fresh child with a timeout, and collects the results.
public final class Runner {
    public let facts: KernelFacts
    public let options: RunOptions
    let makeBackend: () -> KernelBackend
    /// Loads a module on demand (the guest wires libkmod here); returns an error text or nil.
    public var loadModule: ((String) -> String?)?
    /// Makes fail-nth usable (the failslab knobs) or says why it is not:
    /// `requires: fault-injection`, implied by `inject:`. The model's tests replace it.
    public var prepareFaultInjection: () -> String? = FaultInjectionSetup.prepare
    /// Case begin/end markers in the kernel log (/dev/kmsg in the VM guest); nil: none.
    public var markers: KernelLogMarkers?
    /// Reads the kernel's taint mask (KernelTaint.read); nil: taint is not checked.
    /// Read before each case starts and after it is reaped: new bits fail the case.
    public var readTaint: (() -> UInt64?)?
    /// Reads the kernel log (KernelLog.read) for the slice between a tainting
    /// case's markers; nil: no slice in the diagnostics.
    public var readKernelLog: (() -> String?)?
    /// How runAll isolated the cases (Worker.swift).
    public internal(set) var isolation = IsolationStats()
    /// The taint mask read after the last case ended, until the next case starts.
    private var taintAfterLastCase: UInt64?

    /// The taint mask before a case starts. With no other case running, the
    /// mask read when the previous case ended is that moment as far as cases
    /// go (only the runner's own bookkeeping ran since), so it is reused: one
    /// read per case instead of two, 0.1–0.3 ms each under TCG. A bit that
    /// appears in between fails this case, where a fresh read would miss it.
    func taintBeforeCase(othersRunning: Bool) -> UInt64? {
        defer { taintAfterLastCase = nil }
        if !othersRunning, let t = taintAfterLastCase { return t }
        return readTaint?()
    }

    /// The taint mask after a case ended (remembered for the next case).
    func taintAfterCase() -> UInt64? {
        let t = readTaint?()
        taintAfterLastCase = t
        return t
    }

    public init(facts: KernelFacts, options: RunOptions = RunOptions(), backend: @escaping () -> KernelBackend = { LiveKernel() }) {
        self.facts = facts
        self.options = options
        self.makeBackend = backend
    }

    /// Why the case cannot run here, or nil.
    public func unmetRequirement(_ c: TestCase) -> String? {
        for r in c.requires {
            switch r {
            case .bpfFilter where !facts.bpfFilter:
                return "kernel lacks IORING_REGISTER_BPF_FILTER"
            case .root where !facts.isRoot:
                return "needs root (CAP_SYS_ADMIN)"
            case .opcode(let op) where op >= facts.opcodeLast:
                return "kernel lacks opcode \(Opcode.name(op)) (IORING_OP_LAST is \(facts.opcodeLast))"
            case .context(let op) where (facts.contextSizes[op] ?? 0) == 0:
                return "kernel gives \(Opcode.name(op)) no filter context"
            case .faultInjection:
                if let why = prepareFaultInjection() { return why }
            case .module(let name) where !facts.loadedModules.contains(name):
                if let load = loadModule {
                    if let err = load(name) { return "module \(name): \(err)" }
                } else {
                    return "module \(name) not loaded"
                }
            default:
                continue
            }
        }
        if let why = c.byteOrder?.skipReason(on: .host) { return why }
        // After the kernel checks: a kernel without the feature is the reason that matters.
        if c.tier == .exhaustive && !options.exhaustive {
            return "exhaustive tier: ringfence run --exhaustive (run-in-vm.sh --exhaustive)"
        }
        return nil
    }

    public func run(_ c: TestCase) -> CaseResult {
        if let reason = unmetRequirement(c) { return CaseResult(c, status: .skip, reason: reason) }
        let start = rf_now_ns()
        var result = options.isolate ? runIsolated(c) : runInProcess(c)
        result.durationMs = Double(rf_now_ns() - start) / 1e6
        return result
    }

    private func runInProcess(_ c: TestCase) -> CaseResult {
        let out = Executor(backend: makeBackend(), opcodeLast: facts.opcodeLast).run(c)
        return CaseResult(c, status: out.passed ? .pass : .fail, diagnostics: out.diagnostics)
    }

    private func runIsolated(_ c: TestCase) -> CaseResult {
        var result: CaseResult?
        runIsolated([(0, c)], jobs: 1, started: { _ in }, finished: { _, r in result = r })
        return result!
    }

    /// Runs every case, up to `jobs` forked children at once. `started` is
    /// called as a case's child starts (skipped cases never start),
    /// `finished` as results arrive, in completion order.
    public func runAll(_ cases: [TestCase], jobs: Int, started: (Int) -> Void, finished: (Int, CaseResult) -> Void) {
        var runnable: [(Int, TestCase)] = []
        for (i, c) in cases.enumerated() {
            if let reason = unmetRequirement(c) { finished(i, CaseResult(c, status: .skip, reason: reason)) } else { runnable.append((i, c)) }
        }
        if options.isolate {
            let (fresh, shared) = splitForWorkers(runnable)
            let t0 = rf_now_ns()
            runIsolated(fresh, jobs: max(1, jobs), started: started, finished: finished)
            let t1 = rf_now_ns()
            runShared(shared, jobs: max(1, jobs), started: started, finished: finished)
            isolation.freshNs += t1 - t0
            isolation.sharedNs += rf_now_ns() - t1
        } else {
            for (i, c) in runnable {
                started(i)
                let before = taintBeforeCase(othersRunning: false)
                markers?.write(KernelLogMarkers.begin(i + 1, c.id))
                let t0 = rf_now_ns()
                var r = runInProcess(c)
                r.durationMs = Double(rf_now_ns() - t0) / 1e6
                markers?.write(KernelLogMarkers.end(i + 1))
                finished(i, withLogSlice(Self.judgeTaint(r, before: before, after: taintAfterCase(), overlapping: []), number: i + 1))
            }
        }
    }

    /// A case's child process while it runs.
    private struct Child {
        let index: Int
        let testCase: TestCase
        let pid: pid_t
        let fd: Int32
        let start: UInt64
        let deadline: UInt64
        /// The taint mask just before the case started (nil: not checked).
        let taintBefore: UInt64?
        /// The child's report as it arrives (PipeFrame, ChildReport).
        var output = PipeFrame.Reader()
        /// Cases that ran at the same time as this one at some point: (index, id).
        var overlapping: [(Int, String)] = []
    }

    private enum Launch { case running(Child), failed(CaseResult) }

    private func launch(_ index: Int, _ c: TestCase, othersRunning: Bool) -> Launch {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return .failed(CaseResult(c, status: .crash, reason: "pipe: \(Errno.name(errno))")) }
        fflush(stdout)
        fflush(stderr)
        let taintBefore = taintBeforeCase(othersRunning: othersRunning)
        markers?.write(KernelLogMarkers.begin(index + 1, c.id))
        let start = rf_now_ns()
        let pid = rf_fork()
        if pid < 0 {
            close(fds[0]); close(fds[1])
            markers?.write(KernelLogMarkers.end(index + 1))
            return .failed(CaseResult(c, status: .crash, reason: "fork: \(Errno.name(errno))"))
        }
        if pid == 0 {
            close(fds[0])
            _ = rf_setpgid_self()   // so a timeout kills the case's own children too
            let out = Executor(backend: makeBackend(), opcodeLast: facts.opcodeLast).run(c)
            PipeFrame.write(ChildReport(ok: out.passed, diagnostics: out.diagnostics), to: fds[1])
            _exit(0)
        }
        close(fds[1])
        let timeout = c.timeout ?? options.timeout
        return .running(Child(index: index, testCase: c, pid: pid, fd: fds[0], start: start,
                              deadline: start + UInt64(timeout * 1e9), taintBefore: taintBefore))
    }

    private func runIsolated(_ work: [(Int, TestCase)], jobs: Int, started: (Int) -> Void, finished: (Int, CaseResult) -> Void) {
        var pending = work[...]
        var running: [Child] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while !pending.isEmpty || !running.isEmpty {
            while running.count < jobs, let (i, c) = pending.first {
                pending = pending.dropFirst()
                started(i)
                switch launch(i, c, othersRunning: !running.isEmpty) {
                case .running(var child):
                    for k in running.indices {
                        running[k].overlapping.append((i, c.id))
                        child.overlapping.append((running[k].index, running[k].testCase.id))
                    }
                    running.append(child)
                case .failed(let r): finished(i, r)
                }
            }
            let now = rf_now_ns()
            let nearest = running.map(\.deadline).min() ?? now
            var pfds = running.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let waitMs = Int32(min(1000, nearest > now ? (nearest - now) / 1_000_000 + 1 : 0))
            let r = poll(&pfds, nfds_t(pfds.count), waitMs)
            if r < 0 && errno != EINTR { continue }
            var done: [Int] = []
            for k in running.indices {
                if pfds[k].revents != 0 {
                    let n = buf.withUnsafeMutableBytes { read(running[k].fd, $0.baseAddress!, $0.count) }
                    if n > 0 { running[k].output.append(buf[0..<n]); continue }
                    if n < 0 && errno == EINTR { continue }
                    done.append(k)
                } else if rf_now_ns() >= running[k].deadline {
                    done.append(k)
                }
            }
            for k in done.reversed() {
                let child = running.remove(at: k)
                let r = reap(child)
                markers?.write(KernelLogMarkers.end(child.index + 1))
                let after = child.taintBefore == nil ? nil : taintAfterCase()
                finished(child.index, withLogSlice(Self.judgeTaint(r, before: child.taintBefore, after: after,
                                                                   overlapping: child.overlapping.map { "\($0.0 + 1) \($0.1)" }),
                                                   number: child.index + 1))
            }
        }
    }

    /// A case after which the kernel has taint bits it did not have before
    /// fails, whatever it observed, with the new bits decoded. Cases that ran
    /// at the same time saw the same bits appear and fail too (the taint mask
    /// cannot say whose it is); each names the others, and the kernel log
    /// between the `ringfence: begin/end N` markers tells them apart.
    public static func judgeTaint(_ result: CaseResult, before: UInt64?, after: UInt64?, overlapping: [String]) -> CaseResult {
        guard let before, let after else { return result }
        let new = after & ~before
        guard new != 0 else { return result }
        var r = result
        r.taint = KernelTaint.letters(new)
        if !r.status.isFailure { r.status = .fail }
        r.diagnostics.append("kernel tainted while the case ran: \(KernelTaint.letters(new)) (tainted \(before) -> \(after)): \(KernelTaint.describe(new))")
        if !overlapping.isEmpty {
            r.diagnostics.append("ran at the same time as (each that saw the bits appear fails too; the kernel log between the ringfence: begin/end markers tells them apart): "
                                 + overlapping.joined(separator: ", "))
        }
        return r
    }

    /// A tainting case also gets the kernel log between its markers.
    func withLogSlice(_ r: CaseResult, number: Int) -> CaseResult {
        guard r.taint != nil, let log = readKernelLog?() else { return r }
        var r = r
        let slice = KernelLog.slice(KernelLog.messages(log), number: number, id: r.id)
        if slice.isEmpty {
            r.diagnostics.append("kernel log between ringfence: begin/end \(number): no messages")
        } else {
            r.diagnostics.append("kernel log between ringfence: begin/end \(number) (\(slice.count) lines):")
            r.diagnostics += slice.map { "  " + $0 }
        }
        return r
    }

    /// Why a case's process gave no result: how it ended, and what was wrong
    /// with its frame if it sent part of one.
    static func crashReason(status: Int32, _ error: PipeFrameError) -> String {
        let how = (status & 0x7f) != 0 ? PipeFrame.describe(status: status) : PipeFrame.describe(status: status) + " without a result"
        return "case process \(how)" + (error == .noFrame ? "" : " (\(error))")
    }

    /// Waits for a finished (or overdue) child and turns its output into a result.
    private func reap(_ child: Child) -> CaseResult {
        let c = child.testCase
        close(child.fd)
        let timedOut = rf_now_ns() >= child.deadline
        if timedOut {
            kill(-child.pid, SIGKILL)
            kill(child.pid, SIGKILL)
        }
        var status: Int32 = 0
        waitpid(child.pid, &status, 0)
        let ms = Double(rf_now_ns() - child.start) / 1e6
        if timedOut { return CaseResult(c, status: .timeout, reason: "\(Int(c.timeout ?? options.timeout)) seconds", durationMs: ms) }
        var output = child.output
        switch output.finish(ChildReport.self) {
        case .success(let report):
            return CaseResult(c, status: report.ok ? .pass : .fail, diagnostics: report.diagnostics, durationMs: ms)
        case .failure(let error):
            return CaseResult(c, status: .crash, reason: Self.crashReason(status: status, error), durationMs: ms)
        }
    }
}
