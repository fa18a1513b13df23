#if canImport(Glibc)
import Glibc
#endif

// The reference model as a KernelBackend: rings, io_uring_register(2) decoded from
// RegisterCall bytes and placements, io_uring_enter(2) submission with link semantics,
// fork. Written from Linux 7.3.4's io_uring/register.c, io_uring/io_uring.c,
// io_uring/bpf_filter.c and io_uring/tctx.c; flavour switches in KernelSemantics.
//
// Not modelled: registered files/buffers/personalities (none exist), SQPOLL/IOPOLL
// timing, SQE_MIXED rings, ENOMEM, and the results of operations beyond what
// OperationOutcome predicts.

public final class ReferenceKernel: KernelBackend {
    /// IORING_REGISTER_LAST in 7.3.
    public static let registerLast: UInt32 = 38
    static let registerRingFDs: UInt32 = 20
    static let ringFDRegMax = 16
    /// The address the model gives a placed filter program (any non-zero value would do).
    static let programToken: UInt64 = 0x7f00_dead_0000

    public let semantics: KernelSemantics

    /// State shared by a process and the children it forks (the "kernel").
    final class World {
        var nextRingFD: Int32 = 1000
        var nextSocketFD: Int32 = 500
        var nextResultFD: Int32 = 100
        var nextFilterID = 1
        var nextTaskID = 1
        var nextFilterSetID = 1
        /// Every ring, for the in-place writes of a task filter set it shares (see Task.filterSet).
        var rings: [Ring] = []
    }

    /// struct io_ring_ctx, as far as filters and restrictions go.
    final class Ring {
        let setupFlags: SetupFlags
        let sqEntries: Int
        var disabled: Bool
        var restrictions = Restrictions()
        var opRestricted = false, regRestricted = false, restrictInherited = false
        var submitterTask: Int?
        var drainNext = false, drainDisabled = false
        /// IO_RING_F_DRAIN_ACTIVE left set by an enter: a drain request that failed after
        /// io_init_drain() never reaches the defer list, so nothing clears the flag until the
        /// next request that is queued through io_drain_req() (which still sees ASYNC).
        var drainActive = false
        /// The task filter set this ring shares and has not copied yet (its own registration
        /// copies: io_bpf_filter_clone() marks the ring's side copy-on-write).
        var sharedTaskFilterSet: Int?
        /// SQEs written to the SQ ring and not yet consumed by the kernel.
        var pending: [(SQESpec, SQEMemory)] = []
        init(setupFlags: SetupFlags, sqEntries: Int) {
            self.setupFlags = setupFlags; self.sqEntries = sqEntries
            disabled = setupFlags.contains(.rDisabled)
        }
    }

    /// The task (struct task_struct's io_uring parts and credentials).
    struct Task {
        var id: Int
        /// current->io_uring_restrict
        var restrict: Restrictions?
        var noNewPrivs = false
        var privileged = true
        /// The euid is root in the task's user namespace (mapped uid 0): execve keeps (gives)
        /// the capabilities only then (cap_bprm_creds_from_file()). drop_privileges and a
        /// new user namespace without a uid map clear it.
        var rootInNamespace = true
        /// current->io_uring (tctx); nil until the task first uses io_uring for itself.
        var registeredRings: [Int: Ring]?
        /// Identity of the task's struct io_bpf_filters and its bpf_filters_cow flag. Without
        /// taskFiltersCopyOnWrite the task writes a shared set in place, and the rings that
        /// share it see the write. (Forked children's tasks are not updated: not modelled.)
        var filterSet: Int?
        var filterSetCOW = false
    }

    let world: World
    var task: Task
    var fdTable: [Int32: Ring] = [:]
    var sockets: [Int32: SocketSpec] = [:]
    var pipes: Set<Int32> = []

    public init(semantics: KernelSemantics = .upstream) {
        self.semantics = semantics
        world = World()
        task = Task(id: world.nextTaskID)
        world.nextTaskID += 1
    }

    private init(child parent: ReferenceKernel) {
        semantics = parent.semantics
        world = parent.world
        task = Task(id: world.nextTaskID, restrict: parent.task.restrict,   // __io_uring_fork: clone
                    noNewPrivs: parent.task.noNewPrivs, privileged: parent.task.privileged, registeredRings: nil,
                    filterSet: parent.task.filterSet, filterSetCOW: true)
        if semantics.taskFiltersCopyOnWrite { parent.task.filterSetCOW = true }
        task.rootInNamespace = parent.task.rootInNamespace
        world.nextTaskID += 1
        fdTable = parent.fdTable
        sockets = parent.sockets
        pipes = parent.pipes
    }

