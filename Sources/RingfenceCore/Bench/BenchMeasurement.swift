import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// The timed loop, run inside a forked child that owns its filters:
/// prepare B SQEs, submit and wait for B CQEs, reap them; ns per SQE.
enum BenchMeasurement {

    static let allow = BPFInstruction.encode([BPFInstruction(code: 0x06, jt: 0, jf: 0, k: 1)])

    /// nil on success, else what failed while setting the config up.
    static func setUp(_ config: BenchConfig, opcode: UInt32, ring: UnsafeMutablePointer<io_uring>?, kernel: LiveKernel) -> String? {
        func register(fd: Int32, flags: UInt32) -> Int32 {
            var reg = FilterRegistration()
            reg.program = [BPFInstruction(code: 0x06, jt: 0, jf: 0, k: 1)]
            reg.flags = flags
            return kernel.register(reg.registerCall(fd: fd, opcode: opcode)).ret
        }
        guard let ring else {
            // Task filters must exist before the ring is created.
            if config.kind == .taskFilter {
                _ = rf_set_no_new_privs()
                let r = register(fd: -1, flags: 0)
                return r == 0 ? nil : "task filter: \(Errno.describe(result: r))"
            }
            return nil
        }
        let fd = ring.pointee.ring_fd
        switch config.kind {
        case .ringFilters:
            for _ in 0..<config.filters {
                let r = register(fd: fd, flags: 0)
                if r != 0 { return "ring filter: \(Errno.describe(result: r))" }
            }
        case .denyRest:
            let r = register(fd: fd, flags: FilterABI.Flag.denyRest.rawValue)
            if r != 0 { return "DENY_REST filter: \(Errno.describe(result: r))" }
        case .legacyRestrictions:
            var spec = RestrictionSpec()
            spec.sqeOps = [UInt8(opcode)]
            let r = kernel.register(spec.registerCall(fd: fd)).ret
            if r != 0 { return "restrictions: \(Errno.describe(result: r))" }
            var enable = RegisterCall(fd: fd, opcode: FilterABI.registerEnableRings, arg: [])
            enable.argPlacement = .null
            enable.nrArgs = 0
            let e = kernel.register(enable).ret
            if e != 0 { return "enable rings: \(Errno.describe(result: e))" }
        case .taskFilter:
            break
        }
        return nil
    }

    /// ns per SQE for each batch size, or an error text.
    static func run(_ config: BenchConfig, opcode: UInt32, batches: [Int], sqesPerBatchSize: Int) -> Result<[Double], BenchError> {
        let kernel = LiveKernel()
        if let e = setUp(config, opcode: opcode, ring: nil, kernel: kernel) { return .failure(BenchError(text: e)) }
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        var params = io_uring_params()
        params.flags = config.kind == .legacyRestrictions ? SetupFlags.rDisabled.rawValue : 0
        let entries = UInt32(batches.max() ?? 1)
        let r = io_uring_queue_init_params(entries, ring, &params)
        if r < 0 { return .failure(BenchError(text: "io_uring_queue_init: \(Errno.describe(result: r))")) }
        defer { io_uring_queue_exit(ring) }
        if let e = setUp(config, opcode: opcode, ring: ring, kernel: kernel) { return .failure(BenchError(text: e)) }

        var results: [Double] = []
        for batch in batches {
            let rounds = max(1, sqesPerBatchSize / batch)
            // One untimed round warms caches and checks that requests are allowed.
            if let e = round(ring, opcode: opcode, batch: batch) { return .failure(BenchError(text: e)) }
            let start = rf_now_ns()
            for _ in 0..<rounds {
                if let e = round(ring, opcode: opcode, batch: batch) { return .failure(BenchError(text: e)) }
            }
            results.append(Double(rf_now_ns() - start) / Double(rounds * batch))
        }
        return .success(results)
    }

    private static func round(_ ring: UnsafeMutablePointer<io_uring>, opcode: UInt32, batch: Int) -> String? {
        for _ in 0..<batch {
            guard let sqe = io_uring_get_sqe(ring) else { return "SQ ring full" }
            if opcode == Opcode.socket {
                io_uring_prep_rw(Int32(opcode), sqe, 1, nil, 0, 2)   // AF_UNIX, SOCK_DGRAM: cheap, has a filter context
            } else {
                io_uring_prep_rw(Int32(opcode), sqe, -1, nil, 0, 0)
            }
        }
        let submitted = io_uring_submit_and_wait(ring, UInt32(batch))
        if submitted != Int32(batch) { return "submitted \(Errno.describe(result: submitted)) of \(batch)" }
        var head: UInt32 = 0
        var seen: UInt32 = 0
        var cqe: UnsafeMutablePointer<io_uring_cqe>?
        // io_uring_for_each_cqe, spelled out: it is a macro.
        head = ring.pointee.cq.khead.pointee
        while seen < UInt32(batch) {
            let tail = ring.pointee.cq.ktail.pointee
            if head == tail { break }
            cqe = ring.pointee.cq.cqes + Int(head & ring.pointee.cq.ring_mask)
            if let c = cqe, c.pointee.res < 0 { return "request failed: \(Errno.describe(result: c.pointee.res))" }
            if opcode == Opcode.socket, let c = cqe { close(c.pointee.res) }
            head &+= 1
            seen += 1
        }
        io_uring_cq_advance(ring, seen)
        return seen == UInt32(batch) ? nil : "got \(seen) of \(batch) CQEs"
    }
}

struct BenchError: Error { let text: String }
