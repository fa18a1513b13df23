import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process of the host runner: its own process group, output to
/// files, polled so that a signal or a deadline can stop it at any time.
public final class HostProcess {
    public let pid: pid_t
    public let argv: [String]
    public private(set) var status: Int32?

    /// Starts `argv` (argv[0] searched in PATH).
    public init(_ argv: [String], stdout: String? = nil, stderr: String? = nil) throws {
        self.argv = argv
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        let pid = cargs.withUnsafeBufferPointer { buf in
            rf_spawn(buf.baseAddress!, stdout, stderr)
        }
        if pid < 0 {
            throw HostError("cannot run \(argv[0]): \(String(cString: strerror(-pid)))")
        }
        self.pid = pid
        HostProcess.live.insert(pid)
    }

    /// Children still running, stopped by `killAll` on the way out.
    nonisolated(unsafe) static var live: Set<pid_t> = []

    /// Kills every child process group this process started and has not reaped.
    public static func killAll() {
        for pid in live {
            rf_kill_group(pid, SIGKILL)
            var st: Int32 = 0
            _ = rf_wait_blocking(pid, &st)
        }
        live.removeAll()
    }

    /// True once the process has exited (reaps it).
    public func poll() -> Bool {
        if status != nil { return true }
        var st: Int32 = 0
        let r = rf_try_wait(pid, &st)
        if r == pid || r < 0 {
            status = r == pid ? st : 0
            HostProcess.live.remove(pid)
            return true
        }
        return false
    }

    public func kill(_ signal: Int32 = SIGKILL) {
        guard status == nil else { return }
        rf_kill_group(pid, signal)
    }

    /// Kills and reaps.
    public func stop() {
        guard status == nil else { return }
        kill(SIGKILL)
        var st: Int32 = 0
        _ = rf_wait_blocking(pid, &st)
        status = st
        HostProcess.live.remove(pid)
    }

    /// Exit code (0–255), or 128 + signal when killed.
    public var exitCode: Int32? {
        guard let s = status else { return nil }
        if rf_wifexited(s) != 0 { return rf_wexitstatus(s) }
        return 128 + rf_wtermsig(s)
    }

    /// Waits for the process, checking for signals and an optional deadline
    /// (seconds). On a signal the process is killed and `HostError.interrupted`
    /// thrown; on the deadline it is killed and nil returned.
    @discardableResult
    public func wait(phase: String, timeout: Double? = nil) throws -> Int32? {
        let deadline = timeout.map { rf_now_ns() + UInt64($0 * 1e9) }
        var sleepUs: UInt32 = 1000
        while !poll() {
            if let s = Signals.caught {
                stop()
                throw HostError.interrupted(s, during: phase)
            }
            if let d = deadline, rf_now_ns() >= d {
                stop()
                return nil
            }
            usleep(sleepUs)
            sleepUs = min(sleepUs * 2, 20_000)
        }
        return exitCode
    }

    /// Runs a command to completion; output captured into a temporary file
    /// and returned. Throws on a signal; a non-zero exit is returned, not thrown.
    public static func run(_ argv: [String], phase: String, timeout: Double? = nil) throws -> (code: Int32?, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ringfence-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log").path
        defer { unlink(log) }
        let p = try HostProcess(argv, stdout: log, stderr: log)
        let code = try p.wait(phase: phase, timeout: timeout)
        let out = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (code, out)
    }

    /// Runs a command that must succeed; returns its output.
    public static func check(_ argv: [String], phase: String, timeout: Double? = nil) throws -> String {
        let (code, out) = try run(argv, phase: phase, timeout: timeout)
        guard let c = code else { throw HostError("\(argv[0]) took longer than \(Int(timeout ?? 0)) s while \(phase)") }
        guard c == 0 else {
            let tail = indentedTail(out, lines: 8)
            throw HostError("\(argv.joined(separator: " ")) failed (exit \(c)) while \(phase)" + (tail.isEmpty ? "" : ":\n" + tail))
        }
        return out
    }

    /// The last `lines` lines of `text`, each indented by two spaces (the end
    /// of a failed command's output in an error message).
    public static func indentedTail(_ text: String, lines: Int) -> String {
        text.split(separator: "\n").suffix(lines).map { "  " + $0 }.joined(separator: "\n")
    }

    /// `indentedTail` of a log file (empty when it cannot be read).
    public static func logTail(_ path: String, lines: Int) -> String {
        indentedTail((try? String(contentsOfFile: path, encoding: .utf8)) ?? "", lines: lines)
    }

    /// Whether `name` is an executable in PATH.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let p = "\(dir)/\(name)"
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }
}
