import Foundation

/// C text helpers.
enum C {
    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "?": out += "\\?"
            default:
                if u.value < 0x20 || u.value > 0x7e { out += String(format: "\\%03o", u.value & 0xff) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func comment(_ s: String) -> String {
        s.replacingOccurrences(of: "*/", with: "* /").replacingOccurrences(of: "/*", with: "/ *")
    }

    static func wrap(_ s: String, prefix: String, width: Int = 76) -> String {
        var out = "", line = ""
        for word in comment(s).split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if !line.isEmpty && line.count + word.count + 1 > width - prefix.count {
                out += prefix + line + "\n"
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { out += prefix + line + "\n" }
        return out
    }

    static func bytes(_ b: [UInt8]) -> String {
        b.isEmpty ? "0" : b.map { "0x" + String($0, radix: 16) }.joined(separator: ", ")
    }

    /// A printable payload (a path) is shown as text too.
    static func payloadNote(_ b: [UInt8]) -> String {
        let text = b.last == 0 ? Array(b.dropLast()) : b
        guard !text.isEmpty, text.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else { return "" }
        return " /* \(comment(String(decoding: text, as: UTF8.self))) */"
    }

    /// Sorted values as arithmetic runs (lo, hi, step).
    static func runs(_ values: [UInt32]) -> [(lo: UInt32, hi: UInt32, step: UInt32)] {
        var out: [(lo: UInt32, hi: UInt32, step: UInt32)] = []
        var i = 0
        while i < values.count {
            let lo = values[i]
            guard i + 1 < values.count, values[i + 1] > lo else { out.append((lo, lo, 1)); i += 1; continue }
            let step = values[i + 1] - lo
            var j = i + 1
            while j + 1 < values.count, values[j + 1] > values[j], values[j + 1] - values[j] == step { j += 1 }
            if j == i + 1 && i + 2 < values.count {
                out.append((lo, lo, 1)); i += 1; continue
            }
            out.append((lo, values[j], step))
            i = j + 1
        }
        return out
    }
}
