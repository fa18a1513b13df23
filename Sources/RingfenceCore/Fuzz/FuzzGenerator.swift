// Seeded generation of fuzz cases: filter programs (mostly well-formed field
// comparisons, some ALU soup, mutated and raw instructions), registration
// arguments (flags, pdu_size, reserved fields, placements) and SQE batches for
// NOP, SOCKET, OPENAT, OPENAT2, CONNECT and opcodes without a context.
//
// Safety: no SQE writes or removes anything (no O_CREAT/O_TRUNC/write access,
// CLOSE and FSYNC only on fd -1), and CONNECT only targets loopback addresses
// or unix socket paths that do not exist.

public struct FuzzGenerator {
    public var semantics: KernelSemantics
    public init(semantics: KernelSemantics = .upstream) { self.semantics = semantics }

    static let nop: UInt32 = 0
    static let contextOps = ["NOP", "SOCKET", "OPENAT", "OPENAT2", "CONNECT"].map { Opcode.number($0)! }
    static let plainOps = ["FSYNC", "CLOSE", "FADVISE", "NOP128"].map { Opcode.number($0)! }

    public func generate(seed: UInt64, index: Int) -> FuzzCase {
        var rng = SplitMix64.forCase(seed: seed, index: index)
        var c = FuzzCase()
        c.index = index
        if rng.chance(30) { c.ringFlags.insert(.submitAll) }
        if rng.chance(4) { c.ringFlags.insert(.sqpoll) }
        else if rng.chance(3) { c.ringFlags.insert(.iopoll) }
        let taskCase = rng.chance(8)
        // The SQEs first, so programs can compare against values they carry.
        let batches = (0..<(1 + rng.below(2))).map { b in sqeBatch(&rng, base: UInt64(b * 8)) }
        var pool = constantPool(batches.flatMap { $0 })
        let registrations = (0..<(1 + rng.below(3))).map { _ in registration(&rng, pool: &pool, target: .ring("main")) }
        let usedOps = Set(batches.flatMap { $0 }.map(\.opcode))
        if taskCase {
            c.appendRegister(registration(&rng, pool: &pool, target: .task))
            if rng.chance(30) {
                // task restrictions, before or after the task filter (after: -EPERM)
                let r = FuzzCase.restrictStep(restrictions(&rng, ops: usedOps, target: .task))
                if rng.chance(50) { c.steps.insert(r, at: 0) } else { c.steps.append(r) }
            }
            c.appendSetup()
        } else if rng.chance(10) {
            // legacy restrictions on an R_DISABLED ring, a filter maybe registered before them
            c.ringFlags.insert(.rDisabled)
            c.appendSetup()
            if rng.chance(40) { c.appendRegister(registration(&rng, pool: &pool, target: .ring("main"))) }
            c.appendRestrict(restrictions(&rng, ops: usedOps, target: .ring("main")))
            if rng.chance(90) { c.appendEnable() }
        }
        var regs = registrations[...]
        for batch in batches {
            let n = rng.below(regs.count + 1)
            for r in regs.prefix(n) { c.appendRegister(r) }
            regs = regs.dropFirst(n)
            c.appendSubmit(batch)
        }
        for r in regs { c.appendRegister(r) }
        return c
    }

    /// IORING_RESTRICTION_* entries: some of the opcodes the case submits, sometimes SQE
    /// flag rules and register opcodes (BPF_FILTER, ENABLE_RINGS, RESTRICTIONS, RING_FDS).
    func restrictions(_ rng: inout SplitMix64, ops: Set<UInt32>, target: RegisterTarget) -> RestrictionSpec {
        var r = RestrictionSpec()
        r.target = target
        r.sqeOps = ops.sorted().filter { _ in rng.chance(70) }.map { UInt8(truncatingIfNeeded: $0) }
        if rng.chance(40) { r.sqeFlagsAllowed = rng.pick([[], .ioLink, .async, [.ioLink, .async], .valid] as [SQEFlags]) }
        if rng.chance(10) { r.sqeFlagsRequired = rng.pick([[], .ioLink] as [SQEFlags]) }
        if rng.chance(30) { r.registerOps = [37, 12, 11, 20].filter { _ in rng.chance(50) } }
        return r
    }

    // MARK: SQEs

