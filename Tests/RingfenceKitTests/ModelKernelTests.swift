import Testing
import PropertyBased
@testable import RingfenceKit
@testable import RingfenceCore

/// ReferenceKernel behaviour, each check tied to the source it models.
@Suite struct ModelKernelTests {
    static let nopOp = "NOP"

    @Test func stackingIsAConjunctionIndependentOfOrder() async {
        // programs: deny user_data v (v in 1...4) or allow everything
        let progGen = Gen.uint32(in: 0...4).array(of: 1...5)
        await propertyCheck(count: 100, input: progGen, Gen.uint64(in: 1...4)) { denies, ud in
            func outcome(_ order: [UInt32]) -> Int32 {
                let k = ReferenceKernel()
                let ring = k.setupRing(entries: 8, flags: 0)
                for v in order {
                    M.register(k, ring: ring, M.registration(opcode: "NOP", v == 0 ? [M.ret(1)] : M.denyIfUserData(v)))
                }
                return M.results(k.submit(ring: ring, sqes: [M.nop(ud)], expecting: 1, timeoutMs: 0))[ud] ?? 99
            }
            let a = outcome(denies), b = outcome(denies.reversed())
            let expected: Int32 = denies.contains(UInt32(ud)) ? -Errno.EACCES : 0
            #expect(a == expected && b == expected, "filters \(denies) user_data \(ud)")
        }
    }

    @Test func denyRestDeniesOtherOpcodesEvenUnderNewFilters() {
        let k = ReferenceKernel()
        let ring = k.setupRing(entries: 8, flags: 0)
        #expect(M.register(k, ring: ring, M.registration(opcode: "SOCKET", [M.ret(1)], flags: 1)).ret == 0)
        // NOP now holds the dummy; an allow-all filter pushed on top still ends in it.
        #expect(M.register(k, ring: ring, M.registration(opcode: "NOP", [M.ret(1)])).ret == 0)
        let out = M.results(k.submit(ring: ring, sqes: [M.nop(1)], expecting: 1, timeoutMs: 0))
        #expect(out[1] == -Errno.EACCES)
        #expect(k.filters(ofRing: ring)?.slot(0).endsInDummy == true)
    }

    @Test func taskFiltersReachRingsCreatedLaterAndChildrenButNotBack() {
        let k = ReferenceKernel()
        let before = k.setupRing(entries: 8, flags: 0)
        #expect(M.register(k, ring: -1, M.registration(opcode: "NOP", [M.ret(0)], target: .task)).ret == 0)
        let after = k.setupRing(entries: 8, flags: 0)
        #expect(M.results(k.submit(ring: before, sqes: [M.nop(1)], expecting: 1, timeoutMs: 0))[1] == 0)
        #expect(M.results(k.submit(ring: after, sqes: [M.nop(1)], expecting: 1, timeoutMs: 0))[1] == -Errno.EACCES)
        // a ring filter added to the inherited set (COW) does not reach the task
        #expect(M.register(k, ring: after, M.registration(opcode: "SOCKET", [M.ret(0)])).ret == 0)
        #expect(k.taskFilters?.slot(45).isEmpty == true)
        let child = k.runInChild { c in
            let r = c.setupRing(entries: 8, flags: 0)
            let res = M.results(c.submit(ring: r, sqes: [M.nop(2)], expecting: 1, timeoutMs: 0))[2]
            return (res == -Errno.EACCES, ["child NOP: \(String(describing: res))"])
        }
        #expect(child.ok, "\(child.diagnostics)")
    }

    @Test func unprivilegedTaskNeedsNoNewPrivs() {
        let k = ReferenceKernel()
        #expect(k.dropPrivileges() == 0)
        let reg = M.registration(opcode: "NOP", [M.ret(1)], target: .task)
        #expect(M.register(k, ring: -1, reg).ret == -Errno.EACCES)
        #expect(k.setNoNewPrivs() == 0)
        #expect(M.register(k, ring: -1, reg).ret == 0)
    }

