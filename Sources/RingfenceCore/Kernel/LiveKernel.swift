import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// The running kernel: raw io_uring_register(2) for everything the cases
/// vary, liburing for rings, SQEs and CQEs.
public final class LiveKernel: KernelBackend {
    private var rings: [Int32: UnsafeMutablePointer<io_uring>] = [:]
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
        let ret = io_uring_queue_init_params(entries, ring, &params)
        guard ret == 0 else { ring.deallocate(); return ret }
        rings[ring.pointee.ring_fd] = ring
        return ring.pointee.ring_fd
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
        let ret = rf_io_uring_register(call.fd, call.opcode,
                                       UnsafeRawPointer(bitPattern: UInt(argMem.address)), call.nrArgs)
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
            sqe.pointee.flags = spec.flags
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
        let deadline = rf_now_ns() + UInt64(timeoutMs) * 1_000_000
        while cqes.count < expecting && rf_now_ns() < deadline {
            var cqe: UnsafeMutablePointer<io_uring_cqe>?
            var ts = __kernel_timespec(tv_sec: 0, tv_nsec: 20_000_000)
            if io_uring_wait_cqe_timeout(ring, &cqe, &ts) == 0, let c = cqe {
                cqes.append(CQE(userData: c.pointee.user_data, res: c.pointee.res, flags: c.pointee.flags))
                io_uring_cqe_seen(ring, c)
            }
        }
        // Extra completions that are already there are part of the observation.
        var extra: UnsafeMutablePointer<io_uring_cqe>?
        while io_uring_peek_cqe(ring, &extra) == 0, let c = extra {
            cqes.append(CQE(userData: c.pointee.user_data, res: c.pointee.res, flags: c.pointee.flags))
            io_uring_cqe_seen(ring, c)
        }
        cqes.forEach { noteCreated(ring: fd, $0) }
        return SubmitOutcome(submitted: submitted, cqes: cqes)
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
        guard let child = ChildChannel.runForked({
            let result = body(self)
            return (result.diagnostics.joined(separator: "\n"), result.ok ? 0 : 1)
        }) else { return (false, ["fork: \(Errno.name(errno))"]) }
        let status = child.status
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        var diags = child.output.isEmpty ? [] : child.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if !exited { diags.append("child killed by signal \(status & 0x7f)") }
        return (exited && code == 0, diags)
    }
}

extension SQESpec {
    /// The opcode number; OpcodeRef.last must be resolved by the loader's caller first.
    var resolvedOpcode: UInt32 {
        if case .number(let n) = opcode { return n }
        return 255
    }
}

/// Whole-buffer reads and writes over a pipe between a parent and its forked child.
enum ChildChannel {
    /// Runs `body` in a forked child that writes its text to the parent and
    /// exits with its code; waits for it. nil when pipe or fork failed (errno says why).
    static func runForked(_ body: () -> (text: String, exitCode: Int32)) -> (output: String, status: Int32)? {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return nil }
        fflush(stdout)
        let pid = rf_fork()
        if pid < 0 {
            close(fds[0]); close(fds[1])
            return nil
        }
        if pid == 0 {
            close(fds[0])
            let (text, code) = body()
            write(text, to: fds[1])
            _exit(code)
        }
        close(fds[1])
        let output = readAll(from: fds[0])
        close(fds[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (output, status)
    }

    static func write(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { break }
            off += n
        }
    }

    static func readAll(from fd: Int32) -> String {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n > 0 { out += buf[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
