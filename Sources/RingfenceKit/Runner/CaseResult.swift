public enum CaseStatus: String, Codable, Sendable {
    case pass, fail, skip, timeout
    /// The case's process died (signal) or sent back nothing.
    case crash
    /// Failed, but matched a known-bug baseline entry.
    case knownBug = "known-bug"

    public var isFailure: Bool { self == .fail || self == .timeout || self == .crash }
}

public struct CaseResult: Codable, Sendable {
    public var id: String
    public var name: String
    public var file: String
    public var line: Int
    public var status: CaseStatus
    /// Skip reason, timeout note, or known-bug citation.
    public var reason: String?
    /// Observed vs expected, one line each.
    public var diagnostics: [String]
    public var durationMs: Double

    public init(id: String, name: String, file: String, line: Int, status: CaseStatus, reason: String? = nil,
                diagnostics: [String] = [], durationMs: Double = 0) {
        self.id = id; self.name = name; self.file = file; self.line = line; self.status = status
        self.reason = reason; self.diagnostics = diagnostics; self.durationMs = durationMs
    }

    public init(_ c: TestCase, status: CaseStatus, reason: String? = nil, diagnostics: [String] = [], durationMs: Double = 0) {
        self.init(id: c.id, name: c.name, file: c.location.file, line: c.location.line, status: status,
                  reason: reason, diagnostics: diagnostics, durationMs: durationMs)
    }
}
