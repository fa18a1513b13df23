import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// File operations for the host runner that fail with a `HostError` naming
/// the path and the reason (a full disk, a read-only directory), never a trap.
public enum FileSystem {
    public static func errorText(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }

    public static func makeDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw HostError("cannot create directory \(path): \(reason(error))")
        }
    }

    /// Writes with write(2), so that ENOSPC is reported and not swallowed.
    public static func write(_ text: String, to path: String) throws { try write(Data(text.utf8), to: path) }

    public static func write(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HostError("cannot write \(path): \(errorText())") }
        var failure: Int32 = 0
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; failure = errno; return }
                off += n
            }
        }
        if failure == 0 && fsyncIfRegular(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure != 0 {
            unlink(path)
            throw HostError("cannot write \(path): \(errorText(failure))" + (failure == ENOSPC ? " (the disk is full)" : ""))
        }
    }

    private static func fsyncIfRegular(_ fd: Int32) -> Int32 { 0 }

    /// Writes to a temporary name beside `path`, then renames.
    public static func writeAtomically(_ text: String, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        try write(text, to: tmp)
        guard rename(tmp, path) == 0 else { let e = errorText(); unlink(tmp); throw HostError("cannot rename \(tmp) to \(path): \(e)") }
    }

    public static func copy(_ from: String, to: String) throws {
        guard let data = FileManager.default.contents(atPath: from) else { throw HostError("cannot read \(from)") }
        try write(data, to: to)
    }

    public static func move(_ from: String, to: String) throws {
        if rename(from, to) == 0 { return }
        throw HostError("cannot move \(from) to \(to): \(errorText())")
    }

    public static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    public static func temporaryDirectory(in parent: String, prefix: String) throws -> String {
        try makeDirectory(parent)
        var template = Array((parent + "/" + prefix + "XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HostError("cannot create a directory in \(parent): \(errorText())")
        }
        return String(cString: p)
    }

    /// Seconds since the file was modified, nil when it does not exist.
    public static func age(_ path: String) -> Double? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Date().timeIntervalSince1970 - Double(st.st_mtim.tv_sec)
    }

    public static func size(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    public static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    /// The first path under `dir` (depth first, sorted) for which `match` holds.
    public static func find(in dir: String, where match: (String) -> Bool) -> String? {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return nil }
        var all: [String] = []
        while let rel = e.nextObject() as? String { all.append(dir + "/" + rel) }
        return all.sorted().first(where: match)
    }

    /// SHA-256 in hex (sha256sum from coreutils).
    public static func sha256(_ path: String, phase: String? = nil) throws -> String {
        let out = try HostProcess.check(["sha256sum", path], phase: phase ?? "checking \(path)")
        return String(out.prefix { $0 != " " }).lowercased()
    }

    /// Free bytes on the file system holding `path` (nil if unknown).
    public static func freeBytes(_ path: String) -> Int? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    /// Proves that `dir` (created if needed) takes new files.
    public static func checkWritable(_ dir: String, what: String) throws {
        do { try makeDirectory(dir) } catch let e as HostError { throw HostError("\(what): \(e.message)") }
        let probe = dir + "/.ringfence-write-test-\(getpid())"
        do { try write("x", to: probe) } catch let e as HostError {
            throw HostError("\(what) is not writable: \(e.message)")
        }
        unlink(probe)
    }

    /// `p` against the current directory when it is relative.
    public static func absolute(_ p: String) -> String {
        p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
    }

    public static func megabytes(_ bytes: Int) -> String {
        String(format: "%.1f MB", Double(bytes) / 1e6)
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain { return errorText(Int32(u.code)) }
        if ns.domain == NSPOSIXErrorDomain { return errorText(Int32(ns.code)) }
        return ns.localizedDescription
    }
}
