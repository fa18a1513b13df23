#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

// One fuzz case: a fresh ring (or task-level filters and then a ring), some
// registrations and some SQE batches. Everything is kept in the case-file
// vocabulary's terms (CaseParser) so a case can be written back as YAML that
// loads into exactly the same RegisterCalls and SQESpecs.

public struct FuzzSQE: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// IORING_OP_NOP with nop_flags (op_flags) and len (INJECT_RESULT's value).
        case nop(nopFlags: UInt32, len: UInt32)
        /// SOCKET: domain (fd), type (off), protocol (len).
        case socket(domain: Int32, type: UInt32, proto: UInt32)
        /// OPENAT at AT_FDCWD: path, open_flags (op_flags), mode (len).
        case openat(path: String, flags: UInt32, mode: UInt32)
        /// OPENAT2 at AT_FDCWD: path and a 24-byte open_how, how_size (len).
        case openat2(path: String, flags: UInt64, mode: UInt64, resolve: UInt64, howSize: UInt32)
        /// CONNECT from a fresh socket to a `connect:` target, addr_len (off) overridden when set.
        case connect(target: String, addrLen: UInt64?)
        /// Any opcode with only fd set (FSYNC, CLOSE, FADVISE, unknown opcodes...).
        case fdOnly(opcode: UInt32, fd: Int32)
    }
    public var kind: Kind
    public var userData: UInt64
    public var flags: SQEFlags = []
    public var ioprio: UInt16 = 0
    public var bufIndex: UInt16 = 0
    public var fileIndex: UInt32 = 0

    public init(kind: Kind, userData: UInt64) { self.kind = kind; self.userData = userData }

    public var opcode: UInt32 {
        switch kind {
        case .nop: return 0
        case .socket: return Opcode.socket
        case .openat: return Opcode.openat
        case .openat2: return Opcode.openat2
        case .connect: return Opcode.connect
        case .fdOnly(let op, _): return op
        }
    }

    /// The SQESpec CaseParser builds from the YAML this SQE writes.
    public var spec: SQESpec {
        var s = SQESpec()
        s.opcode = .number(opcode)
        s.userData = userData
        s.flags = flags
        s.ioprio = ioprio
        s.bufIndex = bufIndex
        s.fileIndex = fileIndex
        switch kind {
        case .nop(let f, let len):
            s.opFlags = f; s.len = len
        case .socket(let d, let t, let p):
            s.fd = d; s.off = UInt64(t); s.len = p
        case .openat(let path, let f, let mode):
            s.fd = -100
            s.addrPayload = Array(path.utf8) + [0]
            s.opFlags = f; s.len = mode
        case .openat2(let path, let f, let mode, let resolve, let size):
            s.fd = -100
            s.addrPayload = Array(path.utf8) + [0]
            var how = ByteImage(size: 24)
            how.store(f, at: 0); how.store(mode, at: 8); how.store(resolve, at: 16)
            s.offPayload = how.bytes
            s.len = size
        case .connect(let target, let addrLen):
            let (sock, addr) = FuzzSQE.sockaddr(target)
            s.socketForFD = sock
            s.addrPayload = addr
            s.off = addrLen ?? UInt64(addr.count)
        case .fdOnly(_, let fd):
            s.fd = fd
        }
        return s
    }

    /// The bytes SocketAddress.parse() makes for the targets the fuzzer uses
    /// ("a.b.c.d:port", "[v6]:port" with a 16-byte hex address, "unix:/path").
    static func sockaddr(_ target: String) -> (SocketSpec, [UInt8]) {
        if target.hasPrefix("unix:") {
            let path = Array(target.dropFirst(5).utf8)
            var img = ByteImage(size: 2 + path.count + 1)
            img.store(UInt16(1), at: 0)
            for (i, b) in path.enumerated() { img.store(b, at: 2 + i) }
            return (SocketSpec(domain: 1, type: 1, proto: 0), img.bytes)
        }
        let colon = target.lastIndex(of: ":")!
        let port = UInt16(target[target.index(after: colon)...])!
        let host = String(target[..<colon])
        if host.hasPrefix("[") {
            let addr = SocketAddressBytes.ipv6(String(host.dropFirst().dropLast()))
            var img = ByteImage(size: 28)
            img.store(UInt16(10), at: 0); img.store(port.bigEndian, at: 2)
            for (i, b) in addr.enumerated() { img.store(b, at: 8 + i) }
            return (SocketSpec(domain: 10, type: 1, proto: 0), img.bytes)
        }
        let parts = host.split(separator: ".").map { UInt8($0)! }
        var img = ByteImage(size: 16)
        img.store(UInt16(2), at: 0); img.store(port.bigEndian, at: 2)
        for (i, b) in parts.enumerated() { img.store(b, at: 4 + i) }
        return (SocketSpec(domain: 2, type: 1, proto: 0), img.bytes)
    }
}

