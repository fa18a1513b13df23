import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The release string of a bzImage (as `file` reads it): the kernel_version
/// pointer at offset 0x20e of the setup header, + 0x200.
public enum BzImage {
    /// nil when the file is as long as its setup header says; else why not.
    /// (setup_sects at 0x1f1, 0 meaning 4; syssize at 0x1f4 in 16-byte units.)
    public static func damage(_ data: Data) -> String? {
        let b = [UInt8](data.prefix(0x200 + 0x20))
        guard b.count >= 0x1f8 else { return "\(data.count) bytes: too short for a bzImage setup header" }
        let setupSects = b[0x1f1] == 0 ? 4 : Int(b[0x1f1])
        let syssize = Int(b[0x1f4]) | Int(b[0x1f5]) << 8 | Int(b[0x1f6]) << 16 | Int(b[0x1f7]) << 24
        let want = (setupSects + 1) * 512 + syssize * 16
        return data.count < want ? "truncated: \(data.count) bytes, its header says \(want)" : nil
    }

    public static func release(_ data: Data) -> String? {
        let b = [UInt8](data.prefix(65536))
        guard b.count > 530, String(decoding: b[514..<518], as: UTF8.self) == "HdrS" else { return nil }
        let off = Int(b[526]) | Int(b[527]) << 8
        let start = off + 512
        guard start < b.count else { return nil }
        let text = b[start...].prefix { $0 != 0 && $0 != 32 }
        let s = String(decoding: text, as: UTF8.self)
        return s.isEmpty ? nil : s
    }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
