import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import CRingfence
import RingfenceCore

/// `ringfence selftest-costs`: what the primitives a case is made of cost
/// on this kernel and machine (under TCG everything is 10–30× native), so
/// speed work starts from numbers: `./run-in-vm.sh -- selftest-costs`.
/// Hidden from --help: a tool for working on ringfence itself.
public struct SelftestCostsCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "selftest-costs",
        abstract: "Time the primitives cases are made of (fork, ring set-up, registration, kmsg, taint).",
        shouldDisplay: false)

    @Option(parsing: .unconditional, help: "Repetitions of each primitive.")
    var count = 100

    public func validate() throws {
        guard count > 0 && count <= 100_000 else { throw ValidationError("--count must be in 1...100000") }
    }

    public func run() throws {
        print("# ringfence selftest-costs: microseconds per operation, mean of \(count)")
        processCosts()
        ringCosts()
        logAndStateCosts()
    }

    private static func faults(_ who: __rusage_who) -> Int {
        var u = rusage()
        getrusage(__rusage_who_t(who.rawValue), &u)
        return Int(u.ru_minflt)
    }

    /// Runs `body` `n` times (default --count) and prints its mean time and page faults.
    private func time(_ name: String, _ n: Int? = nil, _ body: () -> Void) {
        let n = n ?? count
        let (p0, c0) = (Self.faults(RUSAGE_SELF), Self.faults(RUSAGE_CHILDREN))
        let t0 = rf_now_ns()
        for _ in 0..<n { body() }
        let us = Double(rf_now_ns() - t0) / 1000 / Double(n)
        let pf = Double(Self.faults(RUSAGE_SELF) - p0) / Double(n), cf = Double(Self.faults(RUSAGE_CHILDREN) - c0) / Double(n)
        print("# cost \(name): " + cFormat("%.1f", us) + " us, page faults " + cFormat("%.1f", pf) + " here + " + cFormat("%.1f", cf) + " in children")
        fflush(stdout)
    }

    /// A syscall, fork and a LiveKernel child: what isolating a case costs.
    private func processCosts() {
        time("getppid (a bare syscall)") { _ = getppid() }
        time("fork + exit + wait", max(count / 4, 1)) {
            let pid = fork()
            if pid == 0 { _exit(0) }
            var st: Int32 = 0
            _ = waitpid(pid, &st, 0)
        }
        time("fork + child allocates 64 KiB + exit + wait", max(count / 4, 1)) {
            let pid = fork()
            if pid == 0 {
                let a = [UInt8](repeating: 1, count: 65536)
                _exit(Int32(a[100]) - 1)
            }
            var st: Int32 = 0
            _ = waitpid(pid, &st, 0)
        }
        time("LiveKernel fresh child (fork, pipe, exit, wait)", max(count / 4, 1)) {
            _ = LiveKernel().runInChild { _ in (true, []) }
        }
    }

    /// Rings, filter registration and a NOP: what a case's steps cost.
    private func ringCosts() {
        time("io_uring set-up + close (8 entries)") {
            let k = LiveKernel()
            let fd = k.setupRing(entries: 8, flags: 0)
            if fd >= 0 { k.closeRing(fd) }
        }
        var reg = FilterRegistration()
        reg.program = (try? Assembler.assemble("ret #1")) ?? []
        time("set-up + register one filter + close") {
            let k = LiveKernel()
            let fd = k.setupRing(entries: 8, flags: 0)
            if fd >= 0 { _ = k.register(reg.registerCall(fd: fd, opcode: 0)); k.closeRing(fd) }
        }
        var nop = SQESpec()
        nop.userData = 1
        time("set-up + register + NOP submit/complete + close") {
            let k = LiveKernel()
            let fd = k.setupRing(entries: 8, flags: 0)
            if fd >= 0 {
                _ = k.register(reg.registerCall(fd: fd, opcode: 0))
                _ = k.submit(ring: fd, sqes: [nop], expecting: 1, timeoutMs: 1000)
                k.closeRing(fd)
            }
        }
        time("assemble 'ld #0x5; ret #1'") { _ = try? Assembler.assemble("ld #0x5; ret #1") }
        time("registerCall (argument bytes, no syscall)") { _ = reg.registerCall(fd: 3, opcode: 0) }
        let k = LiveKernel()
        let fd = k.setupRing(entries: 8, flags: 0)
        let call = reg.registerCall(fd: fd, opcode: 0)
        time("LiveKernel.register on an open ring (call prebuilt)") { _ = k.register(call) }
        time("raw io_uring_register on an open ring") {
            _ = rf_io_uring_register(fd, 99, nil, 0)
        }
        k.closeRing(fd)
    }

    /// Kernel log markers, the console, the taint and worker checks: what a case's bookkeeping costs.
    private func logAndStateCosts() {
        let markers = KernelLogMarkers()
        time("kmsg marker (begin or end line)") { markers.write(KernelLogMarkers.begin(1, "costs:a-case-id-of-typical-length-for-the-console")) }
        time("kmsg marker, short (number only)") { markers.write("ringfence: begin 1") }
        time("kmsg record below the console log level (<6>, not printed)") {
            markers.write(KernelLogMarkers.begin(1, "costs:a-case-id-of-typical-length-for-the-console"), level: 6)
        }
        time("a 60-byte line on stdout (the console)") {
            print("#   ok 1 costs: a case name of a typical length for the console")
            fflush(stdout)
        }
        time("taint read") { _ = KernelTaint.read() }
        time("worker clean check (WorkerState.current)") { _ = WorkerState.current() }
    }
}