enum SocketAddressBytes {
    /// Only the forms the fuzzer writes: "::1" and full 8-group addresses.
    static func ipv6(_ s: String) -> [UInt8] {
        if s == "::1" { return Array(repeating: 0, count: 15) + [1] }
        let groups = s.split(separator: ":").map { UInt16($0, radix: 16)! }
        return groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }
}

/// A generated case as the executor runs it: `[Step]` on a ring named "main" that is made
/// with `ringFlags` on first use (Executor.defaultRingFlags) unless a `ring` step makes it
/// (task cases register on the task first). The steps are ring (`setup`), register,
/// restrict, enableRings and submit only: each records one event in observing mode, so an
/// event's index is its step's index. Their expectations are empty (observing mode does not
/// judge them); `sqes` keeps the generator's description of each submitted SQE, by
/// user_data, for the shrinker and the reproducer writer (how the CQE is compared and
/// whether it points at memory are read off the SQESpec: FuzzComparison).
public struct FuzzCase: Sendable {
    public var ringFlags: SetupFlags = []
    public var steps: [Step] = []
    public var sqes: [UInt64: FuzzSQE] = [:]
    public var index = 0
    public init() {}

    /// Where a generated step comes from, for the executor's messages.
    static let location = SourceLocation(file: "fuzz", line: 0)
    static let ring = "main"

    /// Task-level registrations: the case must run in its own process.
    public var usesTask: Bool {
        steps.contains {
            switch $0 {
            case .register(let r, _, _): return r.target == .task
            case .restrict(let r, _, _): return r.target == .task
            default: return false
            }
        }
    }

    // The steps the generator emits.
    public mutating func appendSetup() { steps.append(setupStep) }
    var setupStep: Step {
        var spec = RingSpec(name: Self.ring)
        spec.flags = ringFlags
        return .ring(spec, expectErrno: nil, Self.location)
    }
    public mutating func appendRegister(_ r: FilterRegistration) { steps.append(.register(r, RegisterExpectation(), Self.location)) }
    public mutating func appendRestrict(_ r: RestrictionSpec) { steps.append(Self.restrictStep(r)) }
    static func restrictStep(_ r: RestrictionSpec) -> Step { .restrict(r, expectErrno: nil, location) }
    public mutating func appendEnable() { steps.append(.enableRings(ring: Self.ring, expectErrno: nil, Self.location)) }
    public mutating func appendSubmit(_ batch: [FuzzSQE]) { steps.append(submitStep(batch)) }
    /// A submit step of `batch`, each SQE noted in `sqes`.
    public mutating func submitStep(_ batch: [FuzzSQE]) -> Step {
        for s in batch { sqes[s.userData] = s }
        return .submit(ring: Self.ring, batch.map(\.spec), SubmitExpectation(), Self.location)
    }

    /// The setup flags, on the default ring and in every `ring` step.
    mutating func setRingFlags(_ flags: SetupFlags) {
        ringFlags = flags
        steps = steps.map { if case .ring(var spec, let e, let l) = $0 { spec.flags = flags; return .ring(spec, expectErrno: e, l) }; return $0 }
    }

    /// A submit step's SQEs, nil for other steps.
    static func submitted(_ step: Step) -> [SQESpec]? {
        if case .submit(_, let specs, _, _) = step { return specs }
        return nil
    }

    /// The index of the first step whose outcome is unpredictable because an SQE that
    /// points at freed memory was left in the SQ ring by the submit before it (per the
    /// submitted counts in `o`); nil when there is none.
    public func unpredictableFrom(_ o: FuzzObservation) -> Int? {
        var pending: [SQESpec] = []
        for (i, step) in steps.enumerated() {
            guard let specs = Self.submitted(step), i < o.events.count, case .submit(let n, _) = o.events[i] else { continue }
            if pending.contains(where: FuzzComparison.pointsAtMemory) { return i }
            pending += specs
            pending.removeFirst(min(pending.count, max(0, Int(n))))
        }
        return pending.contains(where: FuzzComparison.pointsAtMemory) ? steps.count : nil
    }

    /// Ring steps come implicitly first unless an explicit `ring` step appears.
    var hasExplicitSetup: Bool { steps.contains { if case .ring = $0 { return true }; return false } }

    /// Runs the case on `k` through the executor's observing mode: one event per step.
    public func observe(on k: KernelBackend, expectedCQEs: [Int]? = nil, timeoutMs: Int) -> FuzzObservation {
        let executor = Executor(backend: k, opcodeLast: Opcode.lastKnown, cqeTimeoutMs: timeoutMs)
        executor.defaultRingFlags = ringFlags
        return executor.observe(steps, expectedCQEs: expectedCQEs)
    }
}
