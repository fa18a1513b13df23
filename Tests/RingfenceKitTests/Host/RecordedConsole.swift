import Foundation

/// A console log under Tests/Fixtures/console: the log, and the `#! key: value`
/// header lines it starts with (how to judge it and the verdict it must get;
/// see that folder's README). The header is taken off before judging.
struct RecordedConsole {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/console")

    var header: [String: String]
    var log: String

    static func load(_ name: String) throws -> RecordedConsole {
        let text = try String(contentsOf: directory.appendingPathComponent(name + ".log"), encoding: .utf8)
        var header: [String: String] = [:]
        var rest = Substring(text)
        while rest.hasPrefix("#! ") {
            let end = rest.firstIndex(of: "\n") ?? rest.endIndex
            let line = rest[rest.index(rest.startIndex, offsetBy: 3)..<end]
            if let colon = line.firstIndex(of: ":") {
                header[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
        }
        return RecordedConsole(header: header, log: String(rest))
    }

    /// Every fixture's name, without `.log`.
    static func names() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".log") }.map { String($0.dropLast(4)) }.sorted()
    }
}
