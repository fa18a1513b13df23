import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// Where a case runs: in a long-lived worker process shared with other
/// cases, or in a fresh child of its own (the way every case ran before).
public enum CaseIsolation: Equatable, Sendable {
    /// The case only touches ring state: it creates rings, registers ring
    /// filters and ring restrictions, submits and closes its rings. All of
    /// that goes away with its rings, so the next case in the worker starts
    /// from the same process state (the worker checks that it did).
    case sharedWorker
    /// The case changes something that outlives its rings; why.
    case freshChild(String)

    /// Decided from the case's steps, never by hand.
    public static func of(_ c: TestCase) -> CaseIsolation {
        // Each N runs in a forked child, and fail-nth is the task's own.
        if c.injection != nil { return .freshChild("fault injection (inject:)") }
        return of(steps: c.steps)
    }

    public static func of(steps: [Step]) -> CaseIsolation {
        for step in steps {
            if let why = needsFreshChild(step) { return .freshChild(why) }
        }
        return .sharedWorker
    }

    /// The lowest address a user mapping can have (vm.mmap_min_addr's default):
    /// an SQE pointer below it can never point into the worker's memory.
    static let lowestMappedAddress: UInt64 = 65536

    private static func needsFreshChild(_ step: Step) -> String? {
        func target(_ t: RegisterTarget, _ what: String) -> String? {
            switch t {
            case .ring: return nil
            case .task: return "task-level \(what)"
            case .rawFD(let fd): return "\(what) on raw fd \(fd)" + (fd == -1 ? " (the task)" : "")
            }
        }
        switch step {
        case .ring(let spec, _, _):
            // IORING_REGISTER_RING_FDS fills a slot of the task's io_uring context.
            return spec.registerFD ? "registers a ring fd (the task's io_uring context)" : nil
        case .register(let reg, _, _):
            return target(reg.target, "filter")
        case .sweep(_, let reg, _, _):
            return target(reg.target, "filter")
        case .restrict(let spec, _, _):
            return target(spec.target, "restriction")
        case .enableRings, .closeRing:
            return nil
        case .submit(_, let sqes, _, _):
            // A raw pointer that could land in the worker's own memory would
            // let the kernel write into it; payloads are placed per case.
            for s in sqes where s.addrPayload == nil && (s.addr >= lowestMappedAddress || s.addr3 >= lowestMappedAddress) {
                return "an SQE with a raw user pointer"
            }
            return nil
        case .fork: return "forks"
        // A thread's task filters and registered ring fds are a task's own; unjoined
        // state is not expected, but a fresh child keeps the worker out of it.
        case .thread: return "starts a thread"
        case .exec(let e, _): return e.spawn ? "spawns a new image" : "execs a new image"
        case .userNamespace: return "enters a user namespace"
        case .sendRing: return "passes a ring over SCM_RIGHTS"
        case .setNoNewPrivs: return "sets no_new_privs"
        case .dropPrivileges: return "drops privileges"
        case .taint: return "taints the kernel"
        }
    }
}

extension CaseIsolation {
    /// The longest timer the case's SQEs arm (TIMEOUT, LINK_TIMEOUT), in
    /// milliseconds. A case with one of 20 ms or more spends most of its time
    /// asleep, so it runs in a worker of its own beside the others
    /// (`Runner.runShared`): about half a second of the default suite under TCG.
    public static func timerMs(_ steps: [Step]) -> UInt64 {
        var longest: UInt64 = 0
        for step in steps {
            switch step {
            case .submit(_, let sqes, _, _):
                for s in sqes {
                    guard case .number(let op) = s.opcode, op == Opcode.timeout || op == Opcode.linkTimeout,
                          let ts = s.addrPayload, ts.count >= 16 else { continue }
                    let img = ByteImage(bytes: ts)
                    let ms = img.load(UInt64.self, at: 0) &* 1000 &+ img.load(UInt64.self, at: 8) / 1_000_000
                    longest = max(longest, ms)
                }
            case .fork(let inner, _), .thread(let inner, _):
                longest = max(longest, timerMs(inner))
            case .exec(let e, _):
                longest = max(longest, timerMs(e.before), timerMs(e.steps))
            default:
                continue
            }
        }
        return longest
    }

    /// Timers at least this long make a case a sleeper.
    public static let sleeperTimerMs: UInt64 = 20
}

