#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The compiled plan of a case directory: every case as the host's
/// CaseParser made it (programs assembled, names resolved to numbers) and
/// the known-bug baseline beside them, parsed. The guest runs this as is:
/// it parses no case file and assembles no case program to load it.
public struct CompiledSuite: Sendable, Equatable, Codable {
    /// How many case files the plan was compiled from (the cases-load phase line).
    public var files: Int
    /// In file order, as CaseLoader loads a directory; `why:` is not carried (TestCase.CodingKeys).
    public var cases: [TestCase]
    /// `known-bugs.yaml` at the top of the cases directory; nil when there is none.
    public var knownBugs: [KnownBug]?

    public init(files: Int, cases: [TestCase], knownBugs: [KnownBug]?) {
        self.files = files; self.cases = cases; self.knownBugs = knownBugs
    }
}

/// `suite.rfcases` (in the initramfs at `/cases/suite.rfcases`), and the
/// nested steps an `exec:`/`spawn:` hands its new image through a memfd.
///
/// Format: the 8-byte magic `RFCASES2` (steps: `RFSTEPS2`), then the plan
/// in PlanCoder's positional binary form of the synthesized Codable
/// conformances of TestCase and Step (BPFInstruction and Sweep code
/// themselves compactly). A file of another
/// format (an older ringfence's `RFCASES1` trees) or a damaged one is a
/// FormatError saying which, never a crash; `read(directory:)` names the file.
public enum CompiledCases {
    public static let fileName = "suite.rfcases"
    static let magic: [UInt8] = Array("RFCASES2".utf8)
    static let stepsMagic: [UInt8] = Array("RFSTEPS2".utf8)

    public struct FormatError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func encode(_ suite: CompiledSuite) throws -> [UInt8] {
        magic + (try PlanCoder.encode(suite))
    }

    public static func decode(_ bytes: [UInt8]) throws -> CompiledSuite {
        try decode(CompiledSuite.self, bytes, magic: magic)
    }

    /// An `exec:`/`spawn:` step's nested steps, for the new image (ExecImage).
    public static func encodeSteps(_ steps: [Step]) throws -> [UInt8] {
        stepsMagic + (try PlanCoder.encode(steps))
    }

    public static func decodeSteps(_ bytes: [UInt8]) throws -> [Step] {
        try decode([Step].self, bytes, magic: stepsMagic)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], magic: [UInt8]) throws -> T {
        let head = Array(bytes.prefix(magic.count))
        guard head == magic else {
            let text = String(decoding: head, as: UTF8.self)
            if head.count == magic.count, text.hasPrefix("RFCASES") || text.hasPrefix("RFSTEPS"), head.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
                throw FormatError(message: "format \(text), written by another version of ringfence; this one reads "
                                  + "\(String(decoding: magic, as: UTF8.self)): compile the suite again with this ringfence (ringfence vm does)")
            }
            throw FormatError(message: "not a compiled case plan (no \(String(decoding: magic, as: UTF8.self)) magic at its start)")
        }
        do {
            return try PlanCoder.decode(T.self, from: bytes[magic.count...])
        } catch {
            throw FormatError(message: "a damaged compiled case plan (\(bytes.count) bytes): \(describe(error))")
        }
    }

    /// A decoding error in one line: where in the plan, and what.
    static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "it does not decode" }
        let path: [CodingKey], what: String
        switch e {
        case .dataCorrupted(let c): (path, what) = (c.codingPath, c.debugDescription)
        case .keyNotFound(let k, let c): (path, what) = (c.codingPath + [k], "missing")
        case .typeMismatch(_, let c), .valueNotFound(_, let c): (path, what) = (c.codingPath, c.debugDescription)
        @unknown default: return "it does not decode"
        }
        let at = path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return at.isEmpty ? what : "at \(at): \(what)"
    }
}

extension CompiledCases {
    /// The last plan decoded, by file version: the guest's case load and its
    /// known-bug load read the same file, and decode it once.
    nonisolated(unsafe) static var lastRead: (key: String, suite: CompiledSuite)?
    private static let lastReadLock = ProcessLock()

