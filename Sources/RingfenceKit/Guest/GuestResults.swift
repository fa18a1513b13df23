import Foundation

/// The JSON results file has to leave the guest over the serial console:
/// `ringfence run` in the guest writes it to `path`, GuestInit prints it as
/// base64 lines behind `linePrefix` (kernel messages may land between lines,
/// never inside one), and run-in-vm.sh reassembles it on the host.
public enum GuestResults {
    public static let path = "/tmp/ringfence-results.json"
    public static let linePrefix = "# ringfence-results: "

    public static func emit(_ json: String, _ say: (String) -> Void) {
        let b64 = Data(json.utf8).base64EncodedString()
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: 76, limitedBy: b64.endIndex) ?? b64.endIndex
            say(linePrefix + b64[i..<j])
            i = j
        }
    }

    /// The JSON from a console log, or nil when none (or a damaged one) is there.
    public static func extract(fromConsole log: String) -> String? {
        var b64 = ""
        // \r\n is one Character in Swift: split on any newline, not on "\n".
        for line in log.split(whereSeparator: \.isNewline) {
            if let r = line.range(of: linePrefix) { b64 += line[r.upperBound...] }
        }
        guard !b64.isEmpty, let data = Data(base64Encoded: b64) else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
