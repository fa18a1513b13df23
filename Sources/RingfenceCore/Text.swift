#if canImport(Glibc)
import Glibc
#endif

// The few Foundation string helpers RingfenceCore used, rebuilt on the
// standard library: FoundationEssentials (all the guest binary links) has
// no String(format:), trimmingCharacters or replacingOccurrences. Internal,
// so they never meet Foundation's in the host module.

enum TrimSet {
    /// Spaces and tabs.
    case whitespaces
    /// Spaces, tabs, newlines and carriage returns.
    case whitespacesAndNewlines

    func contains(_ c: Character) -> Bool {
        switch self {
        case .whitespaces: return c == " " || c == "\t"
        case .whitespacesAndNewlines: return c.isWhitespace
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: TrimSet) -> String {
        guard let first = firstIndex(where: { !set.contains($0) }) else { return "" }
        let last = lastIndex(where: { !set.contains($0) })!
        return String(self[first...last])
    }

    func trimmingBlanks() -> String { trimmingCharacters(in: .whitespaces) }

    func replacingOccurrences(of target: String, with replacement: String) -> String {
        String(self).replacing(target, with: replacement)
    }

    func range(of target: String) -> Range<Index>? {
        firstRange(of: target)
    }
}

extension String {
    /// printf-style formatting of numbers; see `cFormat`.
    init(format: String, _ arguments: CVarArg...) {
        self = cFormat(format, arguments: arguments)
    }
}

/// printf-style formatting of numbers (%d, %x, %f, %%, widths and
/// precisions) through vsnprintf, for code without Foundation's
/// String(format:). Strings cannot be arguments (Swift's String is not a C
/// vararg without Foundation): interpolate them instead.
public func cFormat(_ format: String, _ arguments: CVarArg...) -> String {
    cFormat(format, arguments: arguments)
}

public func cFormat(_ format: String, arguments: [CVarArg]) -> String {
    withVaList(arguments) { va in
        var buffer = [CChar](repeating: 0, count: 512)
        let n = Int(vsnprintf(&buffer, buffer.count, format, va))
        if n < buffer.count { return String(cString: buffer) }
        return withVaList(arguments) { va2 in
            var big = [CChar](repeating: 0, count: n + 1)
            _ = vsnprintf(&big, big.count, format, va2)
            return String(cString: big)
        }
    }
}

/// UTC time as ISO 8601 with seconds (`2026-12-03T23:22:00Z`), as
/// ISO8601DateFormatter wrote it.
public func iso8601(secondsSince1970 t: Double) -> String {
    var time = time_t(t.rounded(.down))
    var tm = tm()
    gmtime_r(&time, &tm)
    return cFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                   Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
}

/// All of standard input.
public func readStandardInput() -> [UInt8] { readAll(stdin) }

/// Everything left in a stdio stream (a file, a pipe from popen, stdin).
func readAll(_ f: UnsafeMutablePointer<FILE>) -> [UInt8] {
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        bytes.append(contentsOf: buf[0..<n])
    }
    return bytes
}

/// Path helpers for what NSString did.
public enum PathText {
    public static func join(_ dir: String, _ name: String) -> String {
        dir.isEmpty ? name : dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }
    public static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
