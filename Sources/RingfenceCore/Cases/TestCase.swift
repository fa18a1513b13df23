#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

// What a case file describes, after loading: no YAML left, programs already
// assembled, names resolved to numbers. The Executor runs these steps.

/// Where in a case file something came from, for messages.
public struct SourceLocation: Sendable, Equatable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public init(file: String, line: Int) { self.file = file; self.line = line }
    public var description: String { "\(file):\(line)" }
}

public struct TestCase: Sendable, Equatable, Codable {
    /// Stable identifier: "<file path under cases/ without .yaml>:<slug of name>".
    public var id: String
    public var name: String
    /// Why the kernel should behave so: a source reference or changelog line.
    public var why: String?
    public var location: SourceLocation
    public var requires: [Requirement]
    public var steps: [Step]
    /// Per-case timeout override in seconds (0 < t <= maximumTimeout).
    public var timeout: Double?
    /// The longest timeout a case file or `--timeout` may ask for: one hour.
    public static let maximumTimeout: Double = 3600
    /// Exhaustive cases (minutes under TCG) run only when asked for.
    public var tier: Tier = .standard
    /// `inject:`: run one step with the N-th allocation failing, for N = 1, 2, …
    public var injection: FaultInjection?
    /// `byte_order:`: the case holds only on machines of this byte order.
    public var byteOrder: DeclaredByteOrder?

    /// What the compiled plan (suite.rfcases) carries: everything but `why`,
    /// which only `ringfence lint` reads, on the host. The name stays: the
    /// guest's KTAP lines and `--filter` use it. A decoded case has `why` nil.
    enum CodingKeys: String, CodingKey {
        case id, name, location, requires, steps, timeout, tier, injection, byteOrder
    }
}

/// A case's `inject:` block (docs/writing-cases.md, "Allocation failures"):
/// for N = 1, 2, … a fresh child runs the steps before `step`, then `step`
/// with the task's N-th fault-injectable call failing (fail-nth), until a run
/// in which the fault was no longer injected. Each N must end in one of two
/// ways: the step met its expectation (then the following steps must hold:
/// its full effect), or it failed with one of `errnos` (then `ifFailed` must
/// hold: the state as before). Anything else fails the case, naming N.
public struct FaultInjection: Sendable, Equatable, Codable {
    /// 1-based index into the case's steps: a ring, register, restrict or fork step.
    public var step: Int
    public var errnos: [Int32]
    public var ifFailed: [Step]
    /// Upper bound on N; reaching it without an uninjected run fails the case.
    public var maxN: Int
    public init(step: Int, errnos: [Int32], ifFailed: [Step], maxN: Int = 400) {
        self.step = step; self.errnos = errnos; self.ifFailed = ifFailed; self.maxN = maxN
    }
}

public enum Tier: String, Sendable, Codable {
    case standard
    /// Run with `ringfence run --exhaustive` (`run-in-vm.sh --exhaustive`); CI does.
    case exhaustive
}

/// Feature probes, never version numbers.
public enum Requirement: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// IORING_REGISTER_BPF_FILTER exists (implicit for every case).
    case bpfFilter
    /// Running as root with CAP_SYS_ADMIN.
    case root
    /// The kernel gives this opcode a filter context (writes back pdu_size > 0).
    case context(opcode: UInt32)
    /// The running kernel knows this opcode (opcode < its IORING_OP_LAST).
    case opcode(UInt32)
    /// A kernel module is loaded or loadable.
    case module(String)
    /// fail-nth and failslab (CONFIG_FAULT_INJECTION, FAILSLAB, FAULT_INJECTION_DEBUG_FS): implied by `inject:`.
    case faultInjection

    public var description: String {
        switch self {
        case .bpfFilter: return "bpf-filter"
        case .root: return "root"
        case .context(let op): return "context:\(Opcode.name(op))"
        case .opcode(let op): return "opcode:\(Opcode.name(op))"
        case .module(let m): return "module:\(m)"
        case .faultInjection: return "fault-injection"
        }
    }
}

/// An io_uring opcode as a case names it; LAST is resolved on the running kernel.
public enum OpcodeRef: Sendable, Equatable, Codable {
    case number(UInt32)
    /// The running kernel's IORING_OP_LAST, plus an offset.
    case last(plus: UInt32)
}