/// The process state a worker must return to after every case.
public struct WorkerState: Equatable, Sendable {
    /// Open fds and what they point at (/proc/self/fd).
    public var fds: [Int32: String]
    /// A child process exists (running or a zombie).
    public var hasChildren: Bool
    /// Memory placements (UserMemory) still mapped.
    public var placements: Int
    public var noNewPrivs: Bool
    public var euid: UInt32

    public init(fds: [Int32: String], hasChildren: Bool = false, placements: Int = 0, noNewPrivs: Bool = false, euid: UInt32 = 0) {
        self.fds = fds; self.hasChildren = hasChildren; self.placements = placements
        self.noNewPrivs = noNewPrivs; self.euid = euid
    }

    /// This process, now. Cheap, because it runs after every case: an fd is
    /// identified by fstat (device and inode), not by readlink on /proc
    /// (0.7 ms per check under TCG against a few µs); readlink names only
    /// the fds a problem reports.
    public static func current() -> WorkerState {
        var fds: [Int32: String] = [:]
        if let dir = opendir("/proc/self/fd") {
            let own = dirfd(dir)
            while let e = readdir(dir) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                guard let fd = Int32(name), fd != own else { continue }
                var st = stat()
                fds[fd] = fstat(fd, &st) == 0 ? "\(st.st_dev):\(st.st_ino)" : "?"
            }
            closedir(dir)
        }
        var st: Int32 = 0
        let w = waitpid(-1, &st, WNOHANG)
        let children = !(w < 0 && errno == ECHILD)
        return WorkerState(fds: fds, hasChildren: children, placements: UserMemory.live,
                           noNewPrivs: rf_get_no_new_privs() == 1, euid: geteuid())
    }

    /// What an open fd of this process points at (`/dev/null`, `anon_inode:[io_uring]`).
    static func target(_ fd: Int32) -> String? {
        var buf = [Int8](repeating: 0, count: 256)
        let n = readlink("/proc/self/fd/\(fd)", &buf, buf.count - 1)
        return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    /// What differs from `baseline`; empty when the worker is clean.
    public func problems(comparedTo baseline: WorkerState) -> [String] {
        var out: [String] = []
        let opened = fds.keys.filter { baseline.fds[$0] == nil || baseline.fds[$0] != fds[$0] }.sorted()
        let closed = baseline.fds.keys.filter { fds[$0] == nil }.sorted()
        if !opened.isEmpty { out.append("fds left open: " + opened.map { "\($0) (\(WorkerState.target($0) ?? fds[$0]!))" }.joined(separator: ", ")) }
        if !closed.isEmpty { out.append("fds closed: " + closed.map(String.init).joined(separator: ", ")) }
        if hasChildren { out.append("child processes left") }
        if placements != baseline.placements { out.append("\(placements - baseline.placements) memory placements left mapped") }
        if noNewPrivs != baseline.noNewPrivs { out.append("no_new_privs changed") }
        if euid != baseline.euid { out.append("euid changed to \(euid)") }
        return out
    }
}

/// Long-lived worker processes, one per job, for cases classed
/// `.sharedWorker`. Each gets a case (its index into the runner's list, which
/// it inherited at fork), runs it, checks it is back to the state it started
/// in, and answers. A timeout or crash ends the worker (a new one takes its
/// place); so does a failed check: the case keeps its result and gets a note.
final class WorkerPool {
    typealias RunCase = (TestCase) -> (passed: Bool, diagnostics: [String])

    private let cases: [TestCase]
    private let defaultTimeout: Double
    private let runCase: RunCase
    private(set) var stats = Stats()

    struct Stats {
        var shared = 0
        var workersStarted = 0
        /// Cases after which a worker was not clean, with what was left.
        var dirty: [(id: String, problems: [String])] = []
    }

    /// A worker process and the case it is running.
    private struct Worker {
        /// The queue this worker takes cases from.
        let lane: Int
        let pid: pid_t
        let toWorker: Int32
        let fromWorker: Int32
        var busy: (index: Int, start: UInt64, deadline: UInt64)?
        var input = PipeFrame.Reader()
    }

    /// What the parent sends a worker (one PipeFrame each).
    enum Command: Codable, Equatable {
        /// Run the case at this index into `cases`.
        case run(Int)
        case quit
    }

