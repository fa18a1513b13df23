#if canImport(Glibc)
import Glibc
#endif

/// After the suite on a kernel with kmemleak (`ringfence vm --build
/// --debug`): scan, and report every unreferenced object whose allocation
/// backtrace passes through io_uring (Documentation/dev-tools/kmemleak.rst).
/// kmemleak reports an object only when it is older than 5 s and its checksum
/// did not change between two scans, hence the wait and the second scan.
/// Each leak names the case that was running when the object was allocated
/// where that can be told (`Timeline`): kmemleak gives the allocation's
/// jiffies, /proc/timer_list the jiffies and the monotonic time now (and, read
/// twice, HZ), /dev/kmsg the times of the `ringfence: begin/end N` markers.
/// Console lines, read by the host's ConsoleVerdict:
///   # ringfence: kmemleak: leak: unreferenced object 0x… (size N) from FUNCTION[, allocated during case N ID]
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
        return report(GuestInit.readFile(path) ?? "", timeline: Timeline.now())
    }

    /// The console lines for a kmemleak report (also used on recorded reports).
    public static func report(_ text: String, timeline: Timeline? = nil) -> [String] {
        var lines: [String] = []
        var total = 0, ours = 0
        for record in records(text) {
            total += 1
            guard let frame = record.backtrace.first(where: isIoUring) else { continue }
            ours += 1
            let when = record.jiffies.flatMap { timeline?.describe(jiffies: $0) }.map { ", " + $0 } ?? ""
            lines.append(prefix + "leak: \(record.header) from \(frame)\(when)")
            for b in record.backtrace.prefix(12) { lines.append(prefix + "  " + b) }
        }
        lines.append(prefix + "\(total) unreferenced object(s), \(ours) through io_uring")
        return lines
    }

    struct Record { var header: String; var backtrace: [String]; var jiffies: UInt64? = nil }

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
            } else if line.hasPrefix("comm "), let r = line.range(of: "jiffies ") {
                current?.jiffies = UInt64(line[r.upperBound...].prefix { $0.isNumber })
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

    /// When things happened, to name the case that allocated a leaked object.
    public struct Timeline {
        /// /proc/timer_list: jiffies, and the monotonic time in ns, now.
        public var jiffiesNow: UInt64, nowNs: UInt64
        public var hz: UInt64
        /// The cases' begin/end markers: number, id, begin and end in µs (kmsg time).
        public var cases: [(number: Int, id: String, beginUs: UInt64, endUs: UInt64?)]


        /// "allocated during case N ID" / "allocated between cases" / "allocated before the first case
        /// the kernel log still holds"; nil when the time cannot be told.
        public func describe(jiffies: UInt64) -> String? {
            guard jiffies <= jiffiesNow, hz > 0 else { return nil }
            let agoUs = (jiffiesNow - jiffies) * 1_000_000 / hz
            guard agoUs <= nowNs / 1000 else { return nil }
            let t = nowNs / 1000 - agoUs
            let tick = 1_000_000 / hz   // jiffies are this coarse
            let at = GuestInit.formatSeconds(Double(t) / 1e6)
            if let c = cases.last(where: { $0.beginUs <= t + tick && t <= ($0.endUs ?? UInt64.max) + tick }) {
                return "allocated at about \(at) s, during case \(c.number) \(c.id)"
            }
            guard let first = cases.first, t >= first.beginUs else { return "allocated at about \(at) s, before the first case the kernel log still holds" }
            return "allocated at about \(at) s, between cases"
        }

        /// Parses /proc/timer_list ("now at N nsecs" and the first "jiffies: N").
        static func timerList(_ text: String) -> (jiffies: UInt64, ns: UInt64)? {
            var ns: UInt64?, j: UInt64?
            for raw in text.split(separator: "\n") {
                let line = raw.trimmingBlanks()
                if ns == nil, line.hasPrefix("now at "), let v = UInt64(line.dropFirst(7).prefix { $0.isNumber }) { ns = v }
                if j == nil, line.hasPrefix("jiffies: "), let v = UInt64(line.dropFirst(9).prefix { $0.isNumber }) { j = v }
                if let ns, let j { return (j, ns) }
            }
            return nil
        }

        /// HZ from two readings: the nearest of the values Kconfig offers.
        static func hz(_ a: (jiffies: UInt64, ns: UInt64), _ b: (jiffies: UInt64, ns: UInt64)) -> UInt64? {
            guard b.ns > a.ns, b.jiffies >= a.jiffies else { return nil }
            let rate = Double(b.jiffies - a.jiffies) / (Double(b.ns - a.ns) / 1e9)
            return [100, 250, 300, 1000].min { abs(Double($0) - rate) < abs(Double($1) - rate) }
        }

        /// The markers' times from /dev/kmsg records ("pri,seq,usec,flags;text").
        static func cases(kmsg: String) -> [(number: Int, id: String, beginUs: UInt64, endUs: UInt64?)] {
            var out: [(number: Int, id: String, beginUs: UInt64, endUs: UInt64?)] = []
            var open: [Int: Int] = [:]
            for raw in kmsg.split(separator: "\n") where !raw.hasPrefix(" ") {
                guard let semi = raw.firstIndex(of: ";") else { continue }
                let head = raw[..<semi].split(separator: ",")
                guard head.count >= 3, let us = UInt64(head[2]) else { continue }
                let words = raw[raw.index(after: semi)...].split(separator: " ", maxSplits: 3)
                guard words.count >= 3, words[0] == "ringfence:", let n = Int(words[2]) else { continue }
                if words[1] == "begin" {
                    open[n] = out.count
                    out.append((n, words.count > 3 ? String(words[3]) : "", us, nil))
                } else if words[1] == "end", let i = open.removeValue(forKey: n) {
                    out[i].endUs = us
                }
            }
            return out
        }

        /// Read now, in the guest: timer_list twice 0.2 s apart (HZ), and the kernel log.
        static func now() -> Timeline? {
            guard let a = GuestInit.readFile("/proc/timer_list").flatMap(timerList) else { return nil }
            usleep(200_000)
            guard let b = GuestInit.readFile("/proc/timer_list").flatMap(timerList), let hz = hz(a, b) else { return nil }
            return Timeline(jiffiesNow: b.jiffies, nowNs: b.ns, hz: hz, cases: cases(kmsg: KernelLog.read() ?? ""))
        }
    }
}
