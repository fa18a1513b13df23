#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// cases/known-bugs.yaml: failures that are known kernel bugs with a cited
/// fix. A matching failure is an expected failure (status xfail, KTAP
/// `ok N name # XFAIL known bug: <fix>`) and does not fail the run unless
/// `ringfence run --strict`; a matching case that passes is an unexpected pass
/// (xpass, `# XPASS`), so the entry gets narrowed. Entries without a source
/// are refused.
public struct KnownBug: Sendable, Equatable, Codable {
    public var caseID: String
    /// Upstream versions affected (any range matches).
    public var kernels: [VersionRange]
    /// The fixing commit or changelog line.
    public var fix: String
    /// Where the fix is documented (changelog, commit id, list thread).
    public var source: String
    public var location: SourceLocation
    /// The architectures the departure is seen on (`arches:`), for a bug
    /// that really is architecture-specific; nil (absent) means every one.
    public var arches: [String]? = nil

    public func applies(to kernel: KernelVersion) -> Bool {
        kernels.contains { $0.contains(kernel) }
    }

    /// `applies(to:)` on the architecture `arch` (nil: the machine this runs on).
    public func applies(to kernel: KernelVersion, arch: String?) -> Bool {
        applies(to: kernel) && (arches.map { $0.contains(arch ?? KnownBugs.thisMachine) } ?? true)
    }
}

public enum KnownBugs {
    public static let fileName = "known-bugs.yaml"

    /// The names `arches:` accepts: `ringfence vm --arch`'s (GuestArch.names).
    public static let arches = ["x86_64", "arm64", "s390x"]

    /// The architecture this process runs on, in `arches`' names.
    public static var thisMachine: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "arm64"
        #elseif arch(s390x)
        return "s390x"
        #else
        return "unknown"
        #endif
    }

    /// The baseline at `path`: from the compiled suite beside it when there
    /// is one (the VM guest), else the YAML file composed by `compose`.
    /// A missing file is an empty baseline, unless `required` (the user named it).
    public static func load(path: String, compose: CaseComposer?, required: Bool = false) throws -> [KnownBug] {
        let file = PathText.lastComponent(path)
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let missing = CaseFileError(file: path, line: 0, field: "--known-bugs",
                                    message: "no such file; name an existing known-bugs.yaml, or 'none' for no baseline")
        if let suite = try CompiledCases.read(directory: dir) {
            // The host parsed the baseline beside the cases into the plan.
            guard file == fileName, let bugs = suite.knownBugs else {
                if required { throw missing }
                return []
            }
            return bugs
        }
        guard let bytes = SourceFiles.read(path) else {
            if access(path, F_OK) != 0 {
                if required { throw missing }
                return []
            }
            throw CaseFileError(file: path, line: 0, field: required ? "--known-bugs" : "", message: "cannot read (a directory, or no permission); name a readable known-bugs.yaml")
        }
        guard let compose else { throw CaseFileError(file: file, line: 0, field: "", message: CaseSource.noComposer) }
        return try parse(node: try compose(String(decoding: bytes, as: UTF8.self), file), file: file)
    }

    public static func parse(node: CaseNode?, file: String) throws -> [KnownBug] {
        guard let node else { return [] }
        return try YAMLField(node: node, file: file, path: "").sequence().map { entry in
            var id: String?, fix: String?, source: String?
            var kernels: [VersionRange] = []
            var arches: [String]?
            for (key, v) in try entry.mapping(allowed: ["case", "kernels", "fix", "source", "arches"]) {
                switch key {
                case "case": id = try v.string()
                case "fix": fix = try v.string()
                case "source": source = try v.string()
                case "arches":
                    let names = try v.sequence().map { item -> String in
                        let name = try item.string()
                        guard KnownBugs.arches.contains(name) else {
                            throw item.error("unknown architecture '\(name)'; arches: takes \(KnownBugs.arches.joined(separator: ", "))")
                        }
                        return name
                    }
                    guard !names.isEmpty else {
                        throw v.error("'arches' is empty; list the architectures the departure is seen on, or leave 'arches' out for all")
                    }
                    arches = names
                default:
                    kernels = try v.sequence().map { item in
                        guard let r = VersionRange(try item.string()) else {
                            throw item.error("expected a version or range like \"7.0 .. 7.3.1\"")
                        }
                        return r
                    }
                }
            }
            guard let id else { throw entry.error("an entry needs 'case' (a case id, see ringfence list)") }
            guard let fix, !fix.isEmpty else { throw entry.error("an entry needs 'fix' (the fixing commit or changelog line)") }
            guard let source, !source.isEmpty else { throw entry.error("an entry needs 'source' (where the fix is documented)") }
            guard !kernels.isEmpty else { throw entry.error("an entry needs 'kernels' (affected upstream versions)") }
            return KnownBug(caseID: id, kernels: kernels, fix: fix, source: source,
                            location: SourceLocation(file: file, line: entry.line), arches: arches)
        }
    }

    /// Applies the baseline to a result: a matched failure becomes .xfail, a
    /// matched pass becomes .xpass (the entry is stale for this kernel). A
    /// case that tainted the kernel stays a failure: no entry excuses that.
    /// `arch`: the architecture the case ran on (nil: this machine's); an
    /// entry with `arches:` applies only there.
    public static func apply(_ bugs: [KnownBug], to result: CaseResult, kernel: KernelVersion?, arch: String? = nil) -> CaseResult {
        guard let kernel, let bug = bugs.first(where: { $0.caseID == result.id && $0.applies(to: kernel, arch: arch) }) else { return result }
        var r = result
        if r.status.isFailure {
            if r.taint != nil {
                r.diagnostics.append("known-bug entry at \(bug.location) does not cover a tainted kernel")
                return r
            }
            r.status = .xfail
            r.reason = bug.fix
            r.diagnostics.append("known bug (\(bug.location)): \(bug.source)")
        } else if r.status == .pass {
            r.status = .xpass
            r.reason = bug.fix
            r.diagnostics.append("known-bug entry at \(bug.location) no longer needed: the case passes on \(kernel); narrow its kernels")
        }
        return r
    }
}