    func sqeBatch(_ rng: inout SplitMix64, base: UInt64) -> [FuzzSQE] {
        let n = 1 + rng.below(4)
        var out: [FuzzSQE] = []
        for i in 0..<n {
            var ud = base + UInt64(i) + 1
            if rng.chance(10) { ud |= UInt64(rng.u32()) << 32 }
            var s = FuzzSQE(kind: sqeKind(&rng), userData: ud)
            if rng.chance(25) {
                // IO_LINK / IO_HARDLINK / ASYNC, now and then FIXED_FILE, DRAIN or an invalid bit
                s.flags = rng.pick([.ioLink, .ioLink, .ioHardlink, .async, [.ioLink, .async], .fixedFile, .ioDrain, .cqeSkipSuccess,
                                    Self.invalidSQEFlag, .bufferSelect])
            }
            if rng.chance(3) { s.ioprio = UInt16(rng.below(3)) }
            if rng.chance(3) { s.bufIndex = UInt16(rng.below(2)) }
            if rng.chance(3) { s.fileIndex = UInt32(rng.below(2)) }
            out.append(s)
        }
        // CQE_SKIP_SUCCESS inside a link is left out (REQ_F_SKIP_LINK_CQES is not modelled)
        if out.contains(where: { !$0.flags.isDisjoint(with: .link) }) {
            for i in out.indices { out[i].flags.remove(.cqeSkipSuccess) }
        }
        return out
    }

    static let paths = ["/dev/null", "/", "/nonexistent-ringfence", "/etc/passwd", "/proc/self", ""]

    func sqeKind(_ rng: inout SplitMix64) -> FuzzSQE.Kind {
        switch rng.below(100) {
        case 0..<22:
            let inject = rng.chance(40)
            var flags: UInt32 = inject ? 1 : 0
            if rng.chance(5) { flags |= rng.pick([2, 4, 8, 0x40, 0x100]) }
            let len: UInt32 = inject ? rng.pick([0, 1, 5, UInt32(bitPattern: -22), UInt32(bitPattern: -1), 0x7fff_ffff]) : 0
            return .nop(nopFlags: flags, len: len)
        case 22..<44:
            let domain: Int32 = rng.pick([1, 2, 10, 2, 16, 0, 4242])
            var type: UInt32 = rng.pick([1, 2, 5, 1, 3])
            if rng.chance(30) { type |= rng.pick([0o2000000, 0o4000, 0o2004000]) }
            if rng.chance(5) { type |= rng.pick([0x10, 0x100, 0x8000_0000]) }
            let proto: UInt32 = rng.chance(70) ? 0 : rng.pick([6, 17, 255])
            return .socket(domain: domain, type: type, proto: proto)
        case 44..<58:
            return .openat(path: rng.pick(Self.paths), flags: openFlags(&rng), mode: rng.chance(20) ? rng.pick([0o644, 0o7777, 0x10000]) : 0)
        case 58..<72:
            let f = UInt64(openFlags(&rng)) | (rng.chance(5) ? 1 << 40 : 0)
            // not RESOLVE_CACHED: its -EAGAIN depends on what the dcache holds
            let resolve: UInt64 = rng.chance(30) ? rng.pick([1, 2, 4, 8, 0x10, 0x18, 0x40, 1 << 33]) : 0
            let size: UInt32 = rng.chance(85) ? 24 : rng.pick([0, 16, 23])   // past 24 the live kernel reads heap bytes the model cannot know
            return .openat2(path: rng.pick(Self.paths), flags: f, mode: rng.chance(10) ? 0o600 : 0, resolve: resolve, howSize: size)
        case 72..<86:
            let target = rng.pick(["127.0.0.1:9", "127.1.2.3:1", "127.0.0.1:4", "[::1]:9", "unix:/nonexistent-ringfence-sock"])
            let len: UInt64? = rng.chance(25) ? rng.pick([0, 1, 2, 8, 15, 16, 24, 27, 128, 129, 0xffff_ffff]) : nil
            return .connect(target: target, addrLen: len)
        default:
            // Only opcodes whose prep and result on fd -1 the model knows: others fail prep
            // (stopping the batch) or post extra CQEs (SEND_ZC notifications) in ways it does not.
            let op = rng.chance(90) ? rng.pick(Self.plainOps) : rng.pick([semantics.opcodeLast, 200])
            // only fd -1 for ops that could touch a real file (CLOSE, FSYNC...)
            return .fdOnly(opcode: op, fd: -1)
        }
    }

    /// The first bit above IOSQE_CQE_SKIP_SUCCESS: io_init_req() refuses it (SQE_VALID_FLAGS).
    static let invalidSQEFlag = SQEFlags(rawValue: SQEFlags.valid.rawValue + 1)

    /// Read-only open flags: O_DIRECTORY, O_NOFOLLOW, O_PATH, O_CLOEXEC, O_NONBLOCK, O_NOATIME, unknown bits.
    func openFlags(_ rng: inout SplitMix64) -> UInt32 {
        var f: UInt32 = 0
        for bit: UInt32 in [0o200000, 0o400000, 0o10000000, 0o2000000, 0o4000, 0o1000000] where rng.chance(15) { f |= bit }
        if rng.chance(5) { f |= rng.pick([1 << 27, 1 << 30, 0o40000]) }   // unknown bits, O_DIRECT
        return f
    }

