import Foundation
import Yams
import CRingfence

/// YAML text to the tree the case parser reads, with Yams. Only the full
/// `ringfence` binary links this; the guest reads the compiled suite.
public enum YAMLCompose {
    /// Resolver.basic: no tag resolution. The parser reads every scalar as
    /// text itself; the default resolver ran up to seven NSRegularExpressions
    /// on every mapping key (Yams hashes keys for its duplicate check),
    /// about a third of loading time.
    public static func compose(yaml: String, file: String) throws -> CaseNode? {
        let node: Node?
        do { node = try Yams.compose(yaml: yaml, .basic) } catch let e as YamlError {
            throw CaseFileError(file: file, line: yamlErrorLine(e), field: "", message: syntaxMessage("\(e)"))
        }
        return node.map(tree)
    }

    /// The longest stretch of the file a message echoes.
    public static let echoLimit = 200

    /// Yams' message, its echo of the offending line cut to `echoLimit`
    /// characters (a 100,000-deep list echoed 200 KB); libyaml's nesting
    /// limit says what it is.
    static func syntaxMessage(_ yams: String) -> String {
        if yams.contains("Maximum nesting level") {
            return "YAML nested deeper than libyaml's limit (1000 levels); a case file needs a few levels: fix the brackets or indentation"
        }
        let lines = yams.split(separator: "\n", omittingEmptySubsequences: false).prefix(4).map { line in
            line.count > echoLimit ? line.prefix(echoLimit) + "…" : line
        }
        return "YAML syntax: " + lines.joined(separator: "\n")
    }

    public static let composer: CaseComposer = { try compose(yaml: $0, file: $1) }

    static func tree(_ node: Node) -> CaseNode {
        let line = node.mark?.line ?? 0
        switch node {
        case .scalar(let s):
            let null = s.tag.rawValue.hasSuffix(":null") || (s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string))
            return .scalar(s.string, line: line, isNull: null, isBlock: s.style == .literal || s.style == .folded)
        case .sequence(let items):
            return .sequence(items.map(tree), line: line)
        case .mapping(let m):
            return .mapping(m.map { (tree($0.key), tree($0.value)) }, line: line)
        case .alias:
            return CaseNode(kind: .alias, line: line)
        }
    }

    private static func yamlErrorLine(_ e: YamlError) -> Int {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        default:
            return 0
        }
    }
}

/// The YAML entry points of the loaders, for the host, `ringfence lint` and tests.
extension CaseLoader {
    public static func load(directory: String) throws -> [TestCase] {
        try load(directory: directory, compose: YAMLCompose.composer)
    }

    public static func loadCollectingErrors(directory: String) throws -> (cases: [TestCase], errors: [CaseFileError]) {
        try loadCollectingErrors(directory: directory, compose: YAMLCompose.composer)
    }

    /// One file's text; `file` is the name used in ids and messages.
    public static func load(yaml: String, file: String) throws -> [TestCase] {
        let t0 = rf_now_ns()
        let node = try YAMLCompose.compose(yaml: yaml, file: file)
        timings.composeNs += rf_now_ns() - t0
        return try load(node: node, file: file)
    }

    /// The compiled suite (`suite.rfcases`) of a case directory.
    public static func compile(directory: String) throws -> [UInt8] {
        try compile(directory: directory, compose: YAMLCompose.composer)
    }
}

extension KnownBugs {
    public static func parse(yaml: String, file: String) throws -> [KnownBug] {
        try parse(node: try YAMLCompose.compose(yaml: yaml, file: file), file: file)
    }

    public static func load(path: String) throws -> [KnownBug] {
        try load(path: path, compose: YAMLCompose.composer)
    }
}
