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
    /// How runAll isolated the cases (Worker.swift).
    public internal(set) var isolation = IsolationStats()

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
        let out = Executor(backend: makeBackend(), opcodeLast: facts.opcodeLast).run(c.steps)
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
            runIsolated(fresh, jobs: max(1, jobs), started: started, finished: finished)
            runShared(shared, jobs: max(1, jobs), started: started, finished: finished)
        } else {
            for (i, c) in runnable {
                started(i)
                let t0 = rf_now_ns()
                var r = runInProcess(c)
                r.durationMs = Double(rf_now_ns() - t0) / 1e6
                finished(i, r)
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
        var output: [UInt8] = []
    }

    private enum Launch { case running(Child), failed(CaseResult) }

    private func launch(_ index: Int, _ c: TestCase) -> Launch {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return .failed(CaseResult(c, status: .crash, reason: "pipe: \(Errno.name(errno))")) }
        fflush(stdout)
        fflush(stderr)
        let start = rf_now_ns()
        let pid = rf_fork()
        if pid < 0 {
            close(fds[0]); close(fds[1])
            return .failed(CaseResult(c, status: .crash, reason: "fork: \(Errno.name(errno))"))
        }
        if pid == 0 {
            close(fds[0])
            _ = rf_setpgid_self()   // so a timeout kills the case's own children too
            let out = Executor(backend: makeBackend(), opcodeLast: facts.opcodeLast).run(c.steps)
            ChildChannel.write(([out.passed ? "PASS" : "FAIL"] + out.diagnostics).joined(separator: "\n"), to: fds[1])
            _exit(0)
        }
        close(fds[1])
        let timeout = c.timeout ?? options.timeout
        return .running(Child(index: index, testCase: c, pid: pid, fd: fds[0], start: start,
                              deadline: start + UInt64(timeout * 1e9)))
    }

    private func runIsolated(_ work: [(Int, TestCase)], jobs: Int, started: (Int) -> Void, finished: (Int, CaseResult) -> Void) {
        var pending = work[...]
        var running: [Child] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while !pending.isEmpty || !running.isEmpty {
            while running.count < jobs, let (i, c) = pending.first {
                pending = pending.dropFirst()
                started(i)
                switch launch(i, c) {
                case .running(let child): running.append(child)
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
                    if n > 0 { running[k].output += buf[0..<n]; continue }
                    if n < 0 && errno == EINTR { continue }
                    done.append(k)
                } else if rf_now_ns() >= running[k].deadline {
                    done.append(k)
                }
            }
            for k in done.reversed() {
                let child = running.remove(at: k)
                finished(child.index, reap(child))
            }
        }
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
        var lines = String(decoding: child.output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let verdict = lines.isEmpty ? "" : lines.removeFirst()
        switch verdict {
        case "PASS": return CaseResult(c, status: .pass, diagnostics: lines, durationMs: ms)
        case "FAIL": return CaseResult(c, status: .fail, diagnostics: lines, durationMs: ms)
        default:
            let how = (status & 0x7f) != 0 ? "killed by signal \(status & 0x7f)" : "exited \((status >> 8) & 0xff) without a result"
            return CaseResult(c, status: .crash, reason: "case process \(how)", durationMs: ms)
        }
    }
}