    // MARK: what tests and the fuzzer may inspect

    /// The filter table of the ring behind `fd` (nil: none installed).
    public func filters(ofRing fd: Int32) -> FilterTable? { fdTable[fd]?.restrictions.filters }
    /// The task's filter table.
    public var taskFilters: FilterTable? { task.restrict?.filters }

    // MARK: KernelBackend

    public func setupRing(entries: UInt32, flags rawFlags: UInt32) -> Int32 {
        // io_uring_sanitise_params()
        let flags = SetupFlags(rawValue: rawFlags)
        func has(_ bit: SetupFlags) -> Bool { flags.contains(bit) }
        if !flags.isSubset(of: .known) { return -Errno.EINVAL }
        if has(.sqRewind) && (has(.sqpoll) || !has(.noSQArray)) { return -Errno.EINVAL }
        if has(.registeredFDOnly) && !has(.noMmap) { return -Errno.EINVAL }
        if has(.sqpoll) && !flags.isDisjoint(with: [.coopTaskrun, .taskrunFlag, .deferTaskrun]) { return -Errno.EINVAL }
        if has(.taskrunFlag) && flags.isDisjoint(with: [.coopTaskrun, .deferTaskrun]) { return -Errno.EINVAL }
        if has(.hybridIOPoll) && !has(.iopoll) { return -Errno.EINVAL }
        if has(.deferTaskrun) && !has(.singleIssuer) { return -Errno.EINVAL }
        if has(.cqe32) && has(.cqeMixed) { return -Errno.EINVAL }
        if has(.sqe128) && has(.sqeMixed) { return -Errno.EINVAL }
        // io_uring_fill_params()
        var n = entries
        if n == 0 { return -Errno.EINVAL }
        if n > 32768 {
            if !has(.clamp) { return -Errno.EINVAL }
            n = 32768
        }
        if has(.cqSize) { return -Errno.EINVAL }      // liburing passes cq_entries 0
        if has(.attachWQ) { return -Errno.EINVAL }    // wq_fd 0 is not a ring
        if has(.sqAff) && !has(.sqpoll) { return -Errno.EINVAL }
        var size = 1
        while size < Int(n) { size <<= 1 }
        let ring = Ring(setupFlags: flags, sqEntries: size)
        if has(.singleIssuer) && !ring.disabled { ring.submitterTask = task.id }
        // io_uring_create -> io_ctx_restriction_clone(ctx, current->io_uring_restrict)
        if let src = task.restrict {
            ring.restrictions = src
            if src.filters != nil {   // io_bpf_filter_clone()
                if task.filterSet == nil { task.filterSet = world.nextFilterSetID; world.nextFilterSetID += 1 }
                ring.sharedTaskFilterSet = task.filterSet
                if semantics.taskFiltersCopyOnWrite { task.filterSetCOW = true }
            }
            ring.opRestricted = src.opRegistered
            if src.regRegistered { ring.regRestricted = true; ring.restrictInherited = true }
        }
        let fd = world.nextRingFD
        world.nextRingFD += 1
        fdTable[fd] = ring
        world.rings.append(ring)
        return fd
    }

    public func registerRingFD(_ fd: Int32) -> Int32 {
        guard let ring = fdTable[fd] else { return -Errno.EBADF }
        if let e = registerPreamble(ring, opcode: Self.registerRingFDs) { return e }
        var table = task.registeredRings ?? [:]
        guard let slot = (0..<Self.ringFDRegMax).first(where: { table[$0] == nil }) else { return -Errno.EBUSY }
        table[slot] = ring
        task.registeredRings = table
        return Int32(slot)
    }

    public func closeRing(_ fd: Int32) {
        // io_uring_queue_exit() also unregisters the ring fd liburing registered for it
        if let ring = fdTable.removeValue(forKey: fd), let table = task.registeredRings {
            task.registeredRings = table.filter { $0.value !== ring }
        }
    }

    public func setNoNewPrivs() -> Int32 { task.noNewPrivs = true; return 0 }

