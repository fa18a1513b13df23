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
    public init() {}
}

/// Runs cases: checks requirements against the probed kernel, executes each
/// case in a fresh child with a timeout, and collects the results.
public final class Runner {
    public let facts: KernelFacts
    public let options: RunOptions
    private let makeBackend: () -> KernelBackend
    /// Loads a module on demand (the guest wires libkmod here); returns an error text or nil.
    public var loadModule: ((String) -> String?)?

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
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return CaseResult(c, status: .crash, reason: "pipe: \(Errno.name(errno))") }
        fflush(stdout)
        fflush(stderr)
        let pid = rf_fork()
        if pid < 0 { return CaseResult(c, status: .crash, reason: "fork: \(Errno.name(errno))") }
        if pid == 0 {
            close(fds[0])
            _ = rf_setpgid_self()   // so a timeout kills the case's own children too
            let out = Executor(backend: makeBackend(), opcodeLast: facts.opcodeLast).run(c.steps)
            ChildChannel.write(([out.passed ? "PASS" : "FAIL"] + out.diagnostics).joined(separator: "\n"), to: fds[1])
            _exit(0)
        }
        close(fds[1])
        let timeout = c.timeout ?? options.timeout
        let (text, timedOut) = readWithDeadline(fds[0], seconds: timeout)
        close(fds[0])
        if timedOut {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        if timedOut { return CaseResult(c, status: .timeout, reason: "\(Int(timeout)) seconds") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let verdict = lines.isEmpty ? "" : lines.removeFirst()
        switch verdict {
        case "PASS": return CaseResult(c, status: .pass, diagnostics: lines)
        case "FAIL": return CaseResult(c, status: .fail, diagnostics: lines)
        default:
            let how = (status & 0x7f) != 0 ? "killed by signal \(status & 0x7f)" : "exited \((status >> 8) & 0xff) without a result"
            return CaseResult(c, status: .crash, reason: "case process \(how)")
        }
    }

    /// Everything the child writes until EOF, or what came before the deadline.
    private func readWithDeadline(_ fd: Int32, seconds: Double) -> (String, Bool) {
        let deadline = rf_now_ns() + UInt64(seconds * 1e9)
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let now = rf_now_ns()
            if now >= deadline { return (String(decoding: out, as: UTF8.self), true) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, Int32(min(1000, (deadline - now) / 1_000_000 + 1)))
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n > 0 { out += buf[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        return (String(decoding: out, as: UTF8.self), false)
    }
}
