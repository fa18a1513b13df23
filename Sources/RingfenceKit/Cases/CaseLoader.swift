import Foundation
import Yams
import CRingfence

/// Reads case files (YAML) into TestCases. Every error names file, line and
/// field; nothing here touches the kernel, so `ringfence lint` uses it as is.
public enum CaseLoader {
    /// Where the last directory load spent its time (PhaseTimes prints it).
    nonisolated(unsafe) public static var timings = CaseLoadTimings()

    /// All `*.yaml` files below `directory`, sorted, loaded in order; throws the first error.
    public static func load(directory: String) throws -> [TestCase] {
        let (cases, errors) = try loadCollectingErrors(directory: directory)
        if let first = errors.first { throw first }
        return cases
    }

    /// Every file's first error, for `ringfence lint`.
    public static func loadCollectingErrors(directory: String) throws -> (cases: [TestCase], errors: [CaseFileError]) {
        let root = URL(fileURLWithPath: directory)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue,
              let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else {
            throw CaseFileError(file: directory, line: 0, field: "", message: "no such cases directory")
        }
        var files: [String] = []
        for case let url as URL in walker where url.pathExtension == "yaml" || url.pathExtension == "yml" {
            // The known-bug baseline lives beside the cases but is not one.
            if url.lastPathComponent != KnownBugs.fileName { files.append(url.path) }
        }
        if files.isEmpty {
            throw CaseFileError(file: directory, line: 0, field: "", message: "no *.yaml case files found")
        }
        timings = CaseLoadTimings()
        timings.files = files.count
        var cases: [TestCase] = []
        var errors: [CaseFileError] = []
        var seen: [String: SourceLocation] = [:]
        for path in files.sorted() {
            let rel = relativePath(path, under: root.standardizedFileURL.path)
            do {
                let t0 = rf_now_ns()
                let text = try String(contentsOfFile: path, encoding: .utf8)
                timings.readNs += rf_now_ns() - t0
                for c in try load(yaml: text, file: rel) {
                    if let first = seen[c.id] {
                        throw CaseFileError(file: rel, line: c.location.line, field: "name",
                                            message: "duplicate case id \(c.id) (first at \(first))")
                    }
                    seen[c.id] = c.location
                    cases.append(c)
                }
            } catch let e as CaseFileError {
                errors.append(e)
            } catch {
                errors.append(CaseFileError(file: rel, line: 0, field: "", message: "cannot read: \(error)"))
            }
        }
        return (cases, errors)
    }

    static func relativePath(_ path: String, under root: String) -> String {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    /// One file's text; `file` is the name used in ids and messages.
    public static func load(yaml: String, file: String) throws -> [TestCase] {
        let node: Node?
        let t0 = rf_now_ns()
        defer { timings.caseFileNs += rf_now_ns() - t0 }
        // Resolver.basic: no tag resolution. The parser reads every scalar as
        // text itself; the default resolver ran up to seven NSRegularExpressions
        // on every mapping key (Yams hashes keys for its duplicate check),
        // about a third of loading time.
        do { node = try Yams.compose(yaml: yaml, .basic) } catch let e as YamlError {
            timings.composeNs += rf_now_ns() - t0
            throw CaseFileError(file: file, line: yamlErrorLine(e), field: "", message: "YAML syntax: \(e)")
        }
        let empty = CaseFileError(file: file, line: 1, field: "",
                                  message: "the file has no cases (an empty case file is a mistake: add a case or delete the file)")
        timings.composeNs += rf_now_ns() - t0
        guard let node else { throw empty }
        let top = YAMLField(node: node, file: file, path: "")
        var out: [TestCase] = []
        for (i, item) in try top.sequence().enumerated() {
            out.append(try CaseParser(file: file).parseCase(item, index: i))
        }
        if out.isEmpty { throw empty }
        return out
    }

    private static func yamlErrorLine(_ e: YamlError) -> Int {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        default:
            return 0
        }
    }

    /// "registration/reserved-fields.yaml" + "Nonzero cmd_flags is rejected"
    /// → "registration/reserved-fields:nonzero-cmd_flags-is-rejected".
    public static func caseID(file: String, name: String) -> String {
        var stem = file
        for ext in [".yaml", ".yml"] where stem.hasSuffix(ext) { stem = String(stem.dropLast(ext.count)) }
        var slug = ""
        for ch in name.lowercased() {
            if ch.isLetter || ch.isNumber || ch == "_" || ch == "." { slug.append(ch) }
            else if !slug.hasSuffix("-") { slug.append("-") }
        }
        while slug.hasSuffix("-") { slug.removeLast() }
        return "\(stem):\(slug)"
    }
}
