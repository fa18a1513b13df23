// The seam between the Executor and a kernel. LiveKernel makes real
// syscalls; the reference model (Model/) answers the same calls from the
// source's semantics, so the runner and the model can be checked against
// each other and unit-tested without a 7.x kernel.

/// A raw io_uring_register(2) call. The argument is given as bytes plus a
/// placement; the backend puts it in memory (or deliberately does not).
public struct RegisterCall: Sendable {
    public var fd: Int32
    /// The register opcode, with IORING_REGISTER_USE_REGISTERED_RING or-ed in if wanted.
    public var opcode: UInt32
    public var arg: [UInt8]
    public var argPlacement: Placement = .normal
    public var nrArgs: UInt32 = 1
    /// A filter program the backend places in memory and whose address it
    /// stores as a u64 at `programPointerOffset` inside `arg`.
    public var program: [UInt8]?
    public var programPlacement: Placement = .normal
    public var programPointerOffset: Int?

    public init(fd: Int32, opcode: UInt32, arg: [UInt8]) {
        self.fd = fd; self.opcode = opcode; self.arg = arg
    }
}

public struct RegisterOutcome: Sendable {
    /// The syscall's return value, or -errno.
    public var ret: Int32
    /// The argument buffer after the call (nil when it was never mapped writable).
    public var argAfter: [UInt8]?
    public init(ret: Int32, argAfter: [UInt8]?) { self.ret = ret; self.argAfter = argAfter }
}

public struct CQE: Sendable, Equatable {
    public var userData: UInt64
    public var res: Int32
    public var flags: UInt32
    public init(userData: UInt64, res: Int32, flags: UInt32 = 0) {
        self.userData = userData; self.res = res; self.flags = flags
    }
}

public struct SubmitOutcome: Sendable {
    /// io_uring_submit's return: SQEs consumed, or -errno.
    public var submitted: Int32
    public var cqes: [CQE]
    /// LiveKernel: how long the wait for the expected CQEs took after io_uring_submit()
    /// returned, and whether it ended at the timeout with CQEs missing (0 / false elsewhere).
    public var cqeWaitNs: UInt64 = 0
    public var cqeWaitTimedOut = false
    public init(submitted: Int32, cqes: [CQE]) { self.submitted = submitted; self.cqes = cqes }
}

/// What the running kernel offers, measured by probes.
public struct KernelFacts: Sendable, Codable, Equatable {
    public var release: String
    public var version: String
    /// IORING_REGISTER_BPF_FILTER works on a ring.
    public var bpfFilter: Bool
    /// IORING_OP_LAST of the running kernel (from IORING_REGISTER_PROBE).
    public var opcodeLast: UInt32
    /// pdu_size the kernel writes back, per opcode number (only when bpfFilter).
    public var contextSizes: [UInt32: UInt8]
    public var isRoot: Bool
    public var loadedModules: Set<String>

    public init(release: String, version: String, bpfFilter: Bool, opcodeLast: UInt32,
                contextSizes: [UInt32: UInt8], isRoot: Bool, loadedModules: Set<String>) {
        self.release = release; self.version = version; self.bpfFilter = bpfFilter
        self.opcodeLast = opcodeLast; self.contextSizes = contextSizes; self.isRoot = isRoot
        self.loadedModules = loadedModules
    }
}