    @Test func deniedLinkMemberFailsWithEACCESAndTheRestAreCanceled() {
        let k = ReferenceKernel()
        let ring = k.setupRing(entries: 8, flags: 0)
        M.register(k, ring: ring, M.registration(opcode: "NOP", M.denyIfUserData(2)))
        let link = SQEFlags.ioLink.rawValue
        let out = k.submit(ring: ring, sqes: [M.nop(1, flags: link), M.nop(2, flags: link), M.nop(3), M.nop(4)],
                           expecting: 4, timeoutMs: 0)
        let r = M.results(out)
        #expect(r[1] == -Errno.ECANCELED && r[2] == -Errno.EACCES && r[3] == -Errno.ECANCELED && r[4] == 0)
        #expect(out.submitted == 4)
        // A denied standalone request stops submission (no IORING_SETUP_SUBMIT_ALL).
        let out2 = k.submit(ring: ring, sqes: [M.nop(2), M.nop(5)], expecting: 1, timeoutMs: 0)
        #expect(out2.submitted == 1 && M.results(out2)[2] == -Errno.EACCES && M.results(out2)[5] == nil)
    }

    @Test func importOrderAndWriteBack() {
        let k = ReferenceKernel()
        let ring = k.setupRing(entries: 8, flags: 0)
        var r = M.registration(opcode: "SOCKET", [M.ret(1)], pdu: 0)
        var out = M.register(k, ring: ring, r)
        #expect(out.ret == 0 && out.argAfter.map(FilterRegistration.pduSize(in:)) == 12)
        r.flags = FilterABI.Flag.sizeStrict.rawValue
        out = M.register(k, ring: ring, r)
        #expect(out.ret == -Errno.EMSGSIZE && out.argAfter.map(FilterRegistration.pduSize(in:)) == 12)
        r.pduSize = 12; r.argPointer = .readOnly
        #expect(M.register(k, ring: ring, r).ret == -Errno.EFAULT)   // copy_to_user of the write-back
        r.argPointer = .truncated(mappedBytes: 71)
        #expect(M.register(k, ring: ring, r).ret == -Errno.EFAULT)
        r.argPointer = .normal; r.cmdFlags = 1
        #expect(M.register(k, ring: ring, r).ret == -Errno.EINVAL)
        r.cmdFlags = 0; r.filterPointer = .null
        #expect(M.register(k, ring: ring, r).ret == -Errno.EINVAL)   // bpf_check_basics_ok
        r.filterPointer = .unmapped
        #expect(M.register(k, ring: ring, r).ret == -Errno.EFAULT)
        r.filterPointer = .normal; r.filterLen = 500                  // reads zeros inside the page: no RET last
        #expect(M.register(k, ring: ring, r).ret == -Errno.EINVAL)
        r.filterLen = 513                                           // 4104 bytes: past the one mapped page
        #expect(M.register(k, ring: ring, r).ret == -Errno.EFAULT)
        r.filterLen = nil; r.nrArgs = 2
        #expect(M.register(k, ring: ring, r).ret == -Errno.EINVAL)
    }

    @Test func socketTypeMaskingIsAFlavour() {
        // allow only type == SOCK_STREAM (1); submit SOCK_STREAM|SOCK_CLOEXEC
        let program = [M.insn(0x20, 0, 0, 20), M.insn(0x15, 0, 1, 1), M.ret(1), M.ret(0)]
        func run(_ s: KernelSemantics) -> Int32? {
            let k = ReferenceKernel(semantics: s)
            let ring = k.setupRing(entries: 8, flags: 0)
            M.register(k, ring: ring, M.registration(opcode: "SOCKET", program))
            return M.results(k.submit(ring: ring, sqes: [M.socket(1, type: 1 | 0o2000000)], expecting: 1, timeoutMs: 0))[1]
        }
        #expect(run(.upstream) != -Errno.EACCES)
        #expect(run(.before732) == -Errno.EACCES)
    }

    @Test func blindRegisterRestrictionsAreAFlavour() {
        func run(_ s: KernelSemantics) -> Int32 {
            let k = ReferenceKernel(semantics: s)
            var r = RestrictionSpec()
            r.target = .task
            r.registerOps = [UInt8(FilterABI.registerRestrictions)]
            #expect(k.register(r.registerCall(fd: -1)).ret == 0)
            return M.register(k, ring: -1, M.registration(opcode: "NOP", [M.ret(1)], target: .task)).ret
        }
        #expect(run(.upstream) == -Errno.EACCES)
        #expect(run(.before732) == 0)
    }

    @Test func nopFixedFileAtPrepIsAFlavour() {
        // allow iff sqe_flags == IOSQE_FIXED_FILE; submit a NOP with IORING_NOP_FIXED_FILE only
        let program = M.allowIfSqeFlags(1)
        func run(_ s: KernelSemantics) -> Int32? {
            let k = ReferenceKernel(semantics: s)
            let ring = k.setupRing(entries: 8, flags: 0)
            M.register(k, ring: ring, M.registration(opcode: "NOP", program))
            var nop = M.nop(1)
            nop.opFlags = 4
            return M.results(k.submit(ring: ring, sqes: [nop], expecting: 1, timeoutMs: 0))[1]
        }
        #expect(run(.upstream) == 0)
        #expect(run(.of(kernel: KernelVersion("7.1.3")!)) == -Errno.EACCES)
        #expect(run(.of(kernel: KernelVersion("7.1.7")!)) == 0)
    }