    /// What a worker answers after each case (one PipeFrame).
    struct Answer: Codable, Equatable {
        /// What the worker's state check found left over; empty when clean.
        var problems: [String]
        var report: ChildReport
    }

    private var workers: [Worker] = []

    init(cases: [TestCase], defaultTimeout: Double, runCase: @escaping RunCase) {
        self.cases = cases
        self.defaultTimeout = defaultTimeout
        self.runCase = runCase
    }

    // MARK: the worker's side

    private func workerMain(commands: Int32, answers: Int32) -> Never {
        _ = rf_setpgid_self()   // so a timeout kills whatever the case started too
        let baseline = WorkerState.current()
        while true {
            guard case .success(.run(let index)) = PipeFrame.read(Command.self, from: commands), cases.indices.contains(index) else { _exit(0) }
            let out = autoreleased { runCase(cases[index]) }
            let problems = WorkerState.current().problems(comparedTo: baseline)
            PipeFrame.write(Answer(problems: problems, report: ChildReport(ok: out.passed, diagnostics: out.diagnostics)), to: answers)
            if !problems.isEmpty { _exit(0) }   // the parent replaces a dirty worker
        }
    }

    /// Runs `body` in a scope of its own, so the case's backend and executor
    /// (rings, pipes, payloads) are gone before the state check.
    @inline(never)
    private func autoreleased<T>(_ body: () -> T) -> T { body() }

    // MARK: the parent's side

    private func spawn(lane: Int) -> Worker? {
        var cmd: [Int32] = [0, 0], ans: [Int32] = [0, 0]
        guard pipe(&cmd) == 0 else { return nil }
        guard pipe(&ans) == 0 else { close(cmd[0]); close(cmd[1]); return nil }
        fflush(stdout)
        fflush(stderr)
        let pid = rf_fork()
        if pid < 0 {
            cmd.forEach { close($0) }; ans.forEach { close($0) }
            return nil
        }
        if pid == 0 {
            // Not the other workers' pipes: their EOFs must reach the parent.
            for w in workers { close(w.toWorker); close(w.fromWorker) }
            close(cmd[1]); close(ans[0])
            workerMain(commands: cmd[0], answers: ans[1])
        }
        close(cmd[0]); close(ans[1])
        stats.workersStarted += 1
        return Worker(lane: lane, pid: pid, toWorker: cmd[1], fromWorker: ans[0])
    }

    private func retire(_ k: Int, kill hard: Bool) {
        let w = workers.remove(at: k)
        if hard {
            kill(-w.pid, SIGKILL)
            kill(w.pid, SIGKILL)
        } else {
            PipeFrame.write(Command.quit, to: w.toWorker)
        }
        close(w.toWorker)
        close(w.fromWorker)
        var st: Int32 = 0
        while waitpid(w.pid, &st, 0) < 0 && errno == EINTR {}
    }