public protocol KernelBackend: AnyObject {
    /// io_uring_setup; returns the ring fd or -errno.
    func setupRing(entries: UInt32, flags: UInt32) -> Int32
    /// Registers the ring fd with IORING_REGISTER_RING_FDS; returns the registered index or -errno.
    func registerRingFD(_ ring: Int32) -> Int32
    func closeRing(_ ring: Int32)
    func register(_ call: RegisterCall) -> RegisterOutcome
    /// Queue the SQEs, submit them, and collect CQEs until `expecting` have
    /// arrived or the wait times out; then pick up any extra CQEs already posted.
    func submit(ring: Int32, sqes: [SQESpec], expecting: Int, timeoutMs: Int) -> SubmitOutcome
    /// SQPOLL: wait up to `timeoutMs` until the SQ thread has consumed every SQE handed to it
    /// (the SQ ring's head has reached its tail); true when it has. Backends that consume at
    /// submit (the model) return true at once.
    func waitForSQConsumed(ring: Int32, timeoutMs: Int) -> Bool
    /// prctl(PR_SET_NO_NEW_PRIVS); 0 or -errno.
    func setNoNewPrivs() -> Int32
    /// Become uid/gid 65534 without capabilities; 0 or -errno.
    func dropPrivileges() -> Int32
    /// Run `body` in a child that inherits this process's state (task filters,
    /// rings); returns the child's exit status and the diagnostics it sent back.
    func runInChild(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String])
    /// Adds taint bits (the `taint:` step); 0 or -errno.
    func addTaint(_ mask: UInt64) -> Int32
    /// Fault injection (a case's `inject:`): the next ring setup, filter or
    /// restriction registration, or fork runs with the task's `n`-th
    /// fault-injectable call failing (/proc/thread-self/fail-nth); 0 or -errno.
    func armFailNth(_ n: Int) -> Int32
    /// Whether the armed fault was injected by the call that used it.
    func failNthInjected() -> Bool
    /// Run `body` on a new thread of this process (pthread_create, CLONE_THREAD) and join it.
    func runInThread(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String])
    /// unshare(CLONE_NEWUSER); 0 or -errno.
    func unshareUserNamespace() -> Int32
    /// In a child of runInChild: pass the ring's fd to the parent under `tag` (SCM_RIGHTS,
    /// or the parent takes it with pidfd_getfd while the child waits); 0 or -errno.
    func sendRingToParent(_ ring: Int32, tag: String, via: RingPassing) -> Int32
    /// After runInChild: the rings the child sent, with the fd each has here.
    func takeReceivedRings() -> [(tag: String, fd: Int32)]
    /// `exec:` / `spawn:`. `prepare` runs in the process that will exec (for exec a
    /// forked child, for spawn this process) and names the fds of the kept rings, or
    /// says why it could not; `body` runs the nested steps in the new image, for a
    /// backend that cannot exec (the model). A real kernel execs `plan.payload` instead.
    func runInNewImage(_ plan: ExecPlan,
                       prepare: (KernelBackend) -> (kept: [(name: String, fd: Int32)]?, diagnostics: [String]),
                       body: (KernelBackend, [String: Int32]) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String])
}

/// What an exec'd image needs besides its kept rings.
public struct ExecPlan: Sendable {
    public var spawn: Bool
    /// The nested steps, compiled (CompiledCases.encodeSteps).
    public var payload: [UInt8]
    public var opcodeLast: UInt32
    public var cqeTimeoutMs: Int
}

extension KernelBackend {
    public func waitForSQConsumed(ring: Int32, timeoutMs: Int) -> Bool { true }
    /// Backends without a kernel to taint (the model) refuse the step.
    public func addTaint(_ mask: UInt64) -> Int32 { -95 /* EOPNOTSUPP */ }
    /// Backends without fault injection (the model): never injected.
    public func armFailNth(_ n: Int) -> Int32 { -38 /* ENOSYS */ }
    public func failNthInjected() -> Bool { false }
    /// Test doubles that do not model the lifecycle steps refuse them.
    public func runInThread(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        (false, ["this backend does not run threads"])
    }
    public func unshareUserNamespace() -> Int32 { -38 /* ENOSYS */ }
    public func sendRingToParent(_ ring: Int32, tag: String, via: RingPassing) -> Int32 { -38 /* ENOSYS */ }
    public func takeReceivedRings() -> [(tag: String, fd: Int32)] { [] }
    public func runInNewImage(_ plan: ExecPlan,
                              prepare: (KernelBackend) -> (kept: [(name: String, fd: Int32)]?, diagnostics: [String]),
                              body: (KernelBackend, [String: Int32]) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        (false, ["this backend does not exec"])
    }
}
