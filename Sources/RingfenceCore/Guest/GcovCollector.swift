#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Kernel gcov counters out of the guest. With `ringfence.gcov=1` on the
/// kernel command line, GuestInit calls `collect()` after the suite: every
/// `*.gcda` under /sys/kernel/debug/gcov (the shim mounts debugfs) goes,
/// with its path relative to that directory, into one cpio (newc) archive,
/// /tmp/ringfence-out/gcov.cpio, which GuestResults sends over the console
/// like results.json. On the host, `ringfence verdict --files DIR` writes it
/// back out and ci/coverage.sh unpacks it next to the build's .gcno files.
public enum GcovCollector {
    public static let root = "/sys/kernel/debug/gcov"
    public static let archiveName = "gcov.cpio"

    /// Packs the counters; returns a console line for the log.
    @discardableResult
    public static func collect(root: String = root, into directory: String = GuestResults.directory) -> String {
        var archive = CpioArchive()
        var count = 0, bytes = 0
        for rel in gcdaPaths(under: root) {
            // debugfs reports size 0: read to EOF rather than trusting stat.
            guard let data = readAll(root + "/" + rel) else { continue }
            archive.addFile(rel, data)
            count += 1
            bytes += data.count
        }
        if count == 0 {
            return "# gcov: no .gcda files under \(root) (kernel without CONFIG_GCOV_KERNEL, or debugfs not mounted)"
        }
        let ok = FileManager.default.createFile(atPath: directory + "/" + archiveName, contents: archive.bytes())
        return ok ? "# gcov: \(count) .gcda files, \(bytes) bytes, in \(archiveName)"
            : "# gcov: cannot write \(directory)/\(archiveName)"
    }

    /// Relative paths of every .gcda below `root` (symbolic links — debugfs
    /// links .gcno names to the build tree — are not followed), sorted.
    static func gcdaPaths(under root: String) -> [String] {
        var out: [String] = []
        func walk(_ rel: String) {
            let dir = rel.isEmpty ? root : root + "/" + rel
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in names.sorted() {
                let childRel = rel.isEmpty ? name : rel + "/" + name
                var st = stat()
                guard lstat(root + "/" + childRel, &st) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    walk(childRel)
                } else if (st.st_mode & S_IFMT) == S_IFREG && name.hasSuffix(".gcda") {
                    out.append(childRel)
                }
            }
        }
        walk("")
        return out
    }

    static func readAll(_ path: String) -> Data? {
        // Read to EOF, not by st_size: debugfs gcda files may report size 0.
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        return Data(RingfenceCore.readAll(f))
    }
}
