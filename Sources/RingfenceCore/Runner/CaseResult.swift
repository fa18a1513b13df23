public enum CaseStatus: String, Codable, Sendable, CaseIterable {
    case pass, fail, skip, timeout
    /// The case's process died (signal) or sent back nothing.
    case crash
    /// Expected failure: failed on a kernel that cases/known-bugs.yaml lists
    /// as affected (kselftest's XFAIL). Results files before 0.2 said "known-bug".
    case xfail
    /// Unexpected pass: passed on a kernel that cases/known-bugs.yaml lists as
    /// affected, so the entry is stale and wants narrowing (kselftest's XPASS).
    case xpass

    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        if raw == "known-bug" { self = .xfail; return }
        guard let s = CaseStatus(rawValue: raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "unknown case status '\(raw)'"))
        }
        self = s
    }

    public var isFailure: Bool { self == .fail || self == .timeout || self == .crash }
    /// The case did what the kernel should do (xpass: and a known-bug entry says it should not have).
    public var isPass: Bool { self == .pass || self == .xpass }
}

public struct CaseResult: Codable, Sendable {
    public var id: String
    public var name: String
    public var file: String
    public var line: Int
    public var status: CaseStatus
    /// Skip reason, timeout note, or known-bug citation (xfail/xpass: the fix).
    public var reason: String?
    /// Observed vs expected, one line each.
    public var diagnostics: [String]
    public var durationMs: Double
    /// Taint letters (KernelTaint) that appeared in /proc/sys/kernel/tainted
    /// while the case ran; such a case fails, and no known-bug entry excuses it.
    public var taint: String?

    public init(id: String, name: String, file: String, line: Int, status: CaseStatus, reason: String? = nil,
                diagnostics: [String] = [], durationMs: Double = 0) {
        self.id = id; self.name = name; self.file = file; self.line = line; self.status = status
        self.reason = reason; self.diagnostics = diagnostics; self.durationMs = durationMs
    }

    public init(_ c: TestCase, status: CaseStatus, reason: String? = nil, diagnostics: [String] = [], durationMs: Double = 0) {
        self.init(id: c.id, name: c.name, file: c.location.file, line: c.location.line, status: status,
                  reason: reason, diagnostics: diagnostics, durationMs: durationMs)
    }

    /// The area the case belongs to: the directory under cases/ (the id's first
    /// path component), one KTAP suite per area.
    public var area: String { CaseResult.area(ofID: id) }

    public static func area(ofID id: String) -> String {
        let path = id.split(separator: ":", maxSplits: 1).first.map(String.init) ?? id
        if let slash = path.firstIndex(of: "/") { return String(path[..<slash]) }
        return path.isEmpty ? "ringfence" : path
    }
}