    public func dropPrivileges() -> Int32 { task.privileged = false; task.rootInNamespace = false; return 0 }

    public func runInChild(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        let child = ReferenceKernel(child: self)
        child.parent = self
        return body(child)
    }

    /// The process a child of runInChild can send rings to (send_ring).
    weak var parent: ReferenceKernel?
    private var received: [(tag: String, fd: Int32)] = []

    /// pthread_create: copy_process(CLONE_THREAD) also calls io_uring_fork(), so the new
    /// task gets its own reference to the creator's task restrictions, as a forked child
    /// does; it shares the fd table, so the rings it sets up or closes are the process's.
    public func runInThread(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        let thread = ReferenceKernel(child: self)
        thread.parent = parent
        let result = body(thread)
        fdTable = thread.fdTable
        sockets = thread.sockets
        pipes = thread.pipes
        return result
    }

    /// unshare(CLONE_NEWUSER): the task gets every capability in the new namespace, so
    /// ns_capable_noaudit(current_user_ns(), CAP_SYS_ADMIN) holds again.
    public func unshareUserNamespace() -> Int32 {
        task.privileged = true
        task.rootInNamespace = false   // no uid map is written
        return 0
    }

    /// pidfd_getfd: the parent gets a new fd for the same struct file (the same ring).
    /// SCM_RIGHTS refuses io_uring files: scm_fp_copy() (net/core/scm.c) returns -EINVAL.
    public func sendRingToParent(_ ring: Int32, tag: String, via: RingPassing) -> Int32 {
        guard let parent else { return -Errno.ENOTCONN }
        guard let r = fdTable[ring] else { return -Errno.EBADF }
        if via == .scmRights { return -Errno.EINVAL }
        let fd = world.nextRingFD
        world.nextRingFD += 1
        parent.fdTable[fd] = r
        parent.received.append((tag, fd))
        return 0
    }

    public func takeReceivedRings() -> [(tag: String, fd: Int32)] {
        defer { received = [] }
        return received
    }

    /// exec: a forked child runs `prepare` and execs; spawn: `prepare` runs here and the
    /// vfork child execs at once. begin_new_exec() closes the close-on-exec fds (every
    /// ring not kept) and, through io_uring_task_cancel() -> __io_uring_cancel(),
    /// unregisters the task's registered ring fds; the task restrictions
    /// (current->io_uring_restrict) and no_new_privs stay with the task.
    public func runInNewImage(_ plan: ExecPlan,
                              prepare: (KernelBackend) -> (kept: [(name: String, fd: Int32)]?, diagnostics: [String]),
                              body: (KernelBackend, [String: Int32]) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        let child: ReferenceKernel
        let kept: [(name: String, fd: Int32)]
        if plan.spawn {
            let (k, diags) = prepare(self)
            guard let k else { return (false, diags) }
            kept = k
            child = ReferenceKernel(child: self)
        } else {
            child = ReferenceKernel(child: self)
            let (k, diags) = prepare(child)
            guard let k else { return (false, diags) }
            kept = k
        }
        // io_uring_task_cancel() runs only for a task with an io_uring_task.
        if !semantics.execKeepsTaskRestrictions && child.task.registeredRings != nil {
            child.task.restrict = nil
            child.task.filterSet = nil
        }
        let keptFDs = Set(kept.map(\.fd))
        child.fdTable = child.fdTable.filter { keptFDs.contains($0.key) }
        child.task.registeredRings = nil
        child.task.privileged = child.task.rootInNamespace
        return body(child, Dictionary(kept.map { ($0.name, $0.fd) }, uniquingKeysWith: { a, _ in a }))
    }

    // MARK: io_uring_register(2)

    public func register(_ call: RegisterCall) -> RegisterOutcome {
        var arg = call.arg
        if let off = call.programPointerOffset, call.program != nil, off + 8 <= arg.count {
            var img = ByteImage(bytes: arg)
            img.store(call.programPlacement == .null ? 0 : Self.programToken, at: off)
            arg = img.bytes
        }
        var mem = ArgMemory(bytes: arg, placement: call.argPlacement)
        let ret = dispatch(call, arg: &mem)
        return RegisterOutcome(ret: ret, argAfter: mem.after)
    }

