#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// /proc/sys/kernel/tainted, decoded with the kernel's table
/// (Documentation/admin-guide/tainted-kernels.rst, kernel/panic.c taint_flags).
public enum KernelTaint {
    public struct Flag: Sendable {
        public let bit: Int
        public let letter: Character
        public let meaning: String
    }

    /// Bit 0 prints G when clear and P when set; every other bit prints its letter when set.
    public static let flags: [Flag] = [
        Flag(bit: 0, letter: "P", meaning: "proprietary module was loaded"),
        Flag(bit: 1, letter: "F", meaning: "module was force loaded"),
        Flag(bit: 2, letter: "S", meaning: "kernel running on an out of specification system"),
        Flag(bit: 3, letter: "R", meaning: "module was force unloaded"),
        Flag(bit: 4, letter: "M", meaning: "processor reported a Machine Check Exception"),
        Flag(bit: 5, letter: "B", meaning: "bad page referenced or unexpected page flags"),
        Flag(bit: 6, letter: "U", meaning: "taint requested by userspace application"),
        Flag(bit: 7, letter: "D", meaning: "kernel died recently, i.e. there was an OOPS or BUG"),
        Flag(bit: 8, letter: "A", meaning: "ACPI table overridden by user"),
        Flag(bit: 9, letter: "W", meaning: "kernel issued warning"),
        Flag(bit: 10, letter: "C", meaning: "staging driver was loaded"),
        Flag(bit: 11, letter: "I", meaning: "workaround for bug in platform firmware applied"),
        Flag(bit: 12, letter: "O", meaning: "externally-built (out-of-tree) module was loaded"),
        Flag(bit: 13, letter: "E", meaning: "unsigned module was loaded"),
        Flag(bit: 14, letter: "L", meaning: "soft lockup occurred"),
        Flag(bit: 15, letter: "K", meaning: "kernel has been live patched"),
        Flag(bit: 16, letter: "X", meaning: "auxiliary taint, defined for and used by distros"),
        Flag(bit: 17, letter: "T", meaning: "kernel was built with the struct randomization plugin"),
        Flag(bit: 18, letter: "N", meaning: "an in-kernel test has been run"),
        Flag(bit: 19, letter: "J", meaning: "userspace used a mutating debug operation in fwctl"),
    ]

    public static let path = "/proc/sys/kernel/tainted"

    /// The set bits as letters in bit order, e.g. "DW"; unknown bits as "#<bit>".
    public static func letters(_ mask: UInt64) -> String {
        var out = ""
        for bit in 0..<64 where mask & (1 << UInt64(bit)) != 0 {
            if let f = flags.first(where: { $0.bit == bit }) { out.append(f.letter) } else { out += "#\(bit)" }
        }
        return out
    }

    /// "W (kernel issued warning), D (kernel died recently, …)" in bit order.
    public static func describe(_ mask: UInt64) -> String {
        var parts: [String] = []
        for bit in 0..<64 where mask & (1 << UInt64(bit)) != 0 {
            if let f = flags.first(where: { $0.bit == bit }) { parts.append("\(f.letter) (\(f.meaning))") } else { parts.append("bit \(bit) (unknown)") }
        }
        return parts.joined(separator: ", ")
    }

    /// The bit a letter names (U → 6), or nil.
    public static func bit(forLetter letter: Character) -> Int? {
        let up = Character(letter.uppercased())
        if up == "G" { return nil }
        return flags.first { $0.letter == up }?.bit
    }

    /// The current mask, or nil when the file cannot be read (no /proc).
    public static func read(path: String = KernelTaint.path) -> UInt64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The header diagnostic for a kernel that is tainted before the first case.
    public static func headerLine(_ mask: UInt64) -> String {
        "kernel tainted before the run: \(letters(mask)) (tainted=\(mask)): \(describe(mask))"
    }
}
