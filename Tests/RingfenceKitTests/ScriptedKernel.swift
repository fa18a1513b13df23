import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import RingfenceKit
@testable import RingfenceCore

/// A hand-scripted backend for runner and executor tests: registration
/// results come from a closure, NOP submissions complete with `nopResult`.
/// (The reference model in Model/ is the full simulated kernel.)
final class ScriptedKernel: KernelBackend {
    var registerResult: (RegisterCall) -> Int32 = { _ in 0 }
    var nopResult: Int32 = 0
    var calls: [RegisterCall] = []
    var hang = false
    /// Milliseconds each registration takes (to make parallel cases overlap).
    var registerDelayMs: UInt32 = 0
    /// Where the `taint:` step ORs its bits (a stand-in for /proc/sys/kernel/tainted,
    /// a file so that forked case processes share it).
    var taintFile: String?
    private var nextFD: Int32 = 100

    func setupRing(entries: UInt32, flags: UInt32) -> Int32 { nextFD += 1; return nextFD }
    func registerRingFD(_ ring: Int32) -> Int32 { 0 }
    func closeRing(_ ring: Int32) {}
    func register(_ call: RegisterCall) -> RegisterOutcome {
        if hang { while true { sleepForever() } }
        if registerDelayMs > 0 { usleep(registerDelayMs * 1000) }
        calls.append(call)
        return RegisterOutcome(ret: registerResult(call), argAfter: call.arg)
    }
    func submit(ring: Int32, sqes: [SQESpec], expecting: Int, timeoutMs: Int) -> SubmitOutcome {
        SubmitOutcome(submitted: Int32(sqes.count), cqes: sqes.map { CQE(userData: $0.userData, res: nopResult) })
    }
    func setNoNewPrivs() -> Int32 { 0 }
    func dropPrivileges() -> Int32 { 0 }
    func addTaint(_ mask: UInt64) -> Int32 {
        guard let taintFile else { return -95 }
        let now = KernelTaint.read(path: taintFile) ?? 0
        do { try "\(now | mask)\n".write(toFile: taintFile, atomically: true, encoding: .utf8) } catch { return -5 }
        return 0
    }
    func runInChild(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        body(self)
    }

    func runInThread(_ body: (KernelBackend) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        body(self)
    }
    func unshareUserNamespace() -> Int32 { 0 }
    func sendRingToParent(_ ring: Int32, tag: String, via: RingPassing) -> Int32 { -95 }
    func takeReceivedRings() -> [(tag: String, fd: Int32)] { [] }
    func runInNewImage(_ plan: ExecPlan,
                       prepare: (KernelBackend) -> (kept: [(name: String, fd: Int32)]?, diagnostics: [String]),
                       body: (KernelBackend, [String: Int32]) -> (ok: Bool, diagnostics: [String])) -> (ok: Bool, diagnostics: [String]) {
        guard let kept = prepare(self).kept else { return (false, ["prepare failed"]) }
        return body(self, Dictionary(kept.map { ($0.name, $0.fd) }, uniquingKeysWith: { a, _ in a }))
    }

    private func sleepForever() {
        var ts = timespec(tv_sec: 3600, tv_nsec: 0)
        nanosleep(&ts, nil)
    }
}

extension KernelFacts {
    static func fake(bpfFilter: Bool = true, root: Bool = true, contexts: [UInt32: UInt8] = [45: 12]) -> KernelFacts {
        KernelFacts(release: "7.3.4-test", version: "#1", bpfFilter: bpfFilter, opcodeLast: Opcode.lastKnown,
                    contextSizes: contexts, isRoot: root, loadedModules: ["loop"])
    }
}