    private func dispatch(_ call: RegisterCall, arg: inout ArgMemory) -> Int32 {
        let useRegistered = call.opcode & FilterABI.useRegisteredRing != 0
        let opcode = call.opcode & ~FilterABI.useRegisteredRing
        if opcode >= Self.registerLast { return -Errno.EINVAL }
        if call.fd == -1 { return registerBlind(opcode, call, &arg) }
        let ring: Ring
        if useRegistered {
            guard let table = task.registeredRings, UInt32(bitPattern: call.fd) < UInt32(Self.ringFDRegMax) else { return -Errno.EINVAL }
            guard let r = table[Int(call.fd)] else { return -Errno.EBADF }
            ring = r
        } else {
            guard let r = fdTable[call.fd] else {
                return (0...2).contains(call.fd) || sockets[call.fd] != nil ? -Errno.EOPNOTSUPP : -Errno.EBADF
            }
            ring = r
        }
        if let e = registerPreamble(ring, opcode: opcode) { return e }
        switch opcode {
        case FilterABI.registerEnableRings:
            if !arg.isNull || call.nrArgs != 0 { return -Errno.EINVAL }
            if !ring.disabled { return -Errno.EBADFD }
            if ring.setupFlags.contains(.singleIssuer) { ring.submitterTask = task.id }
            ring.disabled = false
            return 0
        case FilterABI.registerRestrictions:
            return registerRingRestrictions(ring, call, &arg)
        case FilterABI.registerOpcode:
            if call.nrArgs != 1 { return -Errno.EINVAL }
            var res = ring.restrictions
            let ret = registerFilter(into: &res, call, &arg)
            if ret == 0 { ring.restrictions = res; ring.sharedTaskFilterSet = nil }
            return ret
        case Self.registerRingFDs:
            return -Errno.EINVAL   // only through registerRingFD()
        default:
            return -Errno.EINVAL   // other register opcodes are not modelled
        }
    }

    /// __io_uring_register()'s checks before the opcode switch: submitter, register restrictions.
    private func registerPreamble(_ ring: Ring, opcode: UInt32) -> Int32? {
        if let t = ring.submitterTask, t != task.id { return -Errno.EEXIST }
        let inheritedBinds = ring.restrictInherited && semantics.inheritedRegisterRestrictionsBindDisabledRings
        if ring.regRestricted && (!ring.disabled || inheritedBinds) {
            if opcode >= 256 || !ring.restrictions.registerOps.contains(UInt8(opcode)) { return -Errno.EACCES }
        }
        return nil
    }

    /// io_uring_register_blind().
    private func registerBlind(_ opcode: UInt32, _ call: RegisterCall, _ arg: inout ArgMemory) -> Int32 {
        if semantics.blindRegisterHonoursTaskRestrictions, let r = task.restrict, r.regRegistered {
            if opcode >= 256 || !r.registerOps.contains(UInt8(opcode)) { return -Errno.EACCES }
        }
        switch opcode {
        case FilterABI.registerRestrictions:
            return registerTaskRestrictions(call, &arg)
        case FilterABI.registerOpcode:
            // io_register_bpf_filter_task()
            if !task.noNewPrivs && !task.privileged { return -Errno.EACCES }
            if call.nrArgs != 1 { return -Errno.EINVAL }
            var res = task.restrict ?? Restrictions()
            let inPlace = res.filters != nil && !task.filterSetCOW
            let ret = registerFilter(into: &res, call, &arg)
            if ret == 0 {
                task.restrict = res
                if inPlace, let id = task.filterSet {
                    for ring in world.rings where ring.sharedTaskFilterSet == id { ring.restrictions.filters = res.filters }
                } else {
                    task.filterSet = nil   // a new or copied set, shared with no one yet
                    task.filterSetCOW = false
                }
            }
            return ret
        default:
            return -Errno.EINVAL   // SEND_MSG_RING and QUERY are not modelled
        }
    }

    static var maxRestrictions: UInt32 { 4 + registerLast + Opcode.lastKnown }

