import Foundation

/// Parses `ldd` output into the absolute paths of the libraries and loader.
public enum LddOutput {
    public static func libraries(_ text: String) -> [String] {
        var out: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if let arrow = words.firstIndex(of: "=>") {
                if arrow + 1 < words.count, words[arrow + 1].hasPrefix("/") { out.append(words[arrow + 1]) }
            } else if let first = words.first, first.hasPrefix("/") {
                out.append(first)
            }
        }
        return out
    }
}
