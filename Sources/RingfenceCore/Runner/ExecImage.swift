import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// The guest binary re-executed by an `exec:` or `spawn:` step (LiveKernel.runInNewImage):
///
///     /proc/self/exe --ringfence-exec-image MEMFD RESULT_FD OPCODE_LAST CQE_TIMEOUT_MS [NAME=FD=PARAMS_HEX]...
///
/// MEMFD holds the nested steps as the host compiled them (CompiledCases.encodeSteps:
/// decoded, not parsed); each kept
/// ring is mapped again with the io_uring_params its creator got. The report goes
/// to RESULT_FD as one PipeFrame (the pipe the parent reads, as for fork:), the
/// verdict is the exit status (0 held, 1 did not).
public enum ExecImage {
    /// Runs and exits when `arguments` (without argv[0]) ask for an exec'd image; returns otherwise.
    public static func runIfRequested(_ arguments: [String]) {
        guard arguments.first == LiveKernel.execImageFlag else { return }
        let args = Array(arguments.dropFirst())
        guard args.count >= 4, let memfd = Int32(args[0]), let resultFD = Int32(args[1]),
              let opcodeLast = UInt32(args[2]), let timeout = Int(args[3]) else {
            fputs("ringfence: \(LiveKernel.execImageFlag): bad arguments\n", stderr)
            exit(2)
        }
        let (ok, diagnostics) = run(memfd: memfd, rings: Array(args.dropFirst(4)), opcodeLast: opcodeLast, timeout: timeout)
        PipeFrame.write(ChildReport(ok: ok, diagnostics: diagnostics), to: resultFD)
        exit(ok ? 0 : 1)
    }

    static func run(memfd: Int32, rings: [String], opcodeLast: UInt32, timeout: Int) -> (Bool, [String]) {
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { pread(memfd, $0.baseAddress, $0.count, off_t(bytes.count)) }
            if n > 0 { bytes += buf[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        close(memfd)
        let steps: [Step]
        do {
            steps = try CompiledCases.decodeSteps(bytes)
            guard !steps.isEmpty else { return (false, ["exec'd image: no steps in the memfd"]) }
        } catch {
            return (false, ["exec'd image: the steps do not load: \(error)"])
        }
        let live = LiveKernel()
        var named: [String: Int32] = [:]
        for spec in rings {
            let parts = spec.split(separator: "=", maxSplits: 2).map(String.init)
            guard parts.count == 3, let fd = Int32(parts[1]), let params = LiveKernel.decodeParams(hex(parts[2])) else {
                return (false, ["exec'd image: bad kept ring '\(spec)'"])
            }
            let r = live.adoptRing(fd: fd, params: params)
            if r < 0 { return (false, ["exec'd image: kept ring '\(parts[0])' (fd \(fd)) cannot be mapped: \(Errno.describe(result: r))"]) }
            named[parts[0]] = fd
        }
        let executor = Executor(backend: live, opcodeLast: opcodeLast, cqeTimeoutMs: timeout)
        executor.rings = named
        let o = executor.run(steps)
        return (o.passed, o.diagnostics)
    }

    static func hex(_ s: String) -> [UInt8] {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return [] }
        return stride(from: 0, to: u.count, by: 2).compactMap { UInt8(String(decoding: u[$0..<$0 + 2], as: UTF8.self), radix: 16) }
    }
}