    // MARK: registrations

    func registration(_ rng: inout SplitMix64, pool: inout [UInt32], target: RegisterTarget) -> FilterRegistration {
        var r = FilterRegistration()
        r.target = target
        let op: UInt32
        switch rng.below(100) {
        case 0..<75: op = rng.pick(Self.contextOps + [Self.nop, Self.nop])
        case 75..<93: op = rng.pick(Self.plainOps)
        default: op = rng.pick([semantics.opcodeLast, 255, 256, UInt32(rng.below(Int(semantics.opcodeLast)))])
        }
        r.opcode = .number(op)
        r.program = program(&rng, pool: pool, opcode: op)
        // No programSource: nothing on the fuzz path reads it (the executor
        // registers `program`, FuzzCaseWriter renders `program`), and
        // rendering it for every generated case was 9 % of generation.
        let size = semantics.contextSize(opcode: op)
        r.pduSize = rng.chance(85) ? size : rng.pick([0, size &+ 1, size &- 1, 255, 12, 24])
        if rng.chance(12) { r.flags |= FilterABI.Flag.denyRest.rawValue }
        if rng.chance(12) { r.flags |= FilterABI.Flag.sizeStrict.rawValue }
        if rng.chance(3) { r.flags |= rng.pick([4, 0x8000_0000]) }
        if rng.chance(2) { r.cmdType = rng.pick([0, 2]) }
        if rng.chance(2) { r.cmdFlags = 1 }
        if rng.chance(2) { r.resv = 1 }
        if rng.chance(2) { r.filterResv[rng.below(3)] = 1 }
        if rng.chance(2) { r.resv2[rng.below(5)] = 1 }
        if rng.chance(3) { r.filterLen = rng.pick([0, UInt32(r.program.count + 1), UInt32(max(1, r.program.count - 1)), 4097]) }
        if rng.chance(2) { r.nrArgs = rng.pick([0, 2]) }
        if rng.chance(2) { r.argPointer = rng.pick([.null, .unmapped, .readOnly, .truncated(mappedBytes: 40)]) }
        if rng.chance(2) { r.filterPointer = rng.pick([.null, .unmapped, .readOnly, .truncated(mappedBytes: 4)]) }
        return r
    }

    /// Values worth comparing against: what the case's SQEs put in the context.
    func constantPool(_ sqes: [FuzzSQE]) -> [UInt32] {
        var pool: [UInt32] = [0, 1, 2, 10, 0x10, 0o100000]
        for s in sqes {
            pool.append(UInt32(truncatingIfNeeded: s.userData))
            pool.append(s.opcode)
            pool.append(s.opcode | UInt32(s.flags.rawValue) << 8)
            switch s.kind {
            case .socket(let d, let t, let p):
                pool += [UInt32(bitPattern: d), t, t & 0xf, p]
            case .openat(_, let f, _): pool += [f, f | 0o100000]
            case .openat2(_, let f, _, let r, _): pool += [UInt32(truncatingIfNeeded: f) | 0o100000, UInt32(truncatingIfNeeded: r)]
            case .connect(let target, _):
                let (_, addr) = FuzzSQE.sockaddr(target)
                let img = ByteImage(bytes: addr + Array(repeating: 0, count: 32))
                pool += [UInt32(img.load(UInt16.self, at: 0)), UInt32(img.load(UInt16.self, at: 2)), img.load(UInt32.self, at: 4), img.load(UInt32.self, at: 8)]
            default: break
            }
        }
        return pool
    }

    typealias I = BPFInstruction
    static func stmt(_ code: UInt16, _ k: UInt32 = 0) -> I { I(code: code, jt: 0, jf: 0, k: k) }

    func program(_ rng: inout SplitMix64, pool: [UInt32], opcode: UInt32) -> [BPFInstruction] {
        var p: [I]
        switch rng.below(100) {
        case 0..<55: p = compareChain(&rng, pool: pool)
        case 55..<70: p = aluSoup(&rng, pool: pool)
        case 70..<78: p = scratch(&rng, pool: pool)
        case 78..<88: p = [Self.stmt(0x06, rng.pick([0, 1, 0xffff_ffff, 2]))]
        case 88..<95: p = raw(&rng)
        default: p = compareChain(&rng, pool: pool)
        }
        if rng.chance(12) { mutate(&p, &rng) }
        return p
    }

    func loadField(_ rng: inout SplitMix64) -> [I] {
        let off = UInt32(rng.pick([0, 0, 4, 8, 8, 16, 20, 24, 28, 32, 36]))
        var out = [Self.stmt(0x20, off)]
        if off == 8 {
            switch rng.below(4) {
            case 0: out.append(Self.stmt(0x54, 0xff))                                   // opcode
            case 1: out += [Self.stmt(0x74, 8), Self.stmt(0x54, 0xff)]                  // sqe_flags
            case 2: out += [Self.stmt(0x74, 16), Self.stmt(0x54, 0xff)]                 // pdu_size
            default: break
            }
        } else if off == 20 && rng.chance(30) {
            out.append(Self.stmt(0x54, 0xffff))                                       // connect.port
        }
        return out
    }

