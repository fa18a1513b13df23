import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// The running kernel: raw io_uring_register(2) for everything the cases
/// vary, liburing for rings, SQEs and CQEs.
public final class LiveKernel: KernelBackend {
    private var rings: [Int32: UnsafeMutablePointer<io_uring>] = [:]
    /// What io_uring_setup wrote back for each ring: another image or process
    /// that gets the fd maps the ring with it (io_uring_queue_mmap).
    private var ringParams: [Int32: io_uring_params] = [:]
    /// In a child of runInChild: the socket to the parent (send_ring).
    private var parentSocket: Int32 = -1
    private var received: [(tag: String, fd: Int32)] = []
    /// Pipes made for `pipe:` SQEs; open until the backend goes away, so a
    /// POLL_ADD on one stays pending across steps.
    private var pipes: [Int32] = []
    /// SQE payloads and sockets per ring. An SQE can stay in the SQ ring after
    /// a denial ends the batch and be submitted by a later step, so what it
    /// points at lives until its ring is closed.
    private var payloads: [Int32: [UnsafeMutableRawPointer]] = [:]
    private var sockets: [Int32: [Int32]] = [:]
    /// Per ring, the user_data of submitted SQEs that create a file
    /// descriptor (OPENAT, OPENAT2, SOCKET, ACCEPT without a fixed-file
    /// slot), and the descriptors their completions returned. They belong to
    /// the case like its rings and are closed with the backend, so a case
    /// that opens files through io_uring leaves a shared worker clean.
    private var fdCreating: [Int32: Set<UInt64>] = [:]
    private var createdFDs: [Int32] = []
    static let fdCreatingOpcodes: Set<UInt32> = [Opcode.accept, Opcode.openat, Opcode.openat2, Opcode.socket]

    public init() {}

    /// fail-nth: the armed count for the next injectable call, and the file.
    private var armedNth: UInt32?
    private var failNthFD: Int32 = -1
    private var lastInjected = false

    public func armFailNth(_ n: Int) -> Int32 {
        if failNthFD < 0 {
            let fd = rf_fail_nth_open()
            if fd < 0 { return fd }
            failNthFD = fd
        }
        armedNth = UInt32(n)
        return 0
    }

    public func failNthInjected() -> Bool {
        defer { lastInjected = false }
        return lastInjected
    }

    /// Runs `body` (one syscall, nothing else that enters the kernel) with
    /// the armed fault, then disarms.
    private func armed<T>(_ body: () -> T) -> T {
        guard let n = armedNth, failNthFD >= 0 else { return body() }
        armedNth = nil
        _ = rf_fail_nth_set(failNthFD, n)
        let r = body()
        lastInjected = rf_fail_nth_get(failNthFD) == 0
        _ = rf_fail_nth_set(failNthFD, 0)
        return r
    }

    deinit {
        for fd in Array(rings.keys) { closeRing(fd) }
        pipes.forEach { close($0) }
        createdFDs.forEach { close($0) }
    }

    /// Notes the descriptor a completion created, if its SQE was one that creates one.
    private func noteCreated(ring fd: Int32, _ cqe: CQE) {
        if cqe.res >= 0, fdCreating[fd]?.contains(cqe.userData) == true, !createdFDs.contains(cqe.res) {
            createdFDs.append(cqe.res)
        }
    }

    public func setupRing(entries: UInt32, flags: UInt32) -> Int32 {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        var params = io_uring_params()
        params.flags = flags
        // With a fault armed: io_uring_setup and liburing's mmaps of the rings
        // (creating a ring, as a program sees it).
        let ret = armed { io_uring_queue_init_params(entries, ring, &params) }
        guard ret == 0 else { ring.deallocate(); return ret }
        rings[ring.pointee.ring_fd] = ring
        ringParams[ring.pointee.ring_fd] = params
        return ring.pointee.ring_fd
    }

    /// A ring fd this process got from elsewhere (kept across exec, received over
    /// SCM_RIGHTS), mapped with the parameters its creator got; the fd or -errno.
    public func adoptRing(fd: Int32, params: io_uring_params) -> Int32 {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        var p = params
        let ret = io_uring_queue_mmap(fd, &p, ring)
        guard ret == 0 else { ring.deallocate(); return ret }
        rings[fd] = ring
        ringParams[fd] = params
        return fd
    }

    static func encode(_ params: io_uring_params) -> [UInt8] {
        withUnsafeBytes(of: params) { Array($0) }
    }