    /// Runs each lane's cases (indexes into `cases`, all `.sharedWorker`), in
    /// order, on up to that lane's `jobs` workers of its own; the lanes run at
    /// the same time.
    func run(lanes: [(work: [Int], jobs: Int)], started: (Int) -> Void, finished: (Int, CaseResult) -> Void) {
        let oldPipe = signal(SIGPIPE, SIG_IGN)
        defer {
            while !workers.isEmpty { retire(0, kill: false) }
            signal(SIGPIPE, oldPipe)
        }
        stats.shared += lanes.reduce(0) { $0 + $1.work.count }
        var pendingByLane = lanes.map { $0.work[...] }
        var lostWorkers = 0
        var buf = [UInt8](repeating: 0, count: 65536)
        while pendingByLane.contains(where: { !$0.isEmpty }) || workers.contains(where: { $0.busy != nil }) {
            for lane in lanes.indices {
                // Hand out the lane's cases: its idle workers first, new ones up to its `jobs`.
                while let i = pendingByLane[lane].first {
                    var k = workers.firstIndex { $0.busy == nil && $0.lane == lane }
                    if k == nil, workers.count(where: { $0.lane == lane }) < lanes[lane].jobs {
                        guard let w = spawn(lane: lane) else {
                            pendingByLane[lane] = pendingByLane[lane].dropFirst()
                            started(i)
                            finished(i, CaseResult(cases[i], status: .crash, reason: "fork: \(Errno.name(errno))"))
                            continue
                        }
                        workers.append(w)
                        k = workers.count - 1
                    }
                    guard let k else { break }
                    let start = rf_now_ns()
                    if let writeError = PipeFrame.write(Command.run(i), to: workers[k].toWorker) {
                        // An idle worker that died between cases: the case never
                        // reached it. Replace the worker and hand the case out again.
                        retire(k, kill: true)
                        lostWorkers += 1
                        if lostWorkers <= 3 { continue }
                        pendingByLane[lane] = pendingByLane[lane].dropFirst()
                        started(i)
                        finished(i, CaseResult(cases[i], status: .crash, reason: "could not hand the case to a worker: \(writeError)"))
                        continue
                    }
                    pendingByLane[lane] = pendingByLane[lane].dropFirst()
                    started(i)
                    let timeout = cases[i].timeout ?? defaultTimeout
                    workers[k].busy = (i, start, start + UInt64(timeout * 1e9))
                    workers[k].input = PipeFrame.Reader()
                }
            }
            let busy = workers.indices.filter { workers[$0].busy != nil }
            if busy.isEmpty { continue }
            let now = rf_now_ns()
            let nearest = busy.map { workers[$0].busy!.deadline }.min()!
            var pfds = busy.map { pollfd(fd: workers[$0].fromWorker, events: Int16(POLLIN), revents: 0) }
            let waitMs = Int32(min(1000, nearest > now ? (nearest - now) / 1_000_000 + 1 : 0))
            let r = poll(&pfds, nfds_t(pfds.count), waitMs)
            if r < 0 && errno != EINTR { continue }
            // Highest index first: answering may remove a worker.
            for (p, k) in busy.enumerated().reversed() {
                if pfds[p].revents != 0 {
                    let n = buf.withUnsafeMutableBytes { read(workers[k].fromWorker, $0.baseAddress!, $0.count) }
                    if n > 0 {
                        workers[k].input.append(buf[0..<n])
                        if let (j, r) = answer(k, eof: false) { finished(j, r) }
                    } else if !(n < 0 && errno == EINTR), let (j, r) = answer(k, eof: true) {
                        finished(j, r)
                    }
                } else if rf_now_ns() >= workers[k].busy!.deadline, let (j, r) = answer(k, eof: false, timedOut: true) {
                    finished(j, r)
                }
            }
        }
    }

    /// Turns what worker `k` sent into a result, when it is complete or the
    /// worker is gone; replaces the worker when it cannot go on.
    private func answer(_ k: Int, eof: Bool, timedOut: Bool = false) -> (Int, CaseResult)? {
        guard let busy = workers[k].busy else { return nil }
        let c = cases[busy.index]
        let ms = { Double(rf_now_ns() - busy.start) / 1e6 }
        if timedOut {
            retire(k, kill: true)
            return (busy.index, CaseResult(c, status: .timeout, reason: "\(Int(c.timeout ?? defaultTimeout)) seconds", durationMs: ms()))
        }
        var input = workers[k].input
        let frame = input.next(Answer.self)
        guard case .success(let answer)? = frame else {
            if frame == nil && !eof { return nil }   // more to come
            let pid = workers[k].pid
            kill(pid, SIGKILL)
            var st: Int32 = 0
            _ = workers.remove(at: k)
            while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
            let error: PipeFrameError
            if case .failure(let e)? = frame { error = e } else { error = input.endOfStream() }
            return (busy.index, CaseResult(c, status: .crash, reason: Runner.crashReason(status: st, error), durationMs: ms()))
        }
        var result = CaseResult(c, status: answer.report.ok ? .pass : .fail, diagnostics: answer.report.diagnostics, durationMs: ms())
        workers[k].busy = nil
        workers[k].input = input
        if !answer.problems.isEmpty {
            let problems = answer.problems.joined(separator: "; ")
            stats.dirty.append((c.id, [problems]))
            result.diagnostics.append("note: the shared worker was not clean after this case (\(problems)); it was replaced")
            retire(k, kill: false)
        }
        return (busy.index, result)
    }
}

