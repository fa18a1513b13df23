/// A `CaseNode` tree as YAML text: the one way ringfence writes a case file
/// (the fuzzer's reproducers). Composing the text again (YAMLCompose) gives
/// the same tree but for line numbers, so what the case parser reads back is
/// what was built. Short mappings and lists are written in flow style
/// (`{ op: NOP, user_data: 0x1 }`), the rest in block style; a block scalar
/// stays one (`program: |`), a null is spelt as it was (`arg: null`, `enable:`).
public enum CaseYAML {
    /// Flow style up to this many characters.
    static let flowWidth = 110

    public static func text(_ root: CaseNode) -> String {
        let lines = flowable(root).map { [$0] } ?? block(root, indent: 0)
        return lines.joined(separator: "\n") + "\n"
    }

    /// The node on one line, or nil when it needs block style.
    static func flowable(_ n: CaseNode) -> String? {
        let text: String?
        switch n.kind {
        // An empty null stays block style (`enable:`).
        case .scalar: text = n.isBlock || (n.isNull && n.text.isEmpty) ? nil : scalar(n, flow: true)
        case .alias: text = nil
        case .sequence:
            let items = n.children.map(flowable)
            text = items.contains(where: { $0 == nil }) ? nil : "[" + items.map { $0! }.joined(separator: ", ") + "]"
        case .mapping:
            var parts: [String] = []
            for (k, v) in n.pairs {
                guard k.kind == .scalar, !k.isBlock, let value = flowable(v) else { return nil }
                parts.append(scalar(k, flow: true) + ": " + value)
            }
            text = parts.isEmpty ? "{}" : "{ " + parts.joined(separator: ", ") + " }"
        }
        guard let text, text.count <= flowWidth else { return nil }
        return text
    }

    /// Block style at `indent` spaces.
    static func block(_ n: CaseNode, indent: Int) -> [String] {
        let pad = String(repeating: " ", count: indent)
        switch n.kind {
        case .scalar, .alias:
            return [pad + (flowable(n) ?? scalar(n, flow: false))]
        case .sequence:
            var out: [String] = []
            for item in n.children {
                if item.kind == .scalar && !item.isBlock && !item.isNull { out.append(pad + "- " + scalar(item, flow: false)); continue }
                // A mapping holding collections reads better behind the dash (`- setup: { flags: 0x2 }`).
                let nested = item.kind == .mapping && item.children.contains { $0.kind != .scalar }
                if !nested, let one = flowable(item) { out.append(pad + "- " + one); continue }
                // The item's block at indent + 2, its first line behind the dash.
                var lines = block(item, indent: indent + 2)
                lines[0] = pad + "- " + lines[0].dropFirst(indent + 2)
                out += lines
            }
            return out.isEmpty ? [pad + "[]"] : out
        case .mapping:
            var out: [String] = []
            for (k, v) in n.pairs {
                let key = pad + scalar(k, flow: false) + ":"
                if v.kind == .scalar && v.isNull {
                    out.append(key + (v.text.isEmpty ? "" : " " + scalar(v, flow: false)))
                } else if v.kind == .scalar && v.isBlock {
                    let body = v.text.hasSuffix("\n") ? String(v.text.dropLast()) : v.text
                    // An explicit indentation when the first line starts with spaces.
                    let indicator = body.split(separator: "\n").first?.first == " " ? "2" : ""
                    out.append(key + " |" + indicator + (v.text.hasSuffix("\n") ? "" : "-"))
                    out += body.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : pad + "  " + $0 }
                } else if v.kind == .scalar {
                    out.append(key + " " + scalar(v, flow: false))
                } else if let one = flowable(v) {
                    out.append(key + " " + one)
                } else {
                    out.append(key)
                    out += block(v, indent: indent + 2)
                }
            }
            return out.isEmpty ? [pad + "{}"] : out
        }
    }

    /// Spellings a plain scalar would read as null.
    static let nullSpellings: Set<String> = ["", "~", "null", "Null", "NULL"]

    /// A scalar plain when it reads back as the same text, else double-quoted.
    static func scalar(_ n: CaseNode, flow: Bool) -> String {
        // A null as it was spelt (`arg: null`, `enable:`).
        if n.isNull { return nullSpellings.contains(n.text) ? n.text : "null" }
        let s = n.text
        if nullSpellings.contains(s) { return quoted(s) }
        let first = s.unicodeScalars.first!
        let plainFirst = first.properties.isAlphabetic || ("0"..."9").contains(first) || first == "-" && s.count > 1 && !s.hasPrefix("- ") || first == "/" || first == "."
        let plainRest = s.unicodeScalars.allSatisfy { c in
            c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || "_.+-/".unicodeScalars.contains(c) || (!flow && c == " "))
        }
        return plainFirst && plainRest && !s.hasSuffix(" ") ? s : quoted(s)
    }

    /// YAML's double-quoted escapes for the characters that need one.
    static let escapes: [Unicode.Scalar: String] = ["\\": "\\\\", "\"": "\\\"", "\n": "\\n", "\t": "\\t"]

    static func quoted(_ s: String) -> String {
        let body = s.unicodeScalars.map { c -> String in
            if let e = escapes[c] { return e }
            guard c.value < 0x20 || c.value == 0x7f else { return String(c) }
            let h = String(c.value, radix: 16)
            return "\\x" + (h.count == 1 ? "0" + h : h)
        }
        return "\"" + body.joined() + "\""
    }
}