    /// io_register_restrictions().
    private func registerRingRestrictions(_ ring: Ring, _ call: RegisterCall, _ arg: inout ArgMemory) -> Int32 {
        if !ring.disabled { return -Errno.EBADFD }
        if ring.restrictions.opRegistered || ring.restrictions.regRegistered { return -Errno.EBUSY }
        var parsed = ring.restrictions
        let ret = parseRestrictions(into: &parsed, arg: arg, offset: 0, count: call.nrArgs)
        if ret < 0 {
            // "Reset all restrictions if an error happened, but retain any COW'ed settings."
            let filters = ring.restrictions.filters
            ring.restrictions = Restrictions()
            ring.restrictions.filters = filters
            return ret
        }
        ring.restrictions = parsed
        if parsed.opRegistered { ring.opRestricted = true }
        if parsed.regRegistered { ring.regRestricted = true }
        return 0
    }

    /// io_register_restrictions_task().
    private func registerTaskRestrictions(_ call: RegisterCall, _ arg: inout ArgMemory) -> Int32 {
        if task.restrict != nil { return -Errno.EPERM }
        if !task.noNewPrivs && !task.privileged { return -Errno.EACCES }
        if call.nrArgs != 1 { return -Errno.EINVAL }
        guard let header = arg.read(0, FilterABI.TaskRestriction.size) else { return -Errno.EFAULT }
        let h = ByteImage(bytes: header)
        if h.load(UInt16.self, at: FilterABI.TaskRestriction.flags) != 0 { return -Errno.EINVAL }
        for i in 0..<3 where h.load(UInt32.self, at: FilterABI.TaskRestriction.resv + 4 * i) != 0 { return -Errno.EINVAL }
        var res = Restrictions()
        let nr = UInt32(h.load(UInt16.self, at: FilterABI.TaskRestriction.nrRes))
        let ret = parseRestrictions(into: &res, arg: arg, offset: FilterABI.TaskRestriction.size, count: nr)
        if ret < 0 { return ret }
        task.restrict = res
        return 0
    }

    private func parseRestrictions(into res: inout Restrictions, arg: ArgMemory, offset: Int, count: UInt32) -> Int32 {
        if arg.isNull || count > Self.maxRestrictions { return -Errno.EINVAL }
        guard let bytes = arg.read(offset, Int(count) * FilterABI.Restriction.size) else { return -Errno.EFAULT }
        return res.parse(bytes, count: count, semantics: semantics)
    }

    /// io_register_bpf_filter(): io_bpf_filter_import, bpf_prog_create_from_user, install.
    /// `res` is changed only on success.
    private func registerFilter(into res: inout Restrictions, _ call: RegisterCall, _ arg: inout ArgMemory) -> Int32 {
        typealias R = FilterABI.Registration
        typealias F = FilterABI.Filter
        guard let raw = arg.read(0, R.size) else { return -Errno.EFAULT }
        var reg = ByteImage(bytes: raw)
        if reg.load(UInt16.self, at: R.cmdType) != FilterABI.cmdFilter { return -Errno.EINVAL }
        if reg.load(UInt16.self, at: R.cmdFlags) != 0 || reg.load(UInt32.self, at: R.resv) != 0 { return -Errno.EINVAL }
        let f = R.filter
        let opcode = reg.load(UInt32.self, at: f + F.opcode)
        let flags = FilterABI.Flag(rawValue: reg.load(UInt32.self, at: f + F.flags))
        let filterLen = reg.load(UInt32.self, at: f + F.filterLen)
        let pduSize = reg.load(UInt8.self, at: f + F.pduSize)
        if opcode >= semantics.opcodeLast { return -Errno.EINVAL }
        if !flags.isSubset(of: .known) { return -Errno.EINVAL }
        if raw[(f + F.resv)..<(f + F.resv + F.resvCount)].contains(where: { $0 != 0 }) { return -Errno.EINVAL }
        if raw[(f + F.resv2)..<(f + F.resv2 + 8 * F.resv2Count)].contains(where: { $0 != 0 }) { return -Errno.EINVAL }
        if filterLen == 0 || filterLen > UInt32(FilterABI.maxInstructions) { return -Errno.EINVAL }
        let kernelSize = semantics.contextSize(opcode: opcode)
        var ret: Int32 = 0
        if pduSize == kernelSize {
        } else if flags.contains(.sizeStrict) {
            ret = -Errno.EMSGSIZE
        } else if pduSize > kernelSize {
            ret = -Errno.EMSGSIZE
        }
        reg.store(kernelSize, at: f + F.pduSize)
        guard arg.write(Array(reg.bytes[f..<(f + F.size)]), at: f) else { return -Errno.EFAULT }
        if ret != 0 { return ret }

        // bpf_prog_create_from_user
        let pointer = reg.load(UInt64.self, at: f + F.filterPtr)
        if pointer == 0 { return -Errno.EINVAL }
        let byteCount = Int(filterLen) * 8
        let programBytes: [UInt8]?
        if pointer == Self.programToken, let p = call.program {
            programBytes = ArgMemory(bytes: p, placement: call.programPlacement).read(0, byteCount)
        } else {
            programBytes = nil   // an address the model never mapped
        }
        guard let bytes = programBytes else { return -Errno.EFAULT }
        switch FilterChecker.check(FilterChecker.decode(bytes)) {
        case .failure(let r): return -r.errno
        case .success(let program):
            var table = res.filters ?? FilterTable()
            table.install(InstalledFilter(id: world.nextFilterID, program: program), opcode: opcode,
                          denyRest: flags.contains(.denyRest), opcodeLast: semantics.opcodeLast)
            world.nextFilterID += 1
            res.filters = table
            return 0
        }
    }

