#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Files have to leave the guest over the serial console: commands in the
/// guest write them to `directory` (the results JSON, a bench plot),
/// GuestInit prints each as base64 lines behind `prefix(name)` (kernel
/// messages may land between lines, never inside one), and `ringfence
/// verdict --files DIR` on the host writes them back out.
public enum GuestResults {
    public static let directory = "/tmp/ringfence-out"
    public static let resultsName = "results.json"
    public static var path: String { directory + "/" + resultsName }
    static let marker = "# ringfence-file "

    static func prefix(_ name: String) -> String { marker + name + ": " }

    /// Base64 characters per console line. Long lines: the prefix repeats on
    /// every line, and at 76 characters it was 29 % of what crossed the
    /// (slow, emulated) serial port.
    static let lineLength = 2048

    public static func emit(name: String, contents: Data, _ say: (String) -> Void) {
        let b64 = contents.base64EncodedString()
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: lineLength, limitedBy: b64.endIndex) ?? b64.endIndex
            say(prefix(name) + b64[i..<j])
            i = j
        }
    }

    /// Every file in `directory`, in name order.
    public static func emitAll(_ say: (String) -> Void) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.sorted() where !name.contains(" ") && !name.contains(":") {
            if let data = FileManager.default.contents(atPath: directory + "/" + name) { emit(name: name, contents: data, say) }
        }
    }

    /// name → contents of every file in a console log (damaged ones left out).
    public static func extract(fromConsole log: String) -> [String: Data] {
        var b64: [String: String] = [:]
        // \r\n is one Character in Swift: split on any newline, not on "\n".
        for line in log.split(whereSeparator: \.isNewline) {
            guard let r = line.range(of: marker) else { continue }
            let rest = line[r.upperBound...]
            guard let colon = rest.range(of: ": ") else { continue }
            b64[String(rest[..<colon.lowerBound]), default: ""] += rest[colon.upperBound...]
        }
        return b64.compactMapValues { Data(base64Encoded: $0) }
    }

    public static func isTransportLine(_ line: String) -> Bool { line.hasPrefix(marker) }
}