    static func decodeParams(_ bytes: [UInt8]) -> io_uring_params? {
        var p = io_uring_params()
        guard bytes.count == MemoryLayout<io_uring_params>.size else { return nil }
        withUnsafeMutableBytes(of: &p) { $0.copyBytes(from: bytes) }
        return p
    }

    public func registerRingFD(_ fd: Int32) -> Int32 {
        guard let ring = rings[fd] else { return -Errno.EBADF }
        let ret = io_uring_register_ring_fd(ring)
        return ret < 0 ? ret : Int32(ring.pointee.enter_ring_fd)
    }

    public func closeRing(_ fd: Int32) {
        guard let ring = rings.removeValue(forKey: fd) else { return }
        io_uring_queue_exit(ring)
        ring.deallocate()
        ringParams.removeValue(forKey: fd)
        payloads.removeValue(forKey: fd)?.forEach { free($0) }
        sockets.removeValue(forKey: fd)?.forEach { close($0) }
        // The next ring may get this fd number: its SQEs' user_data start afresh.
        fdCreating.removeValue(forKey: fd)
    }

    public func register(_ call: RegisterCall) -> RegisterOutcome {
        var arg = call.arg
        var program: UserMemory?
        if let bytes = call.program {
            let mem = UserMemory(bytes: bytes, placement: call.programPlacement)
            program = mem
            if let off = call.programPointerOffset {
                var img = ByteImage(bytes: arg)
                img.store(mem.address, at: off)
                arg = img.bytes
            }
        }
        let argMem = UserMemory(bytes: arg, placement: call.argPlacement)
        let ret = armed { rf_io_uring_register(call.fd, call.opcode,
                                               UnsafeRawPointer(bitPattern: UInt(argMem.address)), call.nrArgs) }
        let after = argMem.read()
        argMem.release()
        program?.release()
        return RegisterOutcome(ret: Int32(truncatingIfNeeded: ret), argAfter: after)
    }

    public func submit(ring fd: Int32, sqes: [SQESpec], expecting: Int, timeoutMs: Int) -> SubmitOutcome {
        guard let ring = rings[fd] else { return SubmitOutcome(submitted: -Errno.EBADF, cqes: []) }
        func place(_ bytes: [UInt8]) -> UInt64 {
            let p = malloc(max(bytes.count, 1))!
            p.copyMemory(from: bytes, byteCount: bytes.count)
            payloads[fd, default: []].append(p)
            return UInt64(UInt(bitPattern: p))
        }
        var submitted: Int32 = 0
        for spec in sqes {
            var sqe = io_uring_get_sqe(ring)
            if sqe == nil {
                let r = io_uring_submit(ring)
                if r < 0 { return SubmitOutcome(submitted: r, cqes: []) }
                submitted += r
                sqe = io_uring_get_sqe(ring)
            }
            guard let sqe else { break }
            var fdValue = spec.fd
            if let s = spec.socketForFD {
                let sock = socket(s.domain, s.type, s.proto)
                sockets[fd, default: []].append(sock)
                fdValue = sock
            }
            if let end = spec.pipeEndForFD {
                var p: [Int32] = [-1, -1]
                if pipe(&p) == 0 { pipes += p; fdValue = p[end] }
            }
            let addr = spec.addrPayload.map(place) ?? spec.addr
            let off = spec.offPayload.map(place) ?? spec.off
            io_uring_prep_rw(Int32(spec.resolvedOpcode), sqe, fdValue, UnsafeRawPointer(bitPattern: UInt(addr)), spec.len, off)
            if addr == 0 { sqe.pointee.addr = 0 }
            sqe.pointee.flags = spec.flags.rawValue
            sqe.pointee.ioprio = spec.ioprio
            sqe.pointee.rw_flags = Int32(bitPattern: spec.opFlags)
            sqe.pointee.user_data = spec.userData
            sqe.pointee.buf_index = spec.bufIndex
            sqe.pointee.personality = spec.personality
            sqe.pointee.file_index = spec.fileIndex
            if spec.fileIndex == 0, LiveKernel.fdCreatingOpcodes.contains(spec.resolvedOpcode) {
                fdCreating[fd, default: []].insert(spec.userData)
            }
            sqe.pointee.addr3 = spec.addr3
        }
        let r = io_uring_submit(ring)
        if r < 0 && submitted == 0 { return SubmitOutcome(submitted: r, cqes: []) }
        submitted += max(r, 0)

        var cqes: [CQE] = []
        let waitStart = rf_now_ns()
        let deadline = waitStart + UInt64(timeoutMs) * 1_000_000
        while cqes.count < expecting && rf_now_ns() < deadline {
            var cqe: UnsafeMutablePointer<io_uring_cqe>?
            var ts = __kernel_timespec(tv_sec: 0, tv_nsec: 20_000_000)
            if io_uring_wait_cqe_timeout(ring, &cqe, &ts) == 0, let c = cqe {
                cqes.append(CQE(userData: c.pointee.user_data, res: c.pointee.res, flags: c.pointee.flags))
                io_uring_cqe_seen(ring, c)
            }
        }
        let waited = rf_now_ns() - waitStart
        let timedOut = cqes.count < expecting
        // Extra completions that are already there are part of the observation.
        var extra: UnsafeMutablePointer<io_uring_cqe>?
        while io_uring_peek_cqe(ring, &extra) == 0, let c = extra {
            cqes.append(CQE(userData: c.pointee.user_data, res: c.pointee.res, flags: c.pointee.flags))
            io_uring_cqe_seen(ring, c)
        }
        cqes.forEach { noteCreated(ring: fd, $0) }
        var outcome = SubmitOutcome(submitted: submitted, cqes: cqes)
        outcome.cqeWaitNs = waited
        outcome.cqeWaitTimedOut = timedOut
        return outcome
    }