    /// The compiled plan in `directory`; nil when there is none. One of
    /// another format, or a damaged one, is a CaseFileError naming the file.
    static func read(directory: String) throws -> CompiledSuite? {
        let path = directory + "/" + fileName
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let key = "\(path) \(st.st_dev) \(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        if let last = lastReadLock.withLock({ lastRead }), last.key == key { return last.suite }
        guard let bytes = SourceFiles.read(path) else {
            throw CaseFileError(file: path, line: 0, field: "", message: "cannot read (a directory, or no permission)")
        }
        do {
            let suite = try decode(bytes)
            lastReadLock.withLock { lastRead = (key, suite) }
            return suite
        } catch {
            throw CaseFileError(file: path, line: 0, field: "", message: "\(error)")
        }
    }
}

// Compact codings for the two bulky parts of a plan.

extension BPFInstruction: Codable {
    /// One number: code << 48 | jt << 40 | jf << 32 | k.
    public init(from decoder: Decoder) throws {
        let v = try decoder.singleValueContainer().decode(UInt64.self)
        self.init(code: UInt16(truncatingIfNeeded: v >> 48), jt: UInt8(truncatingIfNeeded: v >> 40),
                  jf: UInt8(truncatingIfNeeded: v >> 32), k: UInt32(truncatingIfNeeded: v))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(UInt64(code) << 48 | UInt64(jt) << 40 | UInt64(jf) << 32 | UInt64(k))
    }
}

extension Sweep: Codable {
    enum CodingKeys: String, CodingKey { case variable, runs, opcodeFromVariable, rangeToLast, except }

    /// `values` as runs (first, count, step), flattened: "0x100..0xffff" is three numbers, not 65,280.
    static func runs(_ values: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        var i = 0
        while i < values.count {
            var n = 1
            let step: UInt32 = i + 1 < values.count && values[i + 1] > values[i] ? values[i + 1] - values[i] : 1
            while i + n < values.count, values[i + n] > values[i + n - 1], values[i + n] - values[i + n - 1] == step { n += 1 }
            out += [values[i], UInt32(n), step]
            i += n
        }
        return out
    }

    /// The values of `runs`; nil when they are not whole runs or leave UInt32 (a damaged plan).
    static func values(_ runs: [UInt32]) -> [UInt32]? {
        guard runs.count % 3 == 0 else { return nil }
        var out: [UInt32] = []
        for r in stride(from: 0, to: runs.count, by: 3) {
            let (first, n, step) = (UInt64(runs[r]), UInt64(runs[r + 1]), UInt64(runs[r + 2]))
            guard n > 0, first + (n - 1) * step <= UInt64(UInt32.max), out.count + Int(n) <= 1 << 24 else { return nil }
            for j in 0..<n { out.append(UInt32(first + j * step)) }
        }
        return out
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(variable: try c.decode(String.self, forKey: .variable), values: [])
        guard let values = Self.values(try c.decode([UInt32].self, forKey: .runs)) else {
            throw DecodingError.dataCorruptedError(forKey: .runs, in: c, debugDescription: "not whole runs of values")
        }
        self.values = values
        opcodeFromVariable = try c.decode(Bool.self, forKey: .opcodeFromVariable)
        if let r = try c.decodeIfPresent([UInt32].self, forKey: .rangeToLast) {
            guard r.count == 3 else { throw DecodingError.dataCorruptedError(forKey: .rangeToLast, in: c, debugDescription: "not lo, minus, step") }
            rangeToLast = (r[0], r[1], r[2])
        }
        except = Set(try c.decode([UInt32].self, forKey: .except))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(variable, forKey: .variable)
        try c.encode(Self.runs(values), forKey: .runs)
        try c.encode(opcodeFromVariable, forKey: .opcodeFromVariable)
        try c.encodeIfPresent(rangeToLast.map { [$0.lo, $0.minus, $0.step] }, forKey: .rangeToLast)
        try c.encode(except.sorted(), forKey: .except)
    }
}
