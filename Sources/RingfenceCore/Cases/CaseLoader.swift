import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// Turns YAML text into a composed tree, or throws a CaseFileError with the
/// line. The full `ringfence` binary has one (Yams: `YAMLCompose`); the
/// guest binary has none and reads compiled suites only.
public typealias CaseComposer = (_ yaml: String, _ file: String) throws -> CaseNode?

/// Where the CLI's case trees come from. The `ringfence` executable sets
/// `compose` at start-up; `ringfence-guest` leaves it nil.
public enum CaseSource {
    nonisolated(unsafe) public static var compose: CaseComposer?

    static let noComposer = "this is ringfence-guest, which reads only compiled suites (\(CompiledCases.fileName), written by ringfence vm); "
        + "use the full ringfence binary for YAML"
}

/// Reads case files into TestCases. Every error names file, line and
/// field; nothing here touches the kernel, so `ringfence lint` uses it as is.
/// A directory holding `suite.rfcases` (the compiled suite the VM host
/// writes) is read from that file alone; otherwise every `*.yaml` below it.
public enum CaseLoader {
    /// Where the last directory load spent its time (PhaseTimes prints it).
    nonisolated(unsafe) public static var timings = CaseLoadTimings()

    /// All cases below `directory` (or in one case file), sorted by file; throws the first error.
    public static func load(directory: String, compose: CaseComposer?) throws -> [TestCase] {
        let (cases, errors) = try loadCollectingErrors(directory: directory, compose: compose)
        if let first = errors.first { throw first }
        return cases
    }

    /// Every error of every file, for `ringfence lint`. `directory` may also
    /// name one `.yaml` case file: its ids are then relative to its directory.
    public static func loadCollectingErrors(directory: String, compose: CaseComposer?) throws -> (cases: [TestCase], errors: [CaseFileError]) {
        timings = CaseLoadTimings()
        let t0 = rf_now_ns()
        if SourceFiles.isDirectory(directory), let suite = try CompiledCases.read(directory: directory) {
            // The compiled plan: decoded, not parsed (the host parsed it).
            timings.decodeNs += rf_now_ns() - t0
            timings.files = suite.files
            return (suite.cases, [])
        }
        // (file name, its tree or the error composing it)
        var trees: [(String, () throws -> CaseNode?)] = []
        let found = try caseFiles(at: directory)
        let files = found.files.filter { !isKnownBugs($0) }
        guard let compose else {
            if files.isEmpty { return try check(trees, loops: found.loops, in: directory) }
            throw CaseFileError(file: directory, line: 0, field: "", message: CaseSource.noComposer)
        }
        for rel in files {
            trees.append((rel, {
                let t0 = rf_now_ns()
                let text = try readText(found.root, rel)
                let t1 = rf_now_ns()
                timings.readNs += t1 - t0
                defer { timings.composeNs += rf_now_ns() - t1; timings.caseFileNs += rf_now_ns() - t1 }
                return try compose(text, rel)
            }))
        }
        return try check(trees, loops: found.loops, in: directory)
    }

    /// Parses every tree in file order; a duplicate id is an error at its second place.
    private static func check(_ trees: [(String, () throws -> CaseNode?)], loops: [CaseFileError] = [],
                              in directory: String) throws -> (cases: [TestCase], errors: [CaseFileError]) {
        if trees.isEmpty {
            if !loops.isEmpty { return ([], loops) }
            throw CaseFileError(file: directory, line: 0, field: "", message: "no *.yaml case files found; write one (docs/writing-cases.md) or name the cases directory")
        }
        timings.files = trees.count
        var cases: [TestCase] = []
        var errors: [CaseFileError] = loops
        var seen: [String: SourceLocation] = [:]
        for (rel, tree) in trees.sorted(by: { $0.0 < $1.0 }) {
            do {
                let node = try tree()
                let (loaded, fileErrors) = try loadCollectingErrors(node: node, file: rel)
                errors += fileErrors
                for c in loaded {
                    if let first = seen[c.id] {
                        errors.append(CaseFileError(file: rel, line: c.location.line, field: "name",
                                                    message: "duplicate case id \(c.id) (first at \(first)); rename one of the two"))
                        continue
                    }
                    seen[c.id] = c.location
                    cases.append(c)
                }
            } catch {
                errors += CaseFileErrors.flatten(error, file: rel, line: 0)
            }
        }
        return (cases, errors)
    }

