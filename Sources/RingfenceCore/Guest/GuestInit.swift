import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// The VM guest's PID 1. The C constructor in CRingfence has mounted
/// /proc, /sys, /dev (devtmpfs) and /tmp before Swift started.
///
/// Console protocol (read back by ConsoleVerdict on the host):
///   # module NAME: loaded | already present | failed: REASON
///   # ringfence: init at <uptime> s
///   <the CLI's own output: KTAP version 1, plan, results, diagnostics>
///   # ringfence: suite took <seconds> s
///   # ringfence-exit: <CLI exit code>
/// then the machine powers off (QEMU exits because of -no-reboot / ACPI off).
public enum GuestInit {
    /// Used when the kernel command line carries no ringfence.args.
    public static let defaultArguments = ["run", "--announce", "--cases", "/cases"]

    /// Runs the CLI as the guest init and powers the machine off.
    /// `cli` runs ringfence with an argument list (no program name) and
    /// returns its exit code.
    public static func run(cli: ([String]) -> Int32) -> Never {
        attachConsoleIfNeeded()
        setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 0)
        setenv("HOME", "/", 0)
        setenv("TERM", "dumb", 0)
        let cmdline = readFile("/proc/cmdline") ?? ""
        mkdir(GuestResults.directory, 0o755)

        var code: Int32 = 2
        var args = defaultArguments
        do {
            if let decoded = try GuestCommandLine.decodeArguments(cmdline: cmdline) { args = decoded }
            for name in GuestCommandLine.modules(cmdline: cmdline) {
                say("# module \(name): \(loadModule(name))")
            }
            say("# ringfence: init at \(uptimeText()) s")
            let start = rf_now_ns()
            setenv("RINGFENCE_SUITE_T0_NS", String(start), 1)
            code = supervise { cli(args) }
            let took = Double(rf_now_ns() - start) / 1e9
            say("# ringfence: suite took \(formatSeconds(took)) s")
            if GuestCommandLine.gcov(cmdline: cmdline) { say(GcovCollector.collect()) }
            if GuestCommandLine.kmemleak(cmdline: cmdline) { KmemleakScan.run().forEach(say) }
            let t0 = rf_now_ns()
            var lines = 0, bytes = 0
            GuestResults.emitAll { line in
                lines += 1
                bytes += line.utf8.count + 1
                say(line)
            }
            say(PhaseTimes.line("results-transfer", rf_now_ns() - t0, "\(lines) console lines, \(bytes) bytes"))
        } catch {
            say("# ringfence: bad ringfence.args: \(error)")
            say("# ringfence: init at \(uptimeText()) s")
        }
        say("# ringfence-exit: \(code)")
        fflush(stdout)
        fflush(stderr)
        // The serial driver sends what we wrote asynchronously, while the
        // kernel's own "reboot: Power down" goes straight to the UART: wait
        // until our output is on the wire, or that line lands inside ours.
        tcdrain(1)
        tcdrain(2)
        rf_power_off()
        // reboot(2) returned: nothing else to do; PID 1 must not exit.
        while true { pause() }
    }

    /// Runs the CLI in a child process and waits for it, reaping every
    /// orphan on the way (PID 1's duty). A crash of the CLI (a Swift runtime
    /// trap, a signal) is reported as "# ringfence: crashed in the guest: …"
    /// and exit 2 instead of taking PID 1, and so the kernel, down with it.
    static func supervise(_ body: () -> Int32) -> Int32 {
        fflush(stdout)
        fflush(stderr)
        let pid = rf_fork()
        if pid < 0 { return body() }
        if pid == 0 {
            let code = body()
            fflush(stdout)
            fflush(stderr)
            _exit(code)
        }
        var status: Int32 = 0
        while true {
            var st: Int32 = 0
            let r = waitpid(-1, &st, 0)
            if r == pid { status = st; break }
            if r < 0 && errno != EINTR { return 2 }
        }
        if rf_wifexited(status) != 0 { return rf_wexitstatus(status) }
        let sig = rf_wtermsig(status)
        say("# ringfence: crashed in the guest: killed by \(signalName(sig)) (the ringfence CLI itself, not the kernel under test; see the lines before)")
        return 2
    }

    static func signalName(_ s: Int32) -> String {
        switch s {
        case SIGILL: return "SIGILL (a Swift runtime trap)"
        case SIGTRAP: return "SIGTRAP (a Swift runtime trap)"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGBUS: return "SIGBUS"
        case SIGKILL: return "SIGKILL"
        default: return "signal \(s)"
        }
    }

    static func loadModule(_ name: String) -> String {
        do {
            let loader = try sharedLoader()
            return try loader.load(name).description
        } catch {
            let reason = (error as? ModuleLoader.LoadError)?.reason ?? "\(error)"
            return "failed: \(reason)"
        }
    }

    private static var loader: ModuleLoader?
    static func sharedLoader() throws -> ModuleLoader {
        if let loader { return loader }
        let made = try ModuleLoader()
        loader = made
        return made
    }

    static func say(_ line: String) {
        print(line)
        fflush(stdout)
    }

    /// If the kernel found no /dev/console in the initramfs, PID 1 starts
    /// without stdin/stdout/stderr: open the console from devtmpfs instead.
    static func attachConsoleIfNeeded() {
        if fcntl(1, F_GETFD) >= 0 { return }
        let fd = open("/dev/console", O_RDWR | O_NOCTTY)
        guard fd >= 0 else { return }
        for target: Int32 in 0...2 where fd != target { dup2(fd, target) }
        if fd > 2 { close(fd) }
    }

    static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            bytes += buf[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func uptimeText() -> String {
        let text = readFile("/proc/uptime") ?? "?"
        return String(text.split(separator: " ").first ?? "?")
    }

    static func formatSeconds(_ s: Double) -> String {
        let ms = Int((s * 1000).rounded())
        let frac = String(ms % 1000)
        return "\(ms / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
    }
}
