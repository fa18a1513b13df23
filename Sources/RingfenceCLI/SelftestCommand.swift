import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import CRingfence
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RingfenceCore

/// `ringfence selftest-fault KIND`: faults the host runner must survive,
/// provoked for real inside the guest (ci/faults.sh boots each one). Hidden
/// from --help: it is a test of the harness, not of the kernel.
public struct SelftestFaultCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "selftest-fault",
        abstract: "Provoke a fault in the guest for the host runner's own tests (ci/faults.sh).",
        shouldDisplay: false)

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        /// Two cases; while case 1 runs a WARNING line enters the kernel log
        /// through /dev/kmsg (the host cannot tell it from printk's), then both
        /// report ok and results.json says pass: the host must fail case 1.
        case warnInCase = "warn-in-case"
        /// Cases 1 and 2 run at once (both begin markers before either end)
        /// when the WARNING line arrives: both fail, each naming the other.
        case warnOverlap = "warn-overlap"
        /// The WARNING arrives after case 1 ended and before case 2 began, as
        /// deferred teardown work (io_ring_exit_work) would print it.
        case warnAfterCase = "warn-after-case"
        /// A real WARN_ON() while case 1 of 2 runs: LKDTM's WARNING crash point
        /// (`CONFIG_LKDTM`, in ci/ringfence.config), so the host judges the
        /// kernel's own splat and taint, not a line written to /dev/kmsg.
        case warnLKDTM = "warn-lkdtm"
        /// A real kernel panic (sysrq-trigger 'c') during case 2 of 3.
        case panicInCase = "panic-in-case"
        /// ringfence itself traps (a Swift runtime error) in the guest.
        case crash
        /// The guest never finishes.
        case hang
    }

    @Argument(help: "warn-in-case, warn-overlap, warn-after-case, warn-lkdtm, panic-in-case, crash or hang.")
    var kind: Kind

    public func run() throws {
        let names = ["first case", "second case", "third case"]
        switch kind {
        case .crash:
            let values: [Int] = []
            print("about to index an empty array")
            fflush(stdout)
            _ = values[Int(rf_now_ns() % 2) + 1]
        case .hang:
            print("KTAP version 1\n1..1")
            fflush(stdout)
            while true { sleep(60) }
        case .warnOverlap, .warnAfterCase:
            print("KTAP version 1\n1..2")
            fflush(stdout)
            if kind == .warnOverlap {
                kmsg("ringfence: begin 1 selftest/fault-1")
                kmsg("ringfence: begin 2 selftest/fault-2")
                warn()
                kmsg(KernelLogMarkers.end(1))
                kmsg(KernelLogMarkers.end(2))
            } else {
                kmsg("ringfence: begin 1 selftest/fault-1")
                kmsg(KernelLogMarkers.end(1))
                warn()
                kmsg("ringfence: begin 2 selftest/fault-2")
                kmsg(KernelLogMarkers.end(2))
            }
            print("ok 1 selftest/fault: first case\nok 2 selftest/fault: second case")
            try writeResults(names: names, count: 2)
        case .warnInCase, .warnLKDTM, .panicInCase:
            if kind == .warnLKDTM && access(Self.lkdtmDirect, W_OK) != 0 {
                // A usage error (exit 2), before any KTAP: this kernel cannot provoke it.
                fputs("ringfence: selftest-fault warn-lkdtm: no \(Self.lkdtmDirect): boot a kernel with CONFIG_LKDTM=y and CONFIG_DEBUG_FS=y (ci/ringfence.config has both)\n", stderr)
                throw ExitCode(2)
            }
            let count = kind == .panicInCase ? 3 : 2
            print("KTAP version 1\n1..\(count)")
            fflush(stdout)
            var results: [CaseResult] = []
            for i in 1...count {
                kmsg("ringfence: begin \(i) selftest/fault-\(i)")
                if i == 1 && kind == .warnInCase { warn() }
                if i == 1 && kind == .warnLKDTM { poke(Self.lkdtmDirect, "WARNING") }
                if i == 2 && kind == .panicInCase { poke("/proc/sysrq-trigger", "c") }
                kmsg(KernelLogMarkers.end(i))
                print("ok \(i) selftest/fault: \(names[i - 1])")
                fflush(stdout)
                results.append(CaseResult(id: "selftest/fault-\(i)", name: names[i - 1], file: "selftest/fault.yaml", line: i, status: .pass))
            }
            let facts = KernelProbe.probe()
            let report = RunReport(kernel: facts, accelerator: nil, startedAt: "", durationMs: 1, cases: results)
            if rf_is_pid1 != 0 { try? report.json(pretty: false).write(toFile: GuestResults.path, atomically: true, encoding: .utf8) }
            print("# Totals: pass:\(count) fail:0 xfail:0 xpass:0 skip:0 error:0")
        }
    }

    static let lkdtmDirect = "/sys/kernel/debug/provoke-crash/DIRECT"

    /// Writes `text` to a kernel control file (LKDTM's DIRECT, sysrq-trigger).
    func poke(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    func warn() {
        kmsg("WARNING: CPU: 0 PID: \(getpid()) at selftest/fault.c:1 ringfence_selftest_warn+0x0/0x10")
        kmsg("Call Trace:")
        kmsg("---[ end trace 0000000000000000 ]---")
    }

    func writeResults(names: [String], count: Int) throws {
        let results = (1...count).map {
            CaseResult(id: "selftest/fault-\($0)", name: names[$0 - 1], file: "selftest/fault.yaml", line: $0, status: .pass)
        }
        let report = RunReport(kernel: KernelProbe.probe(), accelerator: nil, startedAt: "", durationMs: 1, cases: results)
        if rf_is_pid1 != 0 { try? report.json(pretty: false).write(toFile: GuestResults.path, atomically: true, encoding: .utf8) }
        print("# Totals: pass:\(count) fail:0 xfail:0 xpass:0 skip:0 error:0")
    }

    func kmsg(_ line: String) {
        let fd = open("/dev/kmsg", O_WRONLY)
        guard fd >= 0 else { return }
        let text = "<4>" + line + "\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
}
