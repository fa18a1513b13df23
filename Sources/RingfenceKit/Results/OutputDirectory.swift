import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A run's results directory (out/<release>/ by default).
///
/// The rule (README, "Where results go"): ringfence writes only its own
/// files and never deletes or overwrites a file it did not write.
/// - Every directory it fills gets a manifest, `.ringfence-manifest`, listing
///   each file and directory it wrote there (paths relative to the directory).
/// - A run may use a directory that does not exist, an empty one, or one that
///   holds an earlier ringfence run (a manifest, or only the names ringfence
///   writes: results directories from before manifests existed). Any other
///   non-empty directory is refused before anything is written (exit 2).
/// - The next run into it replaces only the entries listed in the manifest;
///   anything else found there (a note a user added) stays as it was.
///
/// The run writes into a fresh staging directory beside the results and
/// moves it into place only when it has a verdict, so a reader never sees one
/// run's console log with another run's results (when the directory holds
/// nothing but ringfence's files the swap is a single rename). A lock per
/// directory keeps two runs from sharing it; whoever holds the lock also
/// removes the staging directories that killed runs left behind.
public final class OutputDirectory {
    public static let manifestName = ".ringfence-manifest"
    /// What ringfence puts at the top of a results directory (for results
    /// directories written before manifests existed).
    static let legacyNames: Set<String> = ["cmdline", "console.log", "qemu.log", "console.kvm-failed.log", "console.boot1.log",
                                           "results.ktap", "results.json", "results.junit.xml", "summary.txt", "INCOMPLETE",
                                           "bench.svg", "bench.json", "coverage", "gcov.tar", "gcov.cpio"]

    public let path: String
    public let staging: String
    var lockFD: Int32
    public private(set) var published = false