/// Where a user pointer points, for fault cases.
public enum Placement: Sendable, Equatable, Codable {
    case normal
    case null
    /// An address with no mapping behind it.
    case unmapped
    /// Mapped read-only (the kernel's copy_to_user must fail).
    case readOnly
    /// Only the first N bytes are mapped; the rest falls into an unmapped page.
    case truncated(mappedBytes: Int)
}

public enum RegisterTarget: Sendable, Equatable, Codable {
    case ring(String)
    /// fd -1: the task's filter set, inherited by rings created later and by children.
    case task
    /// Any raw fd number (a bad fd, a non-io_uring fd).
    case rawFD(Int32)
}

/// One IORING_REGISTER_BPF_FILTER call with every field under the case's control.
public struct FilterRegistration: Sendable, Equatable, Codable {
    public var target: RegisterTarget = .ring("main")
    public var opcode: OpcodeRef = .number(0)
    public var program: [BPFInstruction] = []
    public var programSource: String = ""
    /// io_uring_bpf_filter.flags: FilterABI.Flag's bits (every writer names
    /// them: the case parser, the fuzzer), and unknown ones for the EINVAL
    /// cases. The u32 as the kernel reads it; FilterABI.Flag is the OptionSet.
    public var flags: UInt32 = 0
    public var pduSize: UInt8 = 0
    public var cmdType: UInt16 = FilterABI.cmdFilter
    /// io_uring_bpf.cmd_flags: none is defined; raw, for the cases that set bits to get EINVAL.
    public var cmdFlags: UInt16 = 0
    public var resv: UInt32 = 0
    public var filterResv: [UInt8] = [0, 0, 0]
    public var resv2: [UInt64] = [0, 0, 0, 0, 0]
    /// filter_len when it should differ from the program's length.
    public var filterLen: UInt32?
    public var filterPointer: Placement = .normal
    public var argPointer: Placement = .normal
    public var nrArgs: UInt32 = 1
    /// Pass the ring through IORING_REGISTER_USE_REGISTERED_RING.
    public var useRegisteredRing = false
    /// The program's raw `ld [k]` loads (not named fields), for lint.
    public var rawLoads: [RawContextLoad] = []
    public init() {}
}

public struct RegisterExpectation: Sendable, Equatable, Codable {
    /// nil: the call must succeed.
    public var errno: Int32?
    /// The pdu_size the kernel must have written back into the argument.
    public var pduSizeWrittenBack: UInt8?
    public init(errno: Int32? = nil, pduSizeWrittenBack: UInt8? = nil) {
        self.errno = errno; self.pduSizeWrittenBack = pduSizeWrittenBack
    }
}

public struct RingSpec: Sendable, Equatable, Codable {
    public var name: String
    public var entries: UInt32 = 8
    /// IORING_SETUP_* bits, any of them: a negative case may set bits 7.3 does not define.
    public var flags: SetupFlags = []
    /// Register the ring fd (IORING_REGISTER_RING_FDS) so USE_REGISTERED_RING can name it.
    public var registerFD = false
    public init(name: String) { self.name = name }
}

/// Legacy IORING_REGISTER_RESTRICTIONS on a ring, or the task-level variant (fd -1).
public struct RestrictionSpec: Sendable, Equatable, Codable {
    public var target: RegisterTarget = .ring("main")
    public var registerOps: [UInt8] = []
    public var sqeOps: [UInt8] = []
    /// IORING_RESTRICTION_SQE_FLAGS_ALLOWED/REQUIRED (nil: no such entry); any
    /// u8, unknown bits included, as the restriction's sqe_flags carries it.
    public var sqeFlagsAllowed: SQEFlags?
    public var sqeFlagsRequired: SQEFlags?
    /// Task variant only: io_uring_task_restriction.flags and .resv. Raw: no
    /// flag is defined, every bit is one a negative case sets to get EINVAL.
    public var taskFlags: UInt16 = 0
    public var taskResv: [UInt32] = [0, 0, 0]
    public var nrArgs: UInt32?
    public init() {}
}

