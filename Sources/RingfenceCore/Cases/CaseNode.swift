#if canImport(Glibc)
import Glibc
#endif

/// A composed YAML node: what the case parser reads. The full `ringfence`
/// binary composes it from YAML text with Yams and parses it; the guest
/// binary never sees one: it reads the compiled plan (`CompiledCases`).
public struct CaseNode: Equatable, Sendable {
    public enum Kind: UInt8, Sendable { case scalar = 0, sequence = 1, mapping = 2, alias = 3 }
    public var kind: Kind
    /// 1-based line in the file (0: unknown).
    public var line: Int
    /// A scalar's text.
    public var text: String
    /// A null scalar: `!!null`, or plain `~`, `null`, `Null`, `NULL` or empty.
    public var isNull: Bool
    /// A block scalar (`|` or `>`): its text starts on the next line.
    public var isBlock: Bool = false
    /// A list's items, or a mapping's keys and values alternating.
    public var children: [CaseNode]

    public init(kind: Kind, line: Int, text: String = "", isNull: Bool = false, children: [CaseNode] = []) {
        self.kind = kind; self.line = line; self.text = text; self.isNull = isNull; self.children = children
    }

    public static func scalar(_ text: String, line: Int, isNull: Bool = false, isBlock: Bool = false) -> CaseNode {
        var n = CaseNode(kind: .scalar, line: line, text: text, isNull: isNull)
        n.isBlock = isBlock
        return n
    }
    public static func sequence(_ items: [CaseNode], line: Int) -> CaseNode {
        CaseNode(kind: .sequence, line: line, children: items)
    }
    public static func mapping(_ pairs: [(CaseNode, CaseNode)], line: Int) -> CaseNode {
        CaseNode(kind: .mapping, line: line, children: pairs.flatMap { [$0.0, $0.1] })
    }
    /// Key/value pairs of a mapping.
    public var pairs: [(CaseNode, CaseNode)] {
        stride(from: 0, to: children.count - 1, by: 2).map { (children[$0], children[$0 + 1]) }
    }
}
