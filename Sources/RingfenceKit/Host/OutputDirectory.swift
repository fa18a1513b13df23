import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A run's results directory (out/<release>/ by default). The run writes into
/// a fresh staging directory beside it and moves it into place only when it
/// has a verdict, so a reader never sees one run's console log with another
/// run's results. A lock per directory keeps two runs from sharing it.
public final class OutputDirectory {
    public let path: String
    public let staging: String
    let lockFD: Int32
    public private(set) var published = false

    public init(_ path: String) throws {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        let parent = (p as NSString).deletingLastPathComponent.isEmpty ? "." : (p as NSString).deletingLastPathComponent
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
        staging = "\(parent)/.\(name).run-\(getpid())"
        FileSystem.remove(staging)
        do { try FileSystem.makeDirectory(staging) } catch { close(fd); throw error }
    }

    deinit { unlock() }

    func unlock() { if lockFD >= 0 { flock(lockFD, LOCK_UN); close(lockFD) } }

    /// Replaces the directory with the staging one.
    public func publish() throws {
        let old = staging + ".old"
        FileSystem.remove(old)
        if FileManager.default.fileExists(atPath: path) {
            guard rename(path, old) == 0 else { throw HostError("cannot move the previous \(path) aside: \(FileSystem.errorText())") }
        }
        guard rename(staging, path) == 0 else { throw HostError("cannot move \(staging) to \(path): \(FileSystem.errorText())") }
        FileSystem.remove(old)
        published = true
    }

    /// An incomplete run: the previous results are removed (they are not this
    /// run's), and what this run has (its console log) stays with a note saying why
    /// there is no verdict.
    public func abandon(reason: String) {
        try? FileSystem.write("this run did not finish: \(reason)\nno results were written; rerun to get a verdict\n", to: staging + "/INCOMPLETE")
        FileSystem.remove(path)
        if rename(staging, path) != 0 { FileSystem.remove(staging) }
        published = true
    }
}