    /// What a cases path names: a directory (every `*.yaml` and `*.yml`
    /// below it, relative and sorted, plus the loops not followed), or one
    /// case file (its name, relative to its directory).
    static func caseFiles(at path: String) throws -> (root: String, files: [String], loops: [CaseFileError]) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw CaseFileError(file: path, line: 0, field: "", message: "no such directory or case file; name the cases directory (e.g. cases) or one .yaml case file")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let (files, loops) = SourceFiles.walk(path)
            return (path, files.filter(isCaseFileName), loops)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG, isCaseFileName(path) else {
            throw CaseFileError(file: path, line: 0, field: "", message: "not a directory or a .yaml case file; name the cases directory (e.g. cases) or one .yaml case file")
        }
        let name = PathText.lastComponent(path)
        let root = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        return (root.isEmpty ? "/" : root, [name], [])
    }

    static func isCaseFileName(_ path: String) -> Bool { path.hasSuffix(".yaml") || path.hasSuffix(".yml") }

    /// The known-bug baseline lives beside the cases but is not one.
    static func isKnownBugs(_ rel: String) -> Bool { PathText.lastComponent(rel) == KnownBugs.fileName }

    static func readText(_ directory: String, _ rel: String) throws -> String {
        guard let bytes = SourceFiles.read(directory + "/" + rel) else {
            throw CaseFileError(file: rel, line: 0, field: "", message: "cannot read (a dangling link, or no permission); fix or remove it")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// One file's composed tree (nil: the file is empty); `file` is the name
    /// used in ids and messages. Throws the file's first error.
    public static func load(node: CaseNode?, file: String) throws -> [TestCase] {
        let (cases, errors) = try loadCollectingErrors(node: node, file: file)
        if let first = errors.first { throw first }
        return cases
    }

    /// One file's cases and every error found in it: each case is parsed on
    /// its own, and within a case each step, so one mistake hides no other.
    public static func loadCollectingErrors(node: CaseNode?, file: String) throws -> (cases: [TestCase], errors: [CaseFileError]) {
        let t0 = rf_now_ns()
        defer { timings.caseFileNs += rf_now_ns() - t0 }
        let empty = CaseFileError(file: file, line: 1, field: "",
                                  message: "the file has no cases (an empty case file is a mistake: add a case or delete the file)")
        guard let node else { return ([], [empty]) }
        let top = YAMLField(node: node, file: file, path: "")
        var out: [TestCase] = []
        var errors: [CaseFileError] = []
        let items: [YAMLField]
        do { items = try top.sequence() } catch let e as CaseFileError { return ([], [e]) }
        for (i, item) in items.enumerated() {
            do { out.append(try CaseParser(file: file).parseCase(item, index: i)) } catch {
                errors += CaseFileErrors.flatten(error, file: file, line: item.line)
            }
        }
        if out.isEmpty && errors.isEmpty { errors.append(empty) }
        return (out, errors)
    }

    /// The compiled plan of a case directory (or one case file): every case
    /// file composed by `compose` and parsed once, and the known-bug baseline
    /// at its top parsed, encoded for the guest (CompiledCases). Throws the
    /// first error, with file and line, exactly as loading the directory would.
    public static func compile(directory: String, compose: @escaping CaseComposer) throws -> [UInt8] {
        let (cases, files) = try loadCounted(directory: directory, compose: compose)
        return try compile(cases: cases, files: files, directory: directory, compose: compose)
    }

    /// The plan of cases already loaded from `directory` (`files` case files):
    /// the host parses each case file once, for its own plan and the guest's.
    public static func compile(cases: [TestCase], files: Int, directory: String, compose: @escaping CaseComposer) throws -> [UInt8] {
        let bugsPath = directory + "/" + KnownBugs.fileName
        let bugs: [KnownBug]? = SourceFiles.isDirectory(directory) && access(bugsPath, F_OK) == 0
            ? try KnownBugs.load(path: bugsPath, compose: compose) : nil
        return try CompiledCases.encode(CompiledSuite(files: files, cases: cases, knownBugs: bugs))
    }

    /// `load(directory:compose:)` and how many case files it read.
    public static func loadCounted(directory: String, compose: CaseComposer?) throws -> (cases: [TestCase], files: Int) {
        let cases = try load(directory: directory, compose: compose)
        return (cases, timings.files)
    }

    /// "registration/reserved-fields.yaml" + "Nonzero cmd_flags is rejected"
    /// → "registration/reserved-fields:nonzero-cmd_flags-is-rejected".
    public static func caseID(file: String, name: String) -> String {
        var stem = file
        for ext in [".yaml", ".yml"] where stem.hasSuffix(ext) { stem = String(stem.dropLast(ext.count)) }
        // ASCII names (all of ours) take a byte loop; Character's Unicode
        // properties were 8 % of loading time.
        if name.utf8.allSatisfy({ $0 < 0x80 }) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(name.utf8.count)
            for var b in name.utf8 {
                if b >= 0x41 && b <= 0x5a { b += 0x20 }
                let keep = (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b == 0x5f || b == 0x2e
                if keep { bytes.append(b) } else if bytes.last != 0x2d { bytes.append(0x2d) }
            }
            while bytes.last == 0x2d { bytes.removeLast() }
            return "\(stem):" + String(decoding: bytes, as: UTF8.self)
        }
        var slug = ""
        for ch in name.lowercased() {
            if ch.isLetter || ch.isNumber || ch == "_" || ch == "." { slug.append(ch) }
            else if !slug.hasSuffix("-") { slug.append("-") }
        }
        while slug.hasSuffix("-") { slug.removeLast() }
        return "\(stem):\(slug)"
    }
}

/// Where the files beside a cases path live: the path itself for a
/// directory, its directory for one case file.
public enum SourceFilesPath {
    public static func directory(of cases: String) -> String {
        if SourceFiles.isDirectory(cases) || !CaseLoader.isCaseFileName(cases) { return cases }
        let dir = cases.contains("/") ? String(cases[..<cases.lastIndex(of: "/")!]) : "."
        return dir.isEmpty ? "/" : dir
    }
}

/// Plain POSIX file access for the loaders (no Foundation in the guest).
enum SourceFiles {
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var got = 0
        while got < out.count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, $0.count - got) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        return got == out.count ? out : Array(out[0..<got])
    }

    /// Regular files below `root`, as sorted paths relative to it, and the
    /// loops it did not follow. Every directory and file is identified by
    /// device and inode, and none is read twice: a link to an enclosing
    /// directory (`up -> ..`, `self -> .`) is a loop, reported as an error
    /// naming the link; a second path to a directory or file already read
    /// is skipped (its cases load once, under the first path in sorted order).
    static func walk(_ root: String) -> (files: [String], loops: [CaseFileError]) {
        var files: [String] = []
        var loops: [CaseFileError] = []
        var seenDirs = Set<FileID>()
        var seenFiles = Set<FileID>()
        var firstPath: [FileID: String] = [:]
        func visit(_ rel: String, ancestors: Set<FileID>) {
            let dir = rel.isEmpty ? root : root + "/" + rel
            var names: [String] = []
            guard let d = opendir(dir) else { return }
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(d)
            for name in names.sorted() {
                let r = rel.isEmpty ? name : rel + "/" + name
                var st = stat()
                guard stat(root + "/" + r, &st) == 0 else { files.append(r); continue }   // a dangling link: "cannot read"
                let id = FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    if ancestors.contains(id) {
                        loops.append(CaseFileError(file: r, line: 0, field: "", message:
                            "a symbolic link back to \(firstPath[id].map { $0.isEmpty ? "the cases directory" : $0 } ?? "an enclosing directory") (a loop); remove the link"))
                    } else if !seenDirs.contains(id) {
                        seenDirs.insert(id)
                        firstPath[id] = r
                        visit(r, ancestors: ancestors.union([id]))
                    }
                } else if seenFiles.insert(id).inserted {
                    files.append(r)
                }
            }
        }
        var st = stat()
        guard stat(root, &st) == 0 else { return ([], []) }
        let top = FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
        seenDirs.insert(top)
        firstPath[top] = ""
        visit("", ancestors: [top])
        return (files.sorted(), loops)
    }

    struct FileID: Hashable { let dev: UInt64, ino: UInt64 }
}