    @Test func taskSideCopyOnWriteIsAFlavour() {
        // task: NOP allowed; ring A (shares the set), ring B (then adds its own filter, so it
        // copies); task: NOP denied; ring C. Results of a NOP on A, B, C.
        func run(_ s: KernelSemantics) -> [Int32?] {
            let k = ReferenceKernel(semantics: s)
            M.register(k, ring: -1, M.registration(opcode: "NOP", [M.ret(1)], target: .task))
            let a = k.setupRing(entries: 8, flags: 0), b = k.setupRing(entries: 8, flags: 0)
            M.register(k, ring: b, M.registration(opcode: "NOP", [M.ret(1)]))
            M.register(k, ring: -1, M.registration(opcode: "NOP", [M.ret(0)], target: .task))
            let c = k.setupRing(entries: 8, flags: 0)
            return [a, b, c].map { M.results(k.submit(ring: $0, sqes: [M.nop(1)], expecting: 1, timeoutMs: 0))[1] }
        }
        #expect(run(.upstream) == [0, 0, -Errno.EACCES])
        #expect(run(.of(kernel: KernelVersion("7.2.13")!)) == [-Errno.EACCES, 0, -Errno.EACCES])
        #expect(run(.of(kernel: KernelVersion("7.3-rc7")!)) == [0, 0, -Errno.EACCES])
    }

    @Test func flavourOfAVersionFollowsTheKnownFixes() {
        func of(_ v: String) -> KernelSemantics { .of(kernel: KernelVersion(v)!) }
        #expect(of("7.3.4") == .upstream)
        #expect(of("7.3.2") == .upstream)
        var b = KernelSemantics.upstream
        b.socketTypeMasked = false
        b.blindRegisterHonoursTaskRestrictions = false
        b.completedDrainEndsTheDrain = false
        #expect(of("7.3.1") == b)
        #expect(KernelSemantics.before732 == b)
        #expect(of("7.3-rc7") == b)
        b.taskFiltersCopyOnWrite = false
        #expect(of("7.3-rc6") == b)
        #expect(of("7.2.13") == b)
        #expect(of("7.2.11") == b)
        b.inheritedRegisterRestrictionsBindDisabledRings = false
        #expect(of("7.2.9") == b)
        b.connectHasContext = false
        #expect(of("7.1.13") == b)
        #expect(of("7.1.8") == b)
        b.execKeepsTaskRestrictions = false
        #expect(of("7.1.7") == b)
        b.nopFixedFileSetAtPrep = false
        #expect(of("7.1.3") == b)
        #expect(of("7.0.13") == b)
    }

    @Test func legacyRestrictionsNeedADisabledRingAndOnlyOnce() {
        let k = ReferenceKernel()
        let enabled = k.setupRing(entries: 8, flags: 0)
        var r = RestrictionSpec()
        r.sqeOps = [0]
        #expect(k.register(r.registerCall(fd: enabled)).ret == -Errno.EBADFD)
        let disabled = k.setupRing(entries: 8, flags: 1 << 6)
        #expect(k.register(r.registerCall(fd: disabled)).ret == 0)
        #expect(k.register(r.registerCall(fd: disabled)).ret == -Errno.EBUSY)
        #expect(k.submit(ring: disabled, sqes: [M.nop(1)], expecting: 1, timeoutMs: 0).submitted == -Errno.EBADFD)
        var enable = RegisterCall(fd: disabled, opcode: FilterABI.registerEnableRings, arg: [])
        enable.argPlacement = .null; enable.nrArgs = 0
        #expect(k.register(enable).ret == 0)
        // the NOP left in the SQ ring by the failed enter is submitted now, then the socket is refused
        let out = k.submit(ring: disabled, sqes: [M.socket(2)], expecting: 2, timeoutMs: 0)
        #expect(M.results(out)[1] == 0 && M.results(out)[2] == -Errno.EACCES)
    }

