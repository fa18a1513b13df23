#if canImport(Glibc)
import Glibc
#endif

/// A composed YAML node: what the case parser reads. The full `ringfence`
/// binary composes it from YAML text with Yams; the guest binary (no Yams,
/// no Foundation) reads it from the compiled suite the host put in the
/// initramfs (`CompiledCases`). Both then run the same CaseParser, so a case
/// means the same thing on the host and in the guest.
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

/// The compiled suite: every case file's composed tree, in one file the
/// guest reads in milliseconds (`/cases/suite.rfcases` in the initramfs).
///
/// Format (all integers LEB128): magic `RFCASES1`, file count, then per file
/// its name (length + UTF-8), a byte 1 with its root node or 0 for an empty
/// file. A node: kind byte, line; a scalar then has a flags byte (1 null,
/// 2 block) and its text; a list or mapping its child count and children.
public enum CompiledCases {
    public static let fileName = "suite.rfcases"
    static let magic: [UInt8] = Array("RFCASES1".utf8)

    public struct FormatError: Error, CustomStringConvertible {
        public let offset: Int
        public var description: String { "not a compiled case suite, or a damaged one (at byte \(offset))" }
    }

    public static func encode(_ files: [(name: String, root: CaseNode?)]) -> [UInt8] {
        var out = magic
        putInt(&out, files.count)
        for f in files {
            putString(&out, f.name)
            if let root = f.root { out.append(1); putNode(&out, root) } else { out.append(0) }
        }
        return out
    }

    public static func decode(_ bytes: [UInt8]) throws -> [(name: String, root: CaseNode?)] {
        var r = Reader(bytes: bytes)
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else { throw FormatError(offset: 0) }
        r.at = magic.count
        let n = try r.int()
        var out: [(name: String, root: CaseNode?)] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let name = try r.string()
            let has = try r.byte()
            out.append((name, has == 1 ? try r.node(depth: 0) : nil))
        }
        guard r.at == bytes.count else { throw FormatError(offset: r.at) }
        return out
    }

    static func putInt(_ out: inout [UInt8], _ v: Int) {
        var u = UInt64(max(v, 0))
        repeat {
            var b = UInt8(u & 0x7f)
            u >>= 7
            if u != 0 { b |= 0x80 }
            out.append(b)
        } while u != 0
    }

    static func putString(_ out: inout [UInt8], _ s: String) {
        let u = Array(s.utf8)
        putInt(&out, u.count)
        out.append(contentsOf: u)
    }

    static func putNode(_ out: inout [UInt8], _ n: CaseNode) {
        out.append(n.kind.rawValue)
        putInt(&out, n.line)
        switch n.kind {
        case .scalar:
            out.append((n.isNull ? 1 : 0) | (n.isBlock ? 2 : 0))
            putString(&out, n.text)
        case .sequence, .mapping:
            putInt(&out, n.children.count)
            for c in n.children { putNode(&out, c) }
        case .alias:
            break
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var at = 0
        mutating func byte() throws -> UInt8 {
            guard at < bytes.count else { throw FormatError(offset: at) }
            defer { at += 1 }
            return bytes[at]
        }
        mutating func int() throws -> Int {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 63 else { throw FormatError(offset: at) }
                v |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            guard v <= UInt64(Int32.max) else { throw FormatError(offset: at) }
            return Int(v)
        }
        mutating func string() throws -> String {
            let n = try int()
            guard n <= bytes.count - at else { throw FormatError(offset: at) }
            defer { at += n }
            return String(decoding: bytes[at..<at + n], as: UTF8.self)
        }
        mutating func node(depth: Int) throws -> CaseNode {
            guard depth < 512, let kind = CaseNode.Kind(rawValue: try byte()) else { throw FormatError(offset: at) }
            let line = try int()
            switch kind {
            case .scalar:
                let flags = try byte()
                guard flags < 4 else { throw FormatError(offset: at) }
                return .scalar(try string(), line: line, isNull: flags & 1 != 0, isBlock: flags & 2 != 0)
            case .sequence, .mapping:
                let n = try int()
                guard n <= bytes.count - at, kind == .sequence || n % 2 == 0 else { throw FormatError(offset: at) }
                var kids: [CaseNode] = []
                kids.reserveCapacity(n)
                for _ in 0..<n { kids.append(try node(depth: depth + 1)) }
                return CaseNode(kind: kind, line: line, children: kids)
            case .alias:
                return CaseNode(kind: .alias, line: line)
            }
        }
    }
}

extension CompiledCases {
    /// The last suite decoded, by file version: the guest's case load and its
    /// known-bug load read the same file, and decode it once.
    nonisolated(unsafe) static var lastRead: (key: String, files: [(name: String, root: CaseNode?)])?
    private static let lastReadLock = ProcessLock()

    /// The compiled suite in `directory`; nil when there is none. A damaged
    /// one is a CaseFileError naming the file and the byte.
    static func read(directory: String) throws -> [(name: String, root: CaseNode?)]? {
        let path = directory + "/" + fileName
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let key = "\(path) \(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        if let last = lastReadLock.withLock({ lastRead }), last.key == key { return last.files }
        guard let bytes = SourceFiles.read(path) else { return nil }
        do {
            let files = try decode(bytes)
            lastReadLock.withLock { lastRead = (key, files) }
            return files
        } catch {
            throw CaseFileError(file: path, line: 0, field: "", message: "\(error)")
        }
    }
}
