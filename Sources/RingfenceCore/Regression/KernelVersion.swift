#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// An upstream kernel version read from a release string:
/// "7.3.4+deb13-cloud-amd64" → 7.3.4, "7.3.0-rc7+deb13-cloud-amd64" → 7.3-rc7.
/// Release candidates sort before the release (7.3-rc7 < 7.3 = 7.3.0).
public struct KernelVersion: Comparable, Sendable, Codable, CustomStringConvertible {
    public var numbers: [Int]
    /// nil for a release, N for -rcN.
    public var rc: Int?

    public init(numbers: [Int], rc: Int? = nil) {
        var n = numbers
        while n.count > 2 && n.last == 0 { n.removeLast() }   // 7.3.0 == 7.3
        self.numbers = n
        self.rc = rc
    }

    /// Parses the leading version of a release or version text; nil if there is none.
    public init?(_ text: String) {
        var numbers: [Int] = []
        var current = ""
        var rest = Substring(text)
        while let ch = rest.first, ch.isNumber || ch == "." {
            if ch == "." {
                guard let n = Int(current) else { break }
                numbers.append(n); current = ""
            } else {
                current.append(ch)
            }
            rest = rest.dropFirst()
        }
        if let n = Int(current) { numbers.append(n) }
        guard numbers.count >= 2 else { return nil }
        var rc: Int?
        for marker in ["-rc", "~rc"] where rest.hasPrefix(marker) {
            rc = Int(rest.dropFirst(3).prefix(while: \.isNumber))
        }
        self.init(numbers: numbers, rc: rc)
    }

    /// The running kernel's upstream version. Debian's release string drops
    /// the -rc ("7.3-cloud-amd64" for 7.3~rc7); its `uname -v` keeps it
    /// ("... Debian 7.3~rc7-1~exp1 ..."), so prefer that when present.
    public static func running(release: String, version: String) -> KernelVersion? {
        if let r = version.range(of: "Debian "), let v = KernelVersion(String(version[r.upperBound...])) { return v }
        return KernelVersion(release)
    }

    public var description: String {
        numbers.map(String.init).joined(separator: ".") + (rc.map { "-rc\($0)" } ?? "")
    }

    public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        let len = max(a.numbers.count, b.numbers.count)
        for i in 0..<len {
            let x = i < a.numbers.count ? a.numbers[i] : 0
            let y = i < b.numbers.count ? b.numbers[i] : 0
            if x != y { return x < y }
        }
        switch (a.rc, b.rc) {
        case (nil, nil): return false
        case (.some, nil): return true
        case (nil, .some): return false
        case (.some(let x), .some(let y)): return x < y
        }
    }

    public static func == (a: KernelVersion, b: KernelVersion) -> Bool { !(a < b) && !(b < a) }
}

/// "7.0 .. 7.3.1" (inclusive), "7.0 ..< 7.2" (upper bound excluded: every
/// 7.1.x, no 7.2 release candidate), "7.2.6", "7.3-rc1 ..", ".. 7.2.12".
public struct VersionRange: Sendable, Equatable, Codable, CustomStringConvertible {
    public var lower: KernelVersion?
    public var upper: KernelVersion?
    public var upperExcluded = false
    public let text: String

    public init?(_ text: String) {
        self.text = text
        upperExcluded = text.contains("..<")
        let parts = text.replacingOccurrences(of: "..<", with: "..").components(separatedBy: "..").map { $0.trimmingCharacters(in: .whitespaces) }
        switch parts.count {
        case 1:
            guard let v = KernelVersion(parts[0]) else { return nil }
            lower = v; upper = v
            upperExcluded = false
        case 2:
            lower = parts[0].isEmpty ? nil : KernelVersion(parts[0])
            upper = parts[1].isEmpty ? nil : KernelVersion(parts[1])
            if (!parts[0].isEmpty && lower == nil) || (!parts[1].isEmpty && upper == nil) || (lower == nil && upper == nil) { return nil }
            if upperExcluded && upper == nil { return nil }
        default:
            return nil
        }
    }

    public func contains(_ v: KernelVersion) -> Bool {
        if let lower, v < lower { return false }
        if let upper, upper < v || (upperExcluded && v == upper) { return false }
        return true
    }

    public var description: String { text }
}