    /// liburing's io_uring_sq_ready(): SQEs flushed to the ring that the kernel has not
    /// consumed yet (tail - khead, khead read with acquire on SQPOLL rings).
    public func waitForSQConsumed(ring fd: Int32, timeoutMs: Int) -> Bool {
        guard let ring = rings[fd] else { return true }
        let deadline = rf_now_ns() + UInt64(max(0, timeoutMs)) * 1_000_000
        while io_uring_sq_ready(ring) > 0 {
            if rf_now_ns() >= deadline { return false }
            usleep(200)
        }
        return true
    }

    public func setNoNewPrivs() -> Int32 { rf_set_no_new_privs() }

    public func dropPrivileges() -> Int32 { rf_drop_privileges(65534, 65534) }

    /// The kernel ORs what root writes into its taint mask (proc_taint); it never clears bits.
    public func addTaint(_ mask: UInt64) -> Int32 {
        let fd = open(KernelTaint.path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return -errno }
        defer { close(fd) }
        let text = "\(mask)\n"
        let n = text.withCString { write(fd, $0, strlen($0)) }
        return n < 0 ? -errno : 0
    }

    public func runInChild(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        // A datagram socket to the child, for send_ring; serviced while the child runs,
        // because for pidfd_getfd the child waits, alive, until the parent has its fd.
        var sv: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sv) == 0 else {
            return (false, ["socketpair: \(Errno.name(errno))"])
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { close(sv[0]); close(sv[1]); return (false, ["pipe: \(Errno.name(errno))"]) }
        fflush(stdout)
        // With a fault armed (inject:), the N-th fault-injectable call of fork(2) itself fails.
        var hit: Int32 = 0
        var nth: (fd: Int32, n: UInt32)?
        if let n = armedNth, failNthFD >= 0 { nth = (failNthFD, n); armedNth = nil }
        let pid = nth.map { rf_fork_nth($0.fd, $0.n, &hit) } ?? rf_fork()
        if nth != nil { lastInjected = hit != 0 }
        if pid < 0 {
            close(fds[0]); close(fds[1]); close(sv[0]); close(sv[1])
            return (false, ["fork: \(Errno.name(errno))"])
        }
        if pid == 0 {
            close(fds[0]); close(sv[0])
            parentSocket = sv[1]
            let result = body(self)
            PipeFrame.write(ChildReport(ok: result.ok, diagnostics: result.diagnostics), to: fds[1])
            _exit(result.ok ? 0 : 1)
        }
        close(fds[1]); close(sv[1])
        var output = PipeFrame.Reader()
        var problems: [String] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        var pipeOpen = true
        while pipeOpen {
            var pfds = [pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0), pollfd(fd: sv[0], events: Int16(POLLIN), revents: 0)]
            let n = poll(&pfds, 2, -1)
            if n < 0 { if errno == EINTR { continue }; break }
            if pfds[1].revents & Int16(POLLIN) != 0 { serviceRingMessage(sv[0], child: pid, problems: &problems) }
            if pfds[0].revents != 0 {
                let r = buf.withUnsafeMutableBytes { read(fds[0], $0.baseAddress!, $0.count) }
                if r > 0 { output.append(buf[0..<r]) } else if r < 0 && errno == EINTR { continue } else { pipeOpen = false }
            }
        }
        // Messages the child sent just before it ended.
        while serviceRingMessage(sv[0], child: pid, problems: &problems) {}
        close(fds[0]); close(sv[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return Self.judge((output.finish(ChildReport.self), status), extra: problems)
    }

    /// One send_ring message from a child: [kind][fd as 4 bytes][io_uring_params][tag].
    /// Kind S came with the fd (SCM_RIGHTS); kind P asks this process to take fd from
    /// the child with pidfd_getfd, and the child waits for the 4-byte result. False
    /// when nothing was queued.
    @discardableResult
    private func serviceRingMessage(_ sock: Int32, child: pid_t, problems: inout [String]) -> Bool {
        var buf = [UInt8](repeating: 0, count: 1024)
        var passed: Int32 = -1
        let n = buf.withUnsafeMutableBytes { rf_recv_fd(sock, $0.baseAddress, $0.count, &passed) }
        if n < 0 { return false }
        let size = MemoryLayout<io_uring_params>.size
        let bytes = Array(buf[0..<Int(n)])
        guard bytes.count >= 5 + size, let params = Self.decodeParams(Array(bytes[5..<5 + size])) else {
            if passed >= 0 { close(passed) }
            problems.append("send_ring: a malformed message from the child")
            return true
        }
        let childFD = bytes[1..<5].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        let tag = String(decoding: bytes[(5 + size)...], as: UTF8.self)
        var fd = passed
        if bytes[0] == UInt8(ascii: "P") {
            fd = rf_pidfd_getfd(child, childFD)
            var answer: Int32 = fd < 0 ? fd : 0
            _ = withUnsafeBytes(of: &answer) { send(sock, $0.baseAddress, 4, 0) }
            if fd < 0 { return true }   // the child's step reports it
        }
        guard fd >= 0 else { problems.append("send_ring: no fd came with the message"); return true }
        let r = adoptRing(fd: fd, params: params)
        if r < 0 { close(fd); problems.append("send_ring: mapping the received ring '\(tag)': \(Errno.describe(result: r))"); return true }
        received.append((tag, fd))
        return true
    }

    /// A child's verdict: its exit status (0: its steps held) and the
    /// diagnostics of its report. Without a whole report the steps did not
    /// hold; why is a diagnostic, unless the status already says (a signal).
    static func judge(_ child: (frame: Result<ChildReport, PipeFrameError>, status: Int32), extra: [String] = []) -> (ok: Bool, diagnostics: [String]) {
        let status = child.status
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        var diags: [String] = []
        var reported = true
        switch child.frame {
        case .success(let report): diags = report.diagnostics
        case .failure(let error):
            reported = false
            if exited { diags.append("the child's report: \(error)") }
        }
        if !exited { diags.append("child " + PipeFrame.describe(status: status)) }
        return (exited && code == 0 && reported && extra.isEmpty, diags + extra)
    }

    public func sendRingToParent(_ ring: Int32, tag: String, via: RingPassing) -> Int32 {
        guard parentSocket >= 0 else { return -Errno.ENOTCONN }
        guard let params = ringParams[ring] else { return -Errno.EBADF }
        var fdNumber = ring
        let data = [UInt8(ascii: via == .scmRights ? "S" : "P")] + withUnsafeBytes(of: &fdNumber) { Array($0) }
            + Self.encode(params) + Array(tag.utf8)
        if via == .scmRights {
            return data.withUnsafeBytes { rf_send_fd(parentSocket, ring, $0.baseAddress, $0.count) }
        }
        let sent = data.withUnsafeBytes { send(parentSocket, $0.baseAddress, $0.count, 0) }
        if sent < 0 { return -errno }
        var answer: Int32 = 0
        let got = withUnsafeMutableBytes(of: &answer) { recv(parentSocket, $0.baseAddress, 4, 0) }
        return got == 4 ? answer : -Errno.ENOTCONN
    }

    public func takeReceivedRings() -> [(tag: String, fd: Int32)] {
        defer { received = [] }
        return received
    }

    public func unshareUserNamespace() -> Int32 { rf_unshare_user() }

    public func runInThread(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        final class Box {
            let run: () -> (ok: Bool, diagnostics: [String])
            var result: (ok: Bool, diagnostics: [String]) = (false, ["the thread did not finish"])
            init(_ run: @escaping () -> (ok: Bool, diagnostics: [String])) { self.run = run }
        }
        return withoutActuallyEscaping(body) { body in
            let box = Box({ body(self) })
            let ctx = Unmanaged.passRetained(box).toOpaque()
            var tid = pthread_t()
            let r = pthread_create(&tid, nil, { p in
                let b = Unmanaged<Box>.fromOpaque(p!).takeRetainedValue()
                b.result = b.run()
                return nil
            }, ctx)
            if r != 0 {
                Unmanaged<Box>.fromOpaque(ctx).release()
                return (false, ["pthread_create: \(Errno.name(r))"])
            }
            pthread_join(tid, nil)
            return box.result
        }
    }

    /// The argument that makes the guest binary an exec'd case image (ExecImage).
    public static let execImageFlag = "--ringfence-exec-image"

    public func runInNewImage(_ plan: ExecPlan,
                              prepare: (KernelBackend) -> (kept: [(name: String, fd: Int32)]?, diagnostics: [String]),
                              body: (KernelBackend, [String: Int32]) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        /// argv for the new image; nil with the reason when a kept ring is unusable.
        func argv(resultFD: Int32, kept: [(name: String, fd: Int32)]) -> (argv: [String]?, fds: [Int32], diagnostics: [String]) {
            let memfd = plan.payload.withUnsafeBytes { rf_memfd_with("ringfence-exec", $0.baseAddress, $0.count) }
            if memfd < 0 { return (nil, [], ["memfd_create: \(Errno.describe(result: memfd))"]) }
            var args = ["/proc/self/exe", Self.execImageFlag, "\(memfd)", "\(resultFD)", "\(plan.opcodeLast)", "\(plan.cqeTimeoutMs)"]
            for k in kept {
                guard let p = ringParams[k.fd] else { close(memfd); return (nil, [], ["kept ring '\(k.name)' has no set-up parameters here"]) }
                args.append("\(k.name)=\(k.fd)=" + Self.encode(p).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined())
            }
            return (args, [memfd] + kept.map(\.fd), [])
        }
        if plan.spawn {
            let (kept, pre) = prepare(self)
            guard let kept else { return (false, pre) }
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { return (false, ["pipe: \(Errno.name(errno))"]) }
            _ = rf_set_cloexec(fds[0], 1)
            let made = argv(resultFD: fds[1], kept: kept)
            guard let args = made.argv else { close(fds[0]); close(fds[1]); return (false, made.diagnostics) }
            // posix_spawn: every fd without FD_CLOEXEC reaches the new image.
            for fd in made.fds + [fds[1]] { _ = rf_set_cloexec(fd, 0) }
            var pid: pid_t = 0
            let cargs = args.map { strdup($0) } + [nil]
            let r = posix_spawn(&pid, "/proc/self/exe", nil, nil, cargs, environ)
            cargs.forEach { free($0) }
            for fd in kept.map(\.fd) { _ = rf_set_cloexec(fd, 1) }
            close(made.fds[0])
            close(fds[1])
            if r != 0 { close(fds[0]); return (false, ["posix_spawn: \(Errno.name(r))"]) }
            let frame = PipeFrame.readToEnd(ChildReport.self, from: fds[0])
            close(fds[0])
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return Self.judge((frame, status))
        }
        guard let child = PipeFrame.runForked({ resultFD -> (value: ChildReport, exitCode: Int32) in
            let (kept, pre) = prepare(self)
            guard let kept else { return (ChildReport(ok: false, diagnostics: pre), 1) }
            let made = argv(resultFD: resultFD, kept: kept)
            guard let args = made.argv else { return (ChildReport(ok: false, diagnostics: made.diagnostics), 1) }
            for fd in made.fds { _ = rf_set_cloexec(fd, 0) }
            fflush(stdout)
            let cargs = args.map { strdup($0) } + [nil]
            execve("/proc/self/exe", cargs, environ)
            return (ChildReport(ok: false, diagnostics: ["execve /proc/self/exe: \(Errno.name(errno))"]), 1)
        }) else { return (false, ["fork: \(Errno.name(errno))"]) }
        return Self.judge(child)
    }
}

extension SQESpec {
    /// The opcode number; OpcodeRef.last must be resolved by the loader's caller first.
    var resolvedOpcode: UInt32 {
        if case .number(let n) = opcode { return n }
        return 255
    }
}
