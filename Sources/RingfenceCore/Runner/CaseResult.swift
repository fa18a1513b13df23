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

    // MARK: JSON

    private enum CodingKeys: String, CodingKey { case id, name, file, line, status, reason, diagnostics, durationMs, taint }

    /// Set to true in an encoder's userInfo for the guest's transfer form:
    /// name, file and line are left out (the host has them from the plan and
    /// fills them in by id, `VMVerdict.judge`), and so are empty diagnostics.
    /// Every byte on the emulated serial console costs about 3 µs.
    public static let transferFormKey = CodingUserInfoKey(rawValue: "ringfence.caseResult.transferForm")!

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        file = try c.decodeIfPresent(String.self, forKey: .file) ?? ""
        line = try c.decodeIfPresent(Int.self, forKey: .line) ?? 0
        status = try c.decode(CaseStatus.self, forKey: .status)
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
        diagnostics = try c.decodeIfPresent([String].self, forKey: .diagnostics) ?? []
        durationMs = try c.decode(Double.self, forKey: .durationMs)
        taint = try c.decodeIfPresent(String.self, forKey: .taint)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let transfer = encoder.userInfo[Self.transferFormKey] as? Bool == true
        try c.encode(id, forKey: .id)
        if !transfer {
            try c.encode(name, forKey: .name)
            try c.encode(file, forKey: .file)
            try c.encode(line, forKey: .line)
        }
        try c.encode(status, forKey: .status)
        try c.encodeIfPresent(reason, forKey: .reason)
        if !transfer || !diagnostics.isEmpty { try c.encode(diagnostics, forKey: .diagnostics) }
        try c.encode(durationMs, forKey: .durationMs)
        try c.encodeIfPresent(taint, forKey: .taint)
    }

    /// A result in the transfer form got its name, file and line back from
    /// the case it reports on.
    public func located(by c: TestCase) -> CaseResult {
        var r = self
        r.name = c.name; r.file = c.location.file; r.line = c.location.line
        return r
    }
}