    // MARK: io_uring_enter(2)

    public func submit(ring fd: Int32, sqes: [SQESpec], expecting: Int, timeoutMs: Int) -> SubmitOutcome {
        guard let ring = fdTable[fd] else { return SubmitOutcome(submitted: -Errno.EBADF, cqes: []) }
        var created: [Int32] = [], createdPipes: [Int32] = []
        defer {
            created.forEach { sockets[$0] = nil }
            createdPipes.forEach { pipes.remove($0) }
        }
        var cqes: [CQE] = []
        var submitted: Int32 = 0
        for spec in sqes {
            if ring.pending.count >= ring.sqEntries {
                let r = enter(ring, cqes: &cqes)
                if r < 0 { return SubmitOutcome(submitted: r, cqes: []) }
                submitted += r
                if ring.pending.count >= ring.sqEntries { break }
            }
            var fdValue = spec.fd
            if let s = spec.socketForFD {
                // LiveKernel calls socket(2) here; when that fails the SQE carries fd -1
                let probe = Glibc.socket(s.domain, s.type, s.proto)
                if probe >= 0 {
                    Glibc.close(probe)
                    fdValue = world.nextSocketFD
                    world.nextSocketFD += 1
                    sockets[fdValue] = s
                    created.append(fdValue)
                } else {
                    fdValue = -1
                }
            }
            // A pipe end the case asks for (SQESpec.pipeEndForFD). (This was a
            // Mirror lookup by name, left from a merge: 36 % of the fuzzer's
            // time in the model.)
            if spec.pipeEndForFD != nil {
                fdValue = world.nextSocketFD
                world.nextSocketFD += 1
                pipes.insert(fdValue)
                createdPipes.append(fdValue)
            }
            ring.pending.append((spec, SQEMemory(addrPayload: spec.addrPayload, offPayload: spec.offPayload, fd: fdValue)))
        }
        let r = ring.pending.isEmpty ? 0 : enter(ring, cqes: &cqes)
        if r < 0 && submitted == 0 { return SubmitOutcome(submitted: r, cqes: cqes) }
        submitted += max(r, 0)
        return SubmitOutcome(submitted: submitted, cqes: cqes)
    }

    private struct LinkMember {
        var userData: UInt64
        var flags: SQEFlags
        var res: Int32 = 0
        var failed = false
        var request: PreparedRequest?
    }

    /// One io_submit_sqes() call's progress: the ring state io_init_req() reads and
    /// writes, the link being assembled, and what decides whether DRAIN_ACTIVE ends.
    private struct SubmitPass {
        var state: InitState
        var link: [LinkMember] = []
        var consumed = 0
        /// Where the chain being assembled began (0: with the first SQE this enter consumed).
        var chainStart = 0
        var drainQueued = false
    }