    @Test func contextShowsFlagsSetByPrep() {
        // OPENAT with O_CREAT is forced async: sqe_flags in the context carry IOSQE_ASYNC.
        var sqe = SQESpec()
        sqe.opcode = .number(Opcode.number("OPENAT")!)
        sqe.fd = -100
        sqe.addrPayload = Array("/tmp/x".utf8) + [0]
        sqe.opFlags = 0o100 | 1
        var state = InitState()
        guard case .success(let req) = RequestModel.initRequest(sqe, opcode: 18, memory: SQEMemory(addrPayload: sqe.addrPayload, offPayload: nil, fd: -100), state: &state, semantics: .upstream) else {
            Issue.record("prep failed"); return
        }
        let ctx = ContextBuilder.build(opcode: 18, requestFlags: req.flags, userData: 0, payload: req.payload, semantics: .upstream)
        #expect(ctx[9] == SQEFlags.async.rawValue)
        #expect(ctx[10] == 24)
        // O_LARGEFILE added on 64-bit, mode kept for O_CREAT
        #expect(ByteImage(bytes: ctx).load(UInt64.self, at: 16) == 0o100 | 1 | 0o100000)
    }
}

/// Behaviour found by `ringfence fuzz` on Linux 7.3.4 and then read in the source.
@Suite struct ModelFuzzFindingsTests {
    @Test func aFailedFixedSlotSocketDoesNotBreakItsLink() {
        // io_socket(): io_fixed_fd_install() fails with -ENXIO (no file table) but the
        // request is not marked REQ_F_FAIL, so the linked NOP still runs...
        let k = ReferenceKernel()
        let ring = k.setupRing(entries: 8, flags: 0)
        var sock = M.socket(3, domain: 2, type: 1)
        sock.fileIndex = 1
        sock.flags = .ioLink
        let r = M.results(k.submit(ring: ring, sqes: [sock, M.nop(4)], expecting: 2, timeoutMs: 0))
        #expect(r[3] == -Errno.ENXIO && r[4] == 0)
        // ...and CQE_SKIP_SUCCESS hides its -ENXIO completion.
        sock.flags = .cqeSkipSuccess
        sock.userData = 5
        let out = k.submit(ring: ring, sqes: [sock], expecting: 0, timeoutMs: 0)
        #expect(out.submitted == 1 && out.cqes.isEmpty)
    }
}

/// io_connect_bpf_populate()'s addr_len rules, on the bytes a filter would load.
@Suite struct ModelConnectContextTests {
    static func ctx(_ addr: [UInt8], len: Int32, semantics: KernelSemantics = .upstream) -> ByteImage {
        ByteImage(bytes: ContextBuilder.build(opcode: 16, requestFlags: [], userData: 0,
                                              payload: .connect(addrLen: len, address: Array(addr.prefix(Int(max(0, len))))),
                                              semantics: semantics))
    }
    static let v4: [UInt8] = [2, 0, 0x1f, 0x90, 127, 0, 0, 1] + Array(repeating: 0, count: 8)
    static let v6: [UInt8] = [10, 0, 0x01, 0xbb, 0, 0, 0, 0] + Array(repeating: 0, count: 15) + [1] + [0, 0, 0, 0]

    @Test func familyNeedsTwoBytes() {
        #expect(Self.ctx(Self.v4, len: 1).load(UInt32.self, at: 16) == 0)
        #expect(Self.ctx(Self.v4, len: 2).load(UInt32.self, at: 16) == 2)
        #expect(Self.ctx(Self.v4, len: 2).load(UInt16.self, at: 20) == 0)
    }

    @Test func ipv4NeedsAWholeSockaddrIn() {
        #expect(Self.ctx(Self.v4, len: 15).load(UInt32.self, at: 24) == 0)
        let c = Self.ctx(Self.v4, len: 16)
        #expect(c.load(UInt16.self, at: 20) == UInt16(8080).bigEndian)
        #expect(c.bytes[24..<28] == [127, 0, 0, 1])
        #expect(c.bytes[10] == 24)
    }

    @Test func ipv6NeedsTheRFC2133Length() {
        #expect(Self.ctx(Self.v6, len: 23).load(UInt16.self, at: 20) == 0)
        let c = Self.ctx(Self.v6, len: 24)
        #expect(c.load(UInt16.self, at: 20) == UInt16(443).bigEndian)
        #expect(c.bytes[39] == 1)
    }

    @Test func withoutAContextNothingIsFilled() {
        var s = KernelSemantics.upstream
        s.connectHasContext = false
        let c = Self.ctx(Self.v4, len: 16, semantics: s)
        #expect(c.bytes[10...].allSatisfy { $0 == 0 })
    }
}