/// How a run's cases were isolated (the `cases-run` phase line says it).
public struct IsolationStats: Sendable {
    public var freshChildren = 0
    public var sharedWorker = 0
    public var workersStarted = 0
    /// Wall time of the fresh-child phase and of the shared-worker phase.
    public var freshNs: UInt64 = 0
    public var sharedNs: UInt64 = 0
    /// Cases after which a worker was not clean, with what was left.
    public var dirty: [(id: String, problems: String)] = []
    public init() {}

    public var summary: String {
        if sharedWorker == 0 && freshChildren == 0 { return "none isolated" }
        let fresh = "\(freshChildren) in fresh children" + (freshNs > 0 ? " (\(PhaseTimes.seconds(freshNs)) s)" : "")
        if sharedWorker == 0 { return fresh }
        return fresh + ", \(sharedWorker) in \(workersStarted) shared worker(s)" + (sharedNs > 0 ? " (\(PhaseTimes.seconds(sharedNs)) s)" : "")
            + (dirty.isEmpty ? "" : ", \(dirty.count) dirty worker(s) replaced after: " + dirty.map(\.id).joined(separator: ", "))
    }
}

extension Runner {
    /// Cases for fresh children and cases for shared workers (all of them
    /// fresh with --isolate-all); counted in `isolation`.
    func splitForWorkers(_ runnable: [(Int, TestCase)]) -> (fresh: [(Int, TestCase)], shared: [(Int, TestCase)]) {
        var fresh: [(Int, TestCase)] = [], shared: [(Int, TestCase)] = []
        for w in runnable {
            if !options.isolateAll, CaseIsolation.of(w.1) == .sharedWorker { shared.append(w) } else { fresh.append(w) }
        }
        isolation.freshChildren += fresh.count
        return (fresh, shared)
    }

    /// Runs `.sharedWorker` cases on up to `jobs` long-lived workers.
    func runShared(_ work: [(Int, TestCase)], jobs: Int, started: (Int) -> Void, finished: (Int, CaseResult) -> Void) {
        guard !work.isEmpty else { return }
        let backend = makeBackend, last = facts.opcodeLast
        let pool = WorkerPool(cases: work.map(\.1), defaultTimeout: options.timeout) { c in
            let out = Executor(backend: backend(), opcodeLast: last).run(c)
            return (out.passed, out.diagnostics)
        }
        // The same kmsg markers and taint check as a case in its own child: the
        // case runs in the worker strictly between handing it over and its answer.
        var taintBefore: [Int: UInt64] = [:]
        var active: [Int: String] = [:]
        var overlapping: [Int: [(Int, String)]] = [:]
        // Sleepers (cases waiting on a timer) get a lane of their own, so the
        // others run while they sleep. With more jobs they share the lanes' workers.
        var sleepers: [Int] = [], others: [Int] = []
        for k in work.indices {
            if CaseIsolation.timerMs(work[k].1.steps) >= CaseIsolation.sleeperTimerMs { sleepers.append(k) } else { others.append(k) }
        }
        let lanes: [(work: [Int], jobs: Int)] = jobs == 1 && !sleepers.isEmpty && !others.isEmpty
            ? [(others, 1), (sleepers, 1)]
            : [(Array(work.indices), jobs)]
        pool.run(lanes: lanes, started: { k in
            let (i, c) = work[k]
            started(i)
            for (j, id) in active {
                overlapping[j, default: []].append((i, c.id))
                overlapping[i, default: []].append((j, id))
            }
            if let t = taintBeforeCase(othersRunning: !active.isEmpty) { taintBefore[i] = t }
            active[i] = c.id
            markers?.write(KernelLogMarkers.begin(i + 1, c.id))
        }, finished: { k, r in
            let i = work[k].0
            if active[i] != nil { markers?.write(KernelLogMarkers.end(i + 1)) }
            active[i] = nil
            let others = (overlapping.removeValue(forKey: i) ?? []).sorted { $0.0 < $1.0 }.map { "\($0.0 + 1) \($0.1)" }
            let judged = Self.judgeTaint(r, before: taintBefore.removeValue(forKey: i), after: taintAfterCase(), overlapping: others)
            finished(i, withLogSlice(judged, number: i + 1))
        })
        isolation.sharedWorker += pool.stats.shared
        isolation.workersStarted += pool.stats.workersStarted
        isolation.dirty += pool.stats.dirty.map { ($0.id, $0.problems.joined(separator: "; ")) }
    }

    public var isolationSummary: String { isolation.summary }
}