    /// `shown` is how the user named the directory (for messages), e.g. "--out ~/x".
    public init(_ given: String, shown: String? = nil) throws {
        let p = try OutputDirectory.resolve(given, shown: shown ?? given)
        let parent = (p as NSString).deletingLastPathComponent
        let name = (p as NSString).lastPathComponent
        try FileSystem.makeDirectory(parent)
        self.path = p
        let lockPath = "\(parent)/.\(name).lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HostError("cannot create \(lockPath): \(FileSystem.errorText())") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw HostError("another ringfence vm is writing \(p) (it holds \(lockPath)); wait for it, or give this run its own --out")
        }
        lockFD = fd
        // Holding the lock, no live run owns a staging directory of this name:
        // the ones here were left by runs that were killed.
        for e in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where e.hasPrefix(".\(name).run-") {
            FileSystem.remove(parent + "/" + e)
        }
        do { try OutputDirectory.checkUsable(p, shown: shown ?? given) } catch { flock(fd, LOCK_UN); close(fd); throw error }
        staging = "\(parent)/.\(name).run-\(getpid())"
        do { try FileSystem.makeDirectory(staging) } catch { flock(fd, LOCK_UN); close(fd); throw error }
    }

    deinit { unlock() }

    func unlock() { if lockFD >= 0 { flock(lockFD, LOCK_UN); close(lockFD); lockFD = -1 } }

    /// Lets the next run take the directory (as this object's end would).
    public func release() { unlock() }

    /// An absolute path without `.`/`..` components, symbolic links resolved
    /// when the directory exists; never `/`.
    public static func resolve(_ given: String, shown: String) throws -> String {
        var p = (FileSystem.absolute(given) as NSString).standardizingPath
        if let real = realpath(p, nil) { p = String(cString: real); free(real) }
        guard p != "/" && !p.isEmpty else {
            throw HostError("\(shown): the root directory cannot hold a run's results; give a new or empty directory, e.g. --out out/run1")
        }
        return p
    }

    /// Throws unless `path` is missing, empty, or holds an earlier ringfence run.
    public static func checkUsable(_ path: String, shown: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw HostError("\(shown) exists and is not a directory; ringfence never replaces a file it did not write: give a new or empty directory")
        }
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
        if entries.isEmpty || isRingfenceDirectory(path, entries: entries) { return }
        let shownEntries = entries.prefix(3).map { "'\($0)'" }.joined(separator: ", ") + (entries.count > 3 ? ", …" : "")
        throw HostError("\(shown) (\(path)) already holds \(entries.count) entr\(entries.count == 1 ? "y" : "ies") ringfence did not write (\(shownEntries)); "
                        + "ringfence never deletes or overwrites them. Give a new or empty directory, or one that holds an earlier ringfence run")
    }

    static func isRingfenceDirectory(_ path: String, entries: [String]) -> Bool {
        if entries.contains(manifestName) { return true }
        // A results directory from before manifests: only ringfence's names, and its summary or INCOMPLETE note.
        return entries.allSatisfy { legacyNames.contains($0) } && (entries.contains("summary.txt") || entries.contains("INCOMPLETE"))
    }

    /// What the manifest in `dir` lists (files, and directories with a trailing /);
    /// for a directory from before manifests, everything under its ringfence names.
    static func manifest(of dir: String) -> Set<String> {
        if let text = try? String(contentsOfFile: dir + "/" + manifestName, encoding: .utf8) {
            return Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty })
        }
        let top = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { legacyNames.contains($0) }
        var all = Set<String>()
        for t in top { all.formUnion(walk(dir, under: t)) }
        return all
    }

    /// Every entry under `dir`/`rel` (rel itself included), relative to `dir`,
    /// directories with a trailing "/", symbolic links not followed.
    static func walk(_ dir: String, under rel: String = "") -> [String] {
        var out: [String] = []
        func visit(_ r: String) {
            var st = stat()
            guard lstat(dir + "/" + r, &st) == 0 else { return }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                out.append(r + "/")
                for e in ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/" + r)) ?? []).sorted() { visit(r + "/" + e) }
            } else {
                out.append(r)
            }
        }
        if rel.isEmpty {
            for e in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() { visit(e) }
        } else {
            visit(rel)
        }
        return out
    }

    static func writeManifest(_ dir: String, entries: [String]) throws {
        let text = "# written by ringfence: the files and directories below are ringfence's and the next run into this directory replaces them;\n"
            + "# anything else here is never touched\n" + entries.filter { $0 != manifestName }.sorted().joined(separator: "\n") + "\n"
        try FileSystem.write(text, to: dir + "/" + manifestName)
    }

    /// Adds entries that were written into a published directory (e.g. coverage/).
    public static func record(_ dir: String, adding rels: [String]) throws {
        var all = manifest(of: dir)
        for r in rels { all.formUnion(walk(dir, under: r)) }
        try writeManifest(dir, entries: Array(all))
    }

    /// Puts the staging directory's files in place of the previous run's.
    public func publish() throws {
        try OutputDirectory.writeManifest(staging, entries: OutputDirectory.walk(staging))
        try OutputDirectory.install(staging: staging, into: path)
        published = true
    }

    static func install(staging: String, into path: String) throws {
        var st = stat()
        let exists = lstat(path, &st) == 0
        // A missing or empty directory: one rename (rename(2) replaces an empty directory).
        if !exists || ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? ["?"]).isEmpty {
            if rename(staging, path) == 0 { return }
            if exists { throw HostError("cannot move \(staging) to \(path): \(FileSystem.errorText())") }
        }
        try checkUsable(path, shown: path)
        let old = manifest(of: path).union([manifestName])
        let present = walk(path)
        let foreign = present.filter { !old.contains($0) }
        if foreign.isEmpty {
            // Everything there is ringfence's: swap the directories.
            let aside = staging + ".old"
            FileSystem.remove(aside)
            guard rename(path, aside) == 0 else { throw HostError("cannot move the previous \(path) aside: \(FileSystem.errorText())") }
            guard rename(staging, path) == 0 else {
                let e = FileSystem.errorText()
                _ = rename(aside, path)
                throw HostError("cannot move \(staging) to \(path): \(e)")
            }
            FileSystem.remove(aside)
            return
        }
        // Files a user added are kept: replace ringfence's own entries one by one.
        let mine = walk(staging).filter { !$0.dropLast($0.hasSuffix("/") ? 1 : 0).contains("/") }
        for entry in mine {
            let name = entry.hasSuffix("/") ? String(entry.dropLast()) : entry
            if foreign.contains(where: { $0 == entry || $0 == name + "/" || $0.hasPrefix(name + "/") }) && !old.contains(entry) && !old.contains(name + "/") {
                throw HostError("\(path)/\(name) was not written by ringfence and is kept; this run's results are in \(staging)")
            }
        }
        // The previous run's entries go, deepest first; a directory only once it is empty.
        unlink(path + "/" + manifestName)
        for rel in old.sorted(by: { $0.count > $1.count }) where rel != manifestName {
            if rel.hasSuffix("/") { rmdir(path + "/" + rel) } else { unlink(path + "/" + rel) }
        }
        for entry in mine where entry != manifestName {
            let name = entry.hasSuffix("/") ? String(entry.dropLast()) : entry
            var s2 = stat()
            if lstat(path + "/" + name, &s2) == 0 {
                // A directory of ours that still holds a user's file: merge into it.
                try mergeDirectory(staging + "/" + name, into: path + "/" + name)
                continue
            }
            guard rename(staging + "/" + name, path + "/" + name) == 0 else {
                throw HostError("cannot move \(staging)/\(name) to \(path): \(FileSystem.errorText())")
            }
        }
        let all = manifest(of: staging)
        try writeManifest(path, entries: Array(all))
        FileSystem.remove(staging)
    }

    static func mergeDirectory(_ from: String, into to: String) throws {
        for e in (try? FileManager.default.contentsOfDirectory(atPath: from)) ?? [] {
            var st = stat()
            if lstat(to + "/" + e, &st) == 0 {
                if (st.st_mode & S_IFMT) == S_IFDIR && FileSystem.isDirectory(from + "/" + e) { try mergeDirectory(from + "/" + e, into: to + "/" + e); continue }
                throw HostError("\(to)/\(e) was not written by ringfence and is kept; this run's copy is \(from)/\(e)")
            }
            guard rename(from + "/" + e, to + "/" + e) == 0 else { throw HostError("cannot move \(from)/\(e) to \(to): \(FileSystem.errorText())") }
        }
    }

    /// An incomplete run: the previous run's results are removed (they are not
    /// this run's; files ringfence did not write stay), and what this run has
    /// (its console log) stays with a note saying why there is no verdict.
    public func abandon(reason: String) {
        try? FileSystem.write("this run did not finish: \(reason)\nno results were written; rerun to get a verdict\n", to: staging + "/INCOMPLETE")
        do { try publish() } catch {
            FileHandle.standardError.write(Data("ringfence: \(error); the incomplete run's files are in \(staging)\n".utf8))
        }
        published = true
    }
}
