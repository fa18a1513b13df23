// How run-in-vm.sh hands the guest its work: two kernel command-line
// parameters, read back by GuestInit from /proc/cmdline.
//
//   ringfence.args=run,--announce,--cases,/cases
//   ringfence.modules=sctp,xt_bpf
//
// Encoding of ringfence.args: the argument list, each argument
// percent-encoded (RFC 3986 style, UTF-8 bytes; every byte outside
// [A-Za-z0-9] and "-._~/=:@+" becomes %XX, so spaces, commas, quotes and
// non-ASCII are all safe on the kernel command line), joined with ",".
//   - parameter absent           -> nil (GuestInit uses its default arguments)
//   - "ringfence.args" (no "=")  -> [] (an empty argument list)
//   - "ringfence.args="          -> [""] (one empty argument)
// ringfence.modules is a comma-separated list of module names (no encoding:
// module names are [A-Za-z0-9_-]).
// The kernel never hands these dotted parameters to init as arguments or
// environment, so /proc/cmdline is the one place to read them.

public enum GuestCommandLine {
    public static let argsKey = "ringfence.args"
    public static let modulesKey = "ringfence.modules"
    public static let gcovKey = "ringfence.gcov"
    /// `ringfence.kmemleak=1` (`--build --debug`): scan for leaks after the suite (KmemleakScan).
    public static let kmemleakKey = "ringfence.kmemleak"

    static let unreserved: Set<UInt8> = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/=:@+".utf8))

    public static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if unreserved.contains(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "%" + String(format2hex(b))
            }
        }
        return out
    }

    private static func format2hex(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }

    public struct DecodingError: Error, CustomStringConvertible, Equatable {
        public let message: String
        public var description: String { message }
    }

    public static func percentDecode(_ s: String) throws -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let hi = hexValue(it[it.startIndex]), let lo = hexValue(it[it.startIndex + 1]) else {
                    throw DecodingError(message: "bad percent escape in \(s)")
                }
                bytes.append(hi << 4 | lo)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw DecodingError(message: "argument is not UTF-8 after decoding: \(s)")
        }
        return decoded
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The `ringfence.args…` parameter for an argument list.
    public static func encodeArguments(_ args: [String]) -> String {
        if args.isEmpty { return argsKey }
        return argsKey + "=" + args.map(percentEncode).joined(separator: ",")
    }

    /// Splits a kernel command line into parameters the way the kernel does
    /// (whitespace-separated; double quotes group, and are removed).
    public static func parameters(_ cmdline: String) -> [String] {
        var params: [String] = []
        var current = ""
        var inQuotes = false
        var started = false
        for ch in cmdline {
            if ch == "\"" {
                inQuotes.toggle()
                started = true
            } else if !inQuotes && (ch == " " || ch == "\n" || ch == "\t") {
                if started { params.append(current) }
                current = ""
                started = false
            } else {
                current.append(ch)
                started = true
            }
        }
        if started { params.append(current) }
        return params
    }

    /// The decoded argument list from a kernel command line (last occurrence wins),
    /// or nil when the parameter is absent.
    public static func decodeArguments(cmdline: String) throws -> [String]? {
        var result: [String]?? = .none
        for p in parameters(cmdline) {
            if p == argsKey {
                result = .some([])
            } else if p.hasPrefix(argsKey + "=") {
                let value = String(p.dropFirst(argsKey.count + 1))
                result = .some(try value.split(separator: ",", omittingEmptySubsequences: false).map { try percentDecode(String($0)) })
            }
        }
        return result ?? nil
    }

    /// Module names from `ringfence.modules=a,b` (empty when absent).
    public static func modules(cmdline: String) -> [String] {
        var names: [String] = []
        for p in parameters(cmdline) where p.hasPrefix(modulesKey + "=") {
            names = p.dropFirst(modulesKey.count + 1).split(separator: ",").map(String.init).filter { !$0.isEmpty }
        }
        return names
    }

    /// `ringfence.gcov=1`: pack the kernel's gcov counters after the suite
    /// (GcovCollector). Any other value, or none, leaves them.
    public static func gcov(cmdline: String) -> Bool { flag(gcovKey, cmdline: cmdline) }

    public static func kmemleak(cmdline: String) -> Bool { flag(kmemleakKey, cmdline: cmdline) }

    /// `key=1` on the command line (the last occurrence wins).
    static func flag(_ key: String, cmdline: String) -> Bool {
        var on = false
        for p in parameters(cmdline) where p == key || p.hasPrefix(key + "=") {
            on = p == key + "=1"
        }
        return on
    }
}
