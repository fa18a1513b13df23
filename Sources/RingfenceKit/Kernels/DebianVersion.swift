/// Debian version ordering (dpkg's algorithm, deb-version(7)):
/// [epoch:]upstream[-revision], compared part by part; in each part
/// non-digit runs compare with letters before non-letters and "~" before
/// everything, even the end ("7.3~rc4" < "7.3"); digit runs compare as numbers.
public struct DebianVersion: Comparable, CustomStringConvertible, Hashable {
    public let epoch: Int
    public let upstream: String
    public let revision: String
    public let description: String

    public init(_ text: String) {
        description = text
        var rest = Substring(text)
        if let colon = rest.firstIndex(of: ":"), let e = Int(rest[..<colon]) {
            epoch = e
            rest = rest[rest.index(after: colon)...]
        } else {
            epoch = 0
        }
        if let dash = rest.lastIndex(of: "-") {
            upstream = String(rest[..<dash])
            revision = String(rest[rest.index(after: dash)...])
        } else {
            upstream = String(rest)
            revision = ""
        }
    }

    public static func < (a: DebianVersion, b: DebianVersion) -> Bool { compare(a, b) < 0 }
    public static func == (a: DebianVersion, b: DebianVersion) -> Bool { compare(a, b) == 0 }
    public func hash(into h: inout Hasher) { h.combine(epoch); h.combine(upstream); h.combine(revision) }

    public static func compare(_ a: DebianVersion, _ b: DebianVersion) -> Int {
        if a.epoch != b.epoch { return a.epoch < b.epoch ? -1 : 1 }
        let u = verrevcmp(a.upstream, b.upstream)
        if u != 0 { return u }
        return verrevcmp(a.revision, b.revision)
    }

    private static func order(_ c: UInt8?) -> Int {
        guard let c else { return 0 }
        if c >= 48 && c <= 57 { return 0 }
        if (c >= 65 && c <= 90) || (c >= 97 && c <= 122) { return Int(c) }
        if c == UInt8(ascii: "~") { return -1 }
        return Int(c) + 256
    }

    static func verrevcmp(_ x: String, _ y: String) -> Int {
        let a = Array(x.utf8), b = Array(y.utf8)
        var i = 0, j = 0
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        while i < a.count || j < b.count {
            var firstDiff = 0
            while (i < a.count && !isDigit(a[i])) || (j < b.count && !isDigit(b[j])) {
                let ac = order(i < a.count ? a[i] : nil), bc = order(j < b.count ? b[j] : nil)
                if ac != bc { return ac - bc }
                i += 1; j += 1
            }
            while i < a.count && a[i] == 48 { i += 1 }
            while j < b.count && b[j] == 48 { j += 1 }
            while i < a.count && isDigit(a[i]) && j < b.count && isDigit(b[j]) {
                if firstDiff == 0 { firstDiff = Int(a[i]) - Int(b[j]) }
                i += 1; j += 1
            }
            if i < a.count && isDigit(a[i]) { return 1 }
            if j < b.count && isDigit(b[j]) { return -1 }
            if firstDiff != 0 { return firstDiff }
        }
        return 0
    }
}