/// One SQE. Typed helpers (path, socket, sockaddr) are turned into these
/// fields plus a payload the backend places in memory.
public struct SQESpec: Sendable, Equatable, Codable {
    public var opcode: OpcodeRef = .number(0)
    /// IOSQE_* bits, any of them (unknown ones included, for the EINVAL cases).
    public var flags: SQEFlags = []
    public var ioprio: UInt16 = 0
    public var fd: Int32 = -1
    public var off: UInt64 = 0
    public var addr: UInt64 = 0
    public var len: UInt32 = 0
    /// The per-op flags word (rw_flags / open_flags / msg_flags ...). Raw: its
    /// meaning depends on the opcode, so no one OptionSet fits (the model
    /// reads it as OpenFlags for OPENAT; the case parser names its bits per op).
    public var opFlags: UInt32 = 0
    public var userData: UInt64 = 0
    public var bufIndex: UInt16 = 0
    public var personality: UInt16 = 0
    public var fileIndex: UInt32 = 0
    public var addr3: UInt64 = 0
    /// Bytes the backend places in memory; its address goes into `addr`.
    public var addrPayload: [UInt8]?
    /// Bytes whose address goes into `off` (addr2), e.g. OPENAT2's open_how.
    public var offPayload: [UInt8]?
    /// The open flags whose value is per architecture that `open_flags:`
    /// names (SymbolicConstant.archOpenFlags; x86_64 values above), so the
    /// exporter can write them as the target's C names.
    public var archOpenFlags: [String] = []
    /// A socket the backend creates; its fd goes into `fd` (CONNECT).
    public var socketForFD: SocketSpec?
    /// A pipe the backend creates and keeps open until the case ends; this end
    /// (0 = read, 1 = write) goes into `fd` (POLL_ADD that stays pending).
    public var pipeEndForFD: Int?
    /// `ring_fd: r2`: the fd of that ring of the case goes into `fd` (MSG_RING's target).
    public var ringForFD: String?
    public init() {}
}

/// How `send_ring` passes a ring fd to the parent.
public enum RingPassing: String, Sendable, Codable {
    case scmRights = "scm_rights"
    case pidfdGetfd = "pidfd_getfd"
}

/// `exec:` and `spawn:`: the nested steps run in a new image of the guest
/// binary (/proc/self/exe, a real execve()), which reads them, compiled
/// (CompiledPlan.encodeSteps), from a memfd: the new image parses nothing.
public struct ExecSpec: Sendable, Equatable, Codable {
    /// spawn: posix_spawn() from this process (glibc: clone3 with CLONE_VM|CLONE_VFORK,
    /// then execve); exec: a forked child runs `before`, then execve()s itself.
    public var spawn: Bool
    /// Rings whose fd stays open across the execve (FD_CLOEXEC cleared), by name.
    public var keep: [String]
    /// exec only: steps the child runs in the old image just before it execs.
    public var before: [Step]
    public var steps: [Step]
    public init(spawn: Bool, keep: [String], before: [Step], steps: [Step]) {
        self.spawn = spawn; self.keep = keep; self.before = before; self.steps = steps
    }
}

public struct SocketSpec: Sendable, Equatable, Codable {
    public var domain: Int32, type: Int32, proto: Int32
    public init(domain: Int32, type: Int32, proto: Int32) { self.domain = domain; self.type = type; self.proto = proto }
}

/// What a CQE's res must be.
public enum ResultMatcher: Sendable, Equatable, Codable, CustomStringConvertible {
    case exactly(Int32)
    /// >= 0: the operation ran and succeeded.
    case success
    /// Anything except -EACCES: the filters let it through; the op's own result is not judged.
    case notDenied
    case any

    public func matches(_ res: Int32) -> Bool {
        switch self {
        case .exactly(let v): return res == v
        case .success: return res >= 0
        case .notDenied: return res != -Errno.EACCES
        case .any: return true
        }
    }

    public var description: String {
        switch self {
        case .exactly(let v): return Errno.describe(result: v)
        case .success: return ">= 0"
        case .notDenied: return "not -EACCES (allowed)"
        case .any: return "any"
        }
    }
}

public struct CQEExpectation: Sendable, Equatable, Codable {
    public var userData: UInt64
    public var res: ResultMatcher
}

public struct SubmitExpectation: Sendable, Equatable, Codable {
    /// Exactly these CQEs (matched by user_data, in any order), no others.
    public var cqes: [CQEExpectation] = []
    /// io_uring_submit's return value, when the case cares.
    public var submitted: Int32?
}