    /// io_uring_enter -> io_submit_sqes for everything pending; returns the count consumed or -errno.
    private func enter(_ ring: Ring, cqes: inout [CQE]) -> Int32 {
        if ring.disabled { return -Errno.EBADFD }
        if let t = ring.submitterTask, t != task.id { return -Errno.EEXIST }
        if task.registeredRings == nil { task.registeredRings = [:] }   // io_uring_add_tctx_node
        var pass = SubmitPass(state: InitState(opRestricted: ring.opRestricted, restrictions: ring.restrictions,
                                               drainActive: ring.drainActive, drainNext: ring.drainNext,
                                               drainDisabled: ring.drainDisabled, setupFlags: ring.setupFlags))
        // With SQPOLL the SQ thread keeps calling io_submit_sqes() until the ring is empty, so
        // a failed SQE never leaves the rest behind; liburing reports every flushed SQE.
        let sqpoll = ring.setupFlags.contains(.sqpoll)
        let submitAll = ring.setupFlags.contains(.submitAll) || sqpoll
        let flushed = ring.pending.count
        for (spec, memory) in ring.pending {
            if pass.link.isEmpty { pass.chainStart = pass.consumed }
            pass.consumed += 1
            pass.state.linkHeadPresent = !pass.link.isEmpty
            let result = initAndFilter(spec, memory, ring: ring, state: &pass.state)
            submit(result, spec, &pass, &cqes)
            // io_submit_sqes stops at a failed SQE unless IORING_SETUP_SUBMIT_ALL
            if case .failure(let f) = result, f.flags.isDisjoint(with: .link), !submitAll { break }
        }
        if !pass.link.isEmpty { queue(pass.link, &pass, &cqes) }
        ring.pending.removeFirst(pass.consumed)
        ring.drainNext = pass.state.drainNext
        ring.drainDisabled = pass.state.drainDisabled
        ring.drainActive = pass.drainQueued && semantics.completedDrainEndsTheDrain ? false : pass.state.drainActive
        return Int32(sqpoll ? flushed : pass.consumed)
    }

    /// io_init_req(), then the ring's filters (io_submit_sqe runs them after prep).
    private func initAndFilter(_ spec: SQESpec, _ memory: SQEMemory, ring: Ring,
                               state: inout InitState) -> Result<PreparedRequest, RequestModel.InitFailure> {
        let opcode: UInt32 = { if case .number(let n) = spec.opcode { return n }; return 255 }()
        let result = RequestModel.initRequest(spec, opcode: opcode, memory: memory, state: &state, semantics: semantics)
        guard case .success(let req) = result, let table = ring.restrictions.filters else { return result }
        let verdict = table.evaluate(opcode: opcode) {
            ContextBuilder.build(opcode: opcode, requestFlags: req.flags, userData: req.userData,
                                 payload: req.payload, semantics: semantics)
        }
        if case .denied = verdict { return .failure(.init(errno: Errno.EACCES, flags: req.flags)) }
        return result
    }

    /// io_submit_sqe()'s link handling: a request joins the link being assembled, ends it,
    /// or goes alone; a failed one (io_submit_fail_init) fails the link's head.
    private func submit(_ result: Result<PreparedRequest, RequestModel.InitFailure>, _ spec: SQESpec,
                        _ pass: inout SubmitPass, _ cqes: inout [CQE]) {
        switch result {
        case .failure(let failure):
            let m = LinkMember(userData: spec.userData, flags: failure.flags, res: -failure.errno, failed: true)
            if !pass.link.isEmpty && !pass.link[0].failed { pass.link[0].failed = true; pass.link[0].res = -Errno.ECANCELED }
            if failure.flags.isDisjoint(with: .link) {
                if !pass.link.isEmpty {
                    pass.link.append(m)
                    queue(pass.link, &pass, &cqes)
                    pass.link = []
                } else {
                    cqes.append(CQE(userData: m.userData, res: m.res))
                }
            } else {
                pass.link.append(m)
            }
        case .success(let req):
            let m = LinkMember(userData: req.userData, flags: req.flags, request: req)
            if !pass.link.isEmpty {
                pass.link.append(m)
                if !req.flags.isDisjoint(with: .link) { return }
                queue(pass.link, &pass, &cqes)
                pass.link = []
            } else if !req.flags.isDisjoint(with: .link) {
                pass.link = [m]
            } else {
                queue([m], &pass, &cqes)
            }
        }
    }

