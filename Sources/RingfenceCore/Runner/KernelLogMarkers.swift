#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Case start and end markers in the kernel's own log, so that a WARN, BUG or
/// Oops on the console is attributed from the kernel's timeline even when
/// several cases run at once:
///
///     <4>ringfence: begin <N> <case id>     before the case's child is forked
///     <4>ringfence: end <N>                 after the child is reaped
///
/// The end marker carries no id: N already names the case, and every byte a
/// marker puts on the serial console costs about 3 µs under TCG (a marker
/// with an id costs 270 µs, one without 100 µs). Older guests wrote the id
/// there too; readers accept both.
/// N is the case's 1-based number in the run's plan (the order of `ringfence
/// list`, after --filter), not its number inside its KTAP suite. Level 4
/// (KERN_WARNING) reaches the console with the guest's `loglevel=5` (messages
/// below the console log level are printed). Each marker opens /dev/kmsg anew:
/// the kernel rate-limits writes per open file (10 per 5 s unless
/// printk.devkmsg=on), and a fresh open starts a fresh budget.
public struct KernelLogMarkers: Sendable {
    public static let devicePath = "/dev/kmsg"
    /// KERN_WARNING.
    public static let level = 4
    public let path: String

    public init(path: String = KernelLogMarkers.devicePath) { self.path = path }

    /// True when the marker device can be written (root in the VM guest).
    public static func available(path: String = KernelLogMarkers.devicePath) -> Bool {
        access(path, W_OK) == 0
    }

    public static func begin(_ number: Int, _ id: String) -> String { "ringfence: begin \(number) \(id)" }
    public static func end(_ number: Int) -> String { "ringfence: end \(number)" }

    /// Writes one record at `level`; failures are ignored (markers are an aid, not a verdict).
    public func write(_ message: String, level: Int = KernelLogMarkers.level) {
        let fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_APPEND)
        guard fd >= 0 else { return }
        let record = "<\(level)>\(message)\n"
        _ = record.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }
}

/// Reading the kernel log back: the slice between a case's markers (for a
/// case that tainted the kernel) and which cases were running when a kernel
/// splat was logged (for the host's console verdict).
public enum KernelLog {
    /// The messages of /dev/kmsg-format records ("pri,seq,usec,flags;text"),
    /// or of plain lines (a console log: "[   12.345678] text", "<4>text" or "text").
    /// Continuation lines (" KEY=value") are dropped.
    public static func messages(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).compactMap { raw -> String? in
            if raw.hasPrefix(" ") { return nil }
            var line = Substring(raw)
            if let semi = line.firstIndex(of: ";"),
               line[..<semi].split(separator: ",").count >= 3,
               line[..<semi].allSatisfy({ $0.isNumber || $0 == "," || $0 == "-" || $0.isLetter }) {
                line = line[line.index(after: semi)...]
            } else if line.hasPrefix("["), let close = line.firstIndex(of: "]") {
                line = line[line.index(after: close)...].drop { $0 == " " }
            } else if line.hasPrefix("<"), let close = line.firstIndex(of: ">"), line[line.index(after: line.startIndex)..<close].allSatisfy(\.isNumber) {
                line = line[line.index(after: close)...]   // what a marker write looks like before the kernel parses it
            }
            return String(line)
        }
    }

    /// Everything the kernel log holds now (/dev/kmsg read without blocking), or nil.
    public static func read(path: String = KernelLogMarkers.devicePath) -> String? {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 8192)   // /dev/kmsg returns one record per read
        while out.count < 4 << 20 {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n > 0 { out += buf[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EPIPE { continue }   // records overwritten while reading: go on
            break
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The messages logged between `ringfence: begin N id` and `ringfence: end N` (or, from older guests, `end N id`)
    /// (the last such pair), markers excluded; at most `limit`, the last ones kept.
    public static func slice(_ messages: [String], number: Int, id: String, limit: Int = 40) -> [String] {
        let begin = KernelLogMarkers.begin(number, id), end = KernelLogMarkers.end(number)
        guard let b = messages.lastIndex(of: begin) else { return [] }
        let after = messages[(b + 1)...]
        let e = after.firstIndex { $0 == end || $0 == end + " " + id } ?? messages.endIndex
        return Array(messages[(b + 1)..<e].suffix(limit))
    }
}