@Suite struct ModelDrainTests {
    /// A fresh ring whose NOP filter allows iff sqe_flags equals user_data, so each NOP's
    /// user_data states the flags its filter must see.
    static func ringAllowingSqeFlagsEqualToUserData() -> (ReferenceKernel, Int32) {
        let k = ReferenceKernel()
        let ring = k.setupRing(entries: 8, flags: 0)
        M.register(k, ring: ring, M.registration(opcode: "NOP", M.allowIfSqeFlagsEqualUserData))
        return (k, ring)
    }

    /// Before 7.3.2 a completed drain request left IO_RING_F_DRAIN_ACTIVE set until the next
    /// request was queued, so that request's filter saw IOSQE_ASYNC (the known bug behind
    /// cases/fuzz/findings.yaml's drain case; fuzzing 7.0.13 found it again: seed 12, case 9804).
    @Test func aCompletedDrainLeavesAsyncBehindOnlyBefore732() {
        func run(_ s: KernelSemantics) -> Int32? {
            let k = ReferenceKernel(semantics: s)
            let ring = k.setupRing(entries: 8, flags: 0)
            #expect(M.results(k.submit(ring: ring, sqes: [M.nop(1, flags: SQEFlags.ioDrain.rawValue)], expecting: 1, timeoutMs: 0))[1] == 0)
            M.register(k, ring: ring, M.registration(opcode: "NOP", M.allowIfSqeFlagsHave(0x10)))   // IOSQE_ASYNC
            return M.results(k.submit(ring: ring, sqes: [M.nop(2)], expecting: 1, timeoutMs: 0))[2]
        }
        #expect(run(.upstream) == -Errno.EACCES)
        #expect(run(.before732) == 0)
        #expect(run(.of(kernel: KernelVersion("7.3-rc7")!)) == 0)
    }

    /// Found by fuzzing 7.3.4 (seed 6, case 41881): an IO_DRAIN request that fails after
    /// io_init_drain() leaves IO_RING_F_DRAIN_ACTIVE set, so the next request's context
    /// shows IOSQE_ASYNC (REQ_F_FORCE_ASYNC) even in a later io_uring_enter.
    @Test func aFailedDrainRequestLeavesAsyncForTheNextRequest() {
        let (k, ring) = Self.ringAllowingSqeFlagsEqualToUserData()
        var bad = M.nop(2, flags: SQEFlags.ioDrain.rawValue)
        bad.opFlags = 0x100   // unknown nop_flags: prep fails with EINVAL after io_init_drain
        #expect(M.results(k.submit(ring: ring, sqes: [bad], expecting: 1, timeoutMs: 0))[2] == -Errno.EINVAL)
        #expect(M.results(k.submit(ring: ring, sqes: [M.nop(0x10)], expecting: 1, timeoutMs: 0))[0x10] == 0)
        // ...which cleared it
        #expect(M.results(k.submit(ring: ring, sqes: [M.nop(0x100000000)], expecting: 1, timeoutMs: 0))[0x100000000] == 0)
    }

    @Test func aCompletedDrainRequestClearsIt() {
        let (k, ring) = Self.ringAllowingSqeFlagsEqualToUserData()
        let r = M.results(k.submit(ring: ring, sqes: [M.nop(0x12, flags: SQEFlags.ioDrain.rawValue), M.nop(0x10)], expecting: 2, timeoutMs: 0))
        #expect(r[0x12] == 0 && r[0x10] == 0)
        #expect(M.results(k.submit(ring: ring, sqes: [M.nop(0x100000000)], expecting: 1, timeoutMs: 0))[0x100000000] == 0)
    }
}

extension ModelDrainTests {
    /// Found by fuzzing 7.3.4 (seed 9, case 21180): a link head does not clear the lingering
    /// DRAIN_ACTIVE at init; only queueing the finished chain would, so its tail sees ASYNC too.
    @Test func aLinkAfterAFailedDrainShowsAsyncOnEveryMember() {
        let (k, ring) = Self.ringAllowingSqeFlagsEqualToUserData()
        var bad = M.nop(2, flags: SQEFlags.ioDrain.rawValue)
        bad.opFlags = 0x100
        _ = k.submit(ring: ring, sqes: [bad], expecting: 1, timeoutMs: 0)
        let r = M.results(k.submit(ring: ring, sqes: [M.nop(0x14, flags: SQEFlags.ioLink.rawValue), M.nop(0x10)], expecting: 2, timeoutMs: 0))
        #expect(r[0x14] == 0 && r[0x10] == 0)
    }
}
