#if canImport(Glibc)
import Glibc
#endif

/// After the suite on a kernel with kmemleak (`ringfence vm --build
/// --debug`): scan, and report every unreferenced object whose allocation
/// backtrace passes through io_uring (Documentation/dev-tools/kmemleak.rst).
/// kmemleak reports an object only when it is older than 5 s and its checksum
/// did not change between two scans, hence the wait and the second scan.
/// Console lines, read by the host's ConsoleVerdict:
///   # ringfence: kmemleak: leak: unreferenced object 0x… (size N) from FUNCTION
///   # ringfence: kmemleak:   <backtrace line>
///   # ringfence: kmemleak: N unreferenced object(s), M through io_uring
public enum KmemleakScan {
    public static let path = "/sys/kernel/debug/kmemleak"
    public static let prefix = "# ringfence: kmemleak: "

    public static func run(wait seconds: UInt32 = 6) -> [String] {
        guard access(path, W_OK) == 0 else { return [prefix + "not available (no \(path): a kernel without DEBUG_KMEMLEAK, or debugfs not mounted)"] }
        sleep(seconds)
        for _ in 0..<2 {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return [prefix + "cannot open \(path): \(Errno.name(errno))"] }
            let cmd = Array("scan".utf8)
            let n = write(fd, cmd, cmd.count)
            let e = errno
            close(fd)
            if n < 0 { return [prefix + "scan failed: \(Errno.name(e)) (kmemleak disabled itself? see dmesg)"] }
        }
        return report(GuestInit.readFile(path) ?? "")
    }

    /// The console lines for a kmemleak report (also used on recorded reports).
    public static func report(_ text: String) -> [String] {
        var lines: [String] = []
        var total = 0, ours = 0
        for record in records(text) {
            total += 1
            guard let frame = record.backtrace.first(where: isIoUring) else { continue }
            ours += 1
            lines.append(prefix + "leak: \(record.header) from \(frame)")
            for b in record.backtrace.prefix(12) { lines.append(prefix + "  " + b) }
        }
        lines.append(prefix + "\(total) unreferenced object(s), \(ours) through io_uring")
        return lines
    }

    struct Record { var header: String; var backtrace: [String] }

    static func records(_ text: String) -> [Record] {
        var out: [Record] = []
        var current: Record?
        var inTrace = false
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingBlanks()
            if line.hasPrefix("unreferenced object") {
                if let c = current { out.append(c) }
                current = Record(header: line.hasSuffix(":") ? String(line.dropLast()) : line, backtrace: [])
                inTrace = false
            } else if line.hasPrefix("backtrace") {
                inTrace = true
            } else if inTrace, line.hasPrefix("[<") || line.contains("+0x") {
                // "[<ffffffff81234567>] io_register_bpf_filter+0x12/0x340" (addresses may be hashed or absent)
                let fn = line.split(separator: "]").last.map { $0.trimmingBlanks() } ?? line
                current?.backtrace.append(fn)
            }
        }
        if let c = current { out.append(c) }
        return out
    }

    /// A frame of io_uring's own code (io_uring/*.c functions are io_* or
    /// __io_*; the cBPF program comes from bpf_prog_create_from_user).
    static func isIoUring(_ frame: String) -> Bool {
        frame.hasPrefix("io_") || frame.hasPrefix("__io_") || frame.contains("io_uring") || frame.hasPrefix("bpf_prog_create_from_user")
    }
}