public enum Step: Sendable, Equatable, Codable {
    case ring(RingSpec, expectErrno: Int32?, SourceLocation)
    case register(FilterRegistration, RegisterExpectation, SourceLocation)
    /// The same registration once per value, `$name` in the program replaced by
    /// the value; one verdict listing every value whose result differed.
    case sweep(Sweep, FilterRegistration, RegisterExpectation, SourceLocation)
    case restrict(RestrictionSpec, expectErrno: Int32?, SourceLocation)
    case enableRings(ring: String, expectErrno: Int32?, SourceLocation)
    case submit(ring: String, [SQESpec], SubmitExpectation, SourceLocation)
    /// Run the nested steps in a forked child; they must all hold there.
    case fork([Step], SourceLocation)
    /// Run the nested steps in a new thread (pthread_create: CLONE_THREAD) and join it;
    /// rings the thread sets up stay the case's rings.
    case thread([Step], SourceLocation)
    /// `exec:` / `spawn:`: the nested steps run in a new image of the guest binary.
    case exec(ExecSpec, SourceLocation)
    /// unshare(CLONE_NEWUSER).
    case userNamespace(SourceLocation)
    /// Inside `fork:`: pass the ring's fd to the parent, over a unix socket
    /// (SCM_RIGHTS) or by the parent taking it with pidfd_getfd(2); after the
    /// child ends the parent has it under `as`.
    case sendRing(ring: String, as: String, via: RingPassing, expectErrno: Int32?, SourceLocation)
    case setNoNewPrivs(SourceLocation)
    /// Become an unprivileged user (uid/gid 65534) with no capabilities.
    case dropPrivileges(SourceLocation)
    case closeRing(String, SourceLocation)
    /// Add taint bits by writing them to /proc/sys/kernel/tainted (root only):
    /// the harness's own check that a case which taints the kernel fails.
    case taint(UInt64, SourceLocation)

    public var location: SourceLocation {
        switch self {
        case .ring(_, _, let l), .register(_, _, let l), .sweep(_, _, _, let l), .restrict(_, _, let l), .enableRings(_, _, let l),
             .submit(_, _, _, let l), .fork(_, let l), .setNoNewPrivs(let l), .dropPrivileges(let l),
             .closeRing(_, let l), .taint(_, let l), .thread(_, let l), .exec(_, let l), .userNamespace(let l),
             .sendRing(_, _, _, _, let l):
            return l
        }
    }

    public var kind: String {
        switch self {
        case .ring: return "ring"
        case .register: return "register"
        case .sweep(let s, _, _, _): return "register for each \(s.variable)"
        case .restrict: return "restrict"
        case .enableRings: return "enable"
        case .submit: return "submit"
        case .fork: return "fork"
        case .thread: return "thread"
        case .exec(let e, _): return e.spawn ? "spawn" : "exec"
        case .userNamespace: return "user_namespace"
        case .sendRing: return "send_ring"
        case .setNoNewPrivs: return "no_new_privs"
        case .dropPrivileges: return "drop_privileges"
        case .closeRing: return "close"
        case .taint: return "taint"
        }
    }
}

/// `for: { code: "0..0xffff", except: [...] }` on a register step.
public struct Sweep: Sendable, Equatable {
    public var variable: String
    public var values: [UInt32]
    /// `$variable` given as the register step's `opcode`: each value is the opcode too.
    public var opcodeFromVariable = false
    /// A range ending at `LAST-N` ("0..LAST-1"): its values depend on the running
    /// kernel's IORING_OP_LAST and are computed by `resolvedValues(opcodeLast:)`.
    public var rangeToLast: (lo: UInt32, minus: UInt32, step: UInt32)?
    public var except: Set<UInt32> = []

    public init(variable: String, values: [UInt32]) { self.variable = variable; self.values = values }

    public static func == (a: Sweep, b: Sweep) -> Bool {
        a.variable == b.variable && a.values == b.values && a.opcodeFromVariable == b.opcodeFromVariable
            && a.rangeToLast?.lo == b.rangeToLast?.lo && a.rangeToLast?.minus == b.rangeToLast?.minus
            && a.rangeToLast?.step == b.rangeToLast?.step && a.except == b.except
    }

    /// The values on a kernel whose IORING_OP_LAST is `opcodeLast`.
    public func resolvedValues(opcodeLast: UInt32) -> [UInt32] {
        guard let r = rangeToLast else { return values }
        guard opcodeLast >= r.minus, opcodeLast - r.minus >= r.lo else { return [] }
        return stride(from: r.lo, through: opcodeLast - r.minus, by: Int(r.step)).filter { !except.contains($0) }
    }

    /// The program text with `$variable` replaced by `value` (in hex).
    public func substitute(_ text: String, _ value: UInt32) -> String {
        // The standard library's replacing, not Foundation's replacingOccurrences
        // (NSString bridging): this runs once per value when the case runs.
        text.replacing("$" + variable, with: "0x" + String(value, radix: 16))
    }
}