    /// Queues a chain (or one request) and flushes it.
    ///
    /// io_queue_sqe_fallback() -> io_drain_req() while DRAIN_ACTIVE: a drain request waits
    /// in the defer list (it completes after this submission and, since 7.3.2, the flush
    /// clears DRAIN_ACTIVE). Anything else clears DRAIN_ACTIVE only if io_queue_deferred()
    /// takes it off the list at once, which it does only when
    /// ctx->nr_req_allocated == ctx->nr_drained: nothing outside the defer list is alive.
    /// Every earlier request of this io_submit_sqes() call still is (one that failed at init
    /// waits in submit_state.compl_reqs, freed by io_submit_state_end()'s flush; one that
    /// was started waits for task work), so only a chain that begins with the first SQE this
    /// enter consumed clears it; any later one stays deferred and the flag stays set (same
    /// code in 7.2.13 and 7.3.4; fuzz seed 2313 case 45778). A failed chain goes to
    /// io_req_defer_failed() instead and leaves it set.
    private func queue(_ chain: [LinkMember], _ pass: inout SubmitPass, _ cqes: inout [CQE]) {
        if !chain[0].failed {
            if chain.contains(where: { $0.flags.contains(.ioDrain) }) { pass.drainQueued = true }
            else if pass.state.drainActive && !pass.drainQueued && pass.chainStart == 0 { pass.state.drainActive = false }
        }
        flush(chain, &cqes)
    }

    /// Runs (or fails) a link chain, or one request, and posts its CQEs.
    private func flush(_ chain: [LinkMember], _ cqes: inout [CQE]) {
        if chain[0].failed {
            for m in chain { cqes.append(CQE(userData: m.userData, res: m.failed ? m.res : -Errno.ECANCELED)) }
            return
        }
        var cancelRest = false
        for m in chain {
            if cancelRest { cqes.append(CQE(userData: m.userData, res: -Errno.ECANCELED)); continue }
            let res = execute(m.request!)
            let failed = OperationOutcome.setsFail(m.request!.action, res: res)
            if failed || !m.flags.contains(.cqeSkipSuccess) {
                cqes.append(CQE(userData: m.userData, res: res))
            }
            if failed && !m.flags.contains(.ioHardlink) { cancelRest = true }
        }
    }

    /// The operation's result; `lastResultExact` says whether the model knows it exactly.
    public private(set) var lastResultExact = true
    private func execute(_ req: PreparedRequest) -> Int32 {
        // io_assign_file(): no files are registered, so a fixed file never resolves
        if OpcodeDef.of(req.opcode).needsFile && req.flags.contains(.fixedFile) {
            lastResultExact = true
            return -Errno.EBADF
        }
        let out = OperationOutcome.result(of: req.action, sockets: sockets,
                                          isOpen: { [self] fd in (0...2).contains(fd) || sockets[fd] != nil || pipes.contains(fd) || fdTable[fd] != nil }) {
            defer { world.nextResultFD += 1 }
            return world.nextResultFD
        }
        lastResultExact = out.exact
        return out.res
    }
}

/// A user buffer as a Placement lays it out (mirrors Kernel/UserMemory.swift without mapping
/// anything): what copy_from_user/copy_to_user would find there.
struct ArgMemory {
    static let pageSize = 4096
    private(set) var bytes: [UInt8]
    let placement: Placement

    init(bytes: [UInt8], placement: Placement) { self.bytes = bytes; self.placement = placement }

    var isNull: Bool { placement == .null }

    /// Bytes [0, readable) can be read; past the payload (inside the mapping) reads zero.
    private var readable: Int {
        switch placement {
        case .null, .unmapped: return 0
        case .normal, .readOnly: return max(1, (bytes.count + Self.pageSize - 1) / Self.pageSize) * Self.pageSize
        case .truncated(let n): return max(0, min(n, bytes.count, Self.pageSize))
        }
    }

    func read(_ offset: Int, _ count: Int) -> [UInt8]? {
        if count == 0 { return [] }
        guard offset >= 0, offset + count <= readable else { return nil }
        return (offset..<(offset + count)).map { $0 < bytes.count ? bytes[$0] : 0 }
    }

    mutating func write(_ data: [UInt8], at offset: Int) -> Bool {
        if placement == .readOnly { return false }
        guard offset + data.count <= readable else { return false }
        for (i, b) in data.enumerated() where offset + i < bytes.count { bytes[offset + i] = b }
        return true
    }

    /// What LiveKernel's UserMemory.read() returns after the call.
    var after: [UInt8]? {
        switch placement {
        case .normal, .readOnly: return bytes
        default: return nil
        }
    }
}
