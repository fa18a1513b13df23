#if canImport(Glibc)
import Glibc
#endif

/// A file ringfence is about to write (run --results, kcidb --output).
public enum OutputPath {
    /// Why no file can be written at `path`, or nil: checked before a long
    /// run, so it does not end in a failed write (or a Foundation error dump).
    public static func problem(_ path: String) -> String? {
        if path.isEmpty { return "an empty path; give a file name" }
        var st = stat()
        if stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { return "is a directory; give a file name" }
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let d = dir.isEmpty ? "/" : dir
        if stat(d, &st) != 0 { return "its directory \(d) does not exist; create it (mkdir -p \(d)) or pick another path" }
        if (st.st_mode & S_IFMT) != S_IFDIR { return "\(d) is not a directory; pick another path" }
        if access(d, W_OK | X_OK) != 0 { return "its directory \(d) is not writable; pick another path" }
        if access(path, F_OK) == 0 && access(path, W_OK) != 0 { return "exists and is not writable; pick another path" }
        return nil
    }
}