    func compareChain(_ rng: inout SplitMix64, pool: [UInt32]) -> [I] {
        let conds = 1 + rng.below(3)
        var blocks: [([I], UInt16, UInt32, Bool)] = []   // loads, jump code, k, pass-on-true
        for _ in 0..<conds {
            let code = rng.pick([0x15, 0x15, 0x25, 0x35, 0x45] as [UInt16])
            let k = rng.chance(85) ? rng.pick(pool) : rng.u32()
            blocks.append((loadField(&rng), code, k, rng.chance(50)))
        }
        let pass: UInt32 = rng.chance(90) ? 1 : rng.pick([0xffff_ffff, 2])
        var body: [I] = []
        var jumpAt: [(Int, Bool)] = []
        for b in blocks {
            body += b.0
            jumpAt.append((body.count, b.3))
            body.append(I(code: b.1, jt: 0, jf: 0, k: b.2))
        }
        let failIdx = body.count + 1
        body += [Self.stmt(0x06, pass), Self.stmt(0x06, 0)]
        for (j, passOnTrue) in jumpAt {
            // the branch that does not fail goes on to the next block (or to the pass ret)
            let fail = UInt8(failIdx - j - 1)
            let onward: UInt8 = 0
            body[j].jt = passOnTrue ? onward : fail
            body[j].jf = passOnTrue ? fail : onward
        }
        return body
    }

    func aluSoup(_ rng: inout SplitMix64, pool: [UInt32]) -> [I] {
        var p = loadField(&rng)
        if rng.chance(50) { p.append(Self.stmt(0x07)) }                 // tax
        else { p.append(Self.stmt(0x01, rng.pick(pool))) }              // ldx #k
        for _ in 0..<(1 + rng.below(5)) {
            let op = rng.pick([0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0] as [UInt16])
            if rng.chance(40) {
                p.append(Self.stmt(0x04 | op | 0x08))                       // op x
            } else {
                var k = rng.chance(50) ? rng.pick(pool) : UInt32(rng.below(40))
                if op == 0x30 && k == 0 { k = 3 }
                if op == 0x60 || op == 0x70 { k &= 31 }
                p.append(Self.stmt(0x04 | op, k))
            }
            if rng.chance(10) { p.append(Self.stmt(0x84)) }                  // neg
        }
        p.append(rng.chance(70) ? Self.stmt(0x16) : I(code: 0x45, jt: 0, jf: 1, k: rng.pick(pool)))
        if p.last!.code == 0x45 { p += [Self.stmt(0x06, 1), Self.stmt(0x06, 0)] }
        return p
    }

    func scratch(_ rng: inout SplitMix64, pool: [UInt32]) -> [I] {
        let m = UInt32(rng.below(16))
        var p = loadField(&rng)
        p.append(Self.stmt(0x02, m))                                         // st M[m]
        p.append(Self.stmt(0x00, rng.pick(pool)))                            // ld #k
        p.append(Self.stmt(rng.chance(50) ? 0x61 : 0x60, m))                 // ldx/ld M[m]
        p.append(Self.stmt(rng.chance(50) ? 0x87 : 0x07))                    // txa / tax
        p.append(Self.stmt(0x16))
        return p
    }

    func raw(_ rng: inout SplitMix64) -> [I] {
        // Sorted: a Set's order changes with each process's hash seed, and a seed must
        // give the same cases in every process (the fuzz gate's and a reproducer's).
        let codes = FilterChecker.acceptedCodes.sorted() + [0x94, 0x28, 0x30, 0x40, 0xb1, 0x0e, 0x21, 0xff, 0x8000]
        return (0..<(1 + rng.below(6))).map { _ in
            I(code: rng.pick(codes), jt: UInt8(rng.below(4)), jf: UInt8(rng.below(4)),
              k: rng.chance(50) ? UInt32(rng.below(48)) : rng.u32())
        } + (rng.chance(70) ? [Self.stmt(rng.pick([0x06, 0x16]), 1)] : [])
    }

    func mutate(_ p: inout [I], _ rng: inout SplitMix64) {
        guard !p.isEmpty else { return }
        let i = rng.below(p.count)
        switch rng.below(4) {
        case 0: p[i].code = UInt16(rng.below(256))
        case 1: p[i].jt = UInt8(rng.below(8))
        case 2: p[i].jf = UInt8(rng.below(8))
        default: p[i].k = rng.chance(50) ? UInt32(rng.below(64)) : rng.u32()
        }
    }
}
