import Foundation

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
        var files: [CpioNewc.Entry] = []
        for rel in gcdaPaths(under: root) {
            // debugfs reports size 0: read to EOF rather than trusting stat.
            guard let data = readAll(root + "/" + rel) else { continue }
            files.append(CpioNewc.Entry(path: rel, contents: data))
        }
        if files.isEmpty {
            return "# gcov: no .gcda files under \(root) (kernel without CONFIG_GCOV_KERNEL, or debugfs not mounted)"
        }
        let archive = CpioNewc.pack(files)
        let ok = FileManager.default.createFile(atPath: directory + "/" + archiveName, contents: archive)
        let bytes = files.reduce(0) { $0 + $1.contents.count }
        return ok ? "# gcov: \(files.count) .gcda files, \(bytes) bytes, in \(archiveName)"
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
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        return data
    }
}

/// The cpio "newc" format (what `cpio -H newc` writes and `cpio -i` reads):
/// regular files only, mode 0644, mtime 0, with the directories their paths need.
public enum CpioNewc {
    public struct Entry: Equatable, Sendable {
        public let path: String
        public let contents: Data
        public init(path: String, contents: Data) {
            self.path = path
            self.contents = contents
        }
    }

    public struct FormatError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { "cpio: \(message)" }
    }

    static let magic = "070701"
    static let trailer = "TRAILER!!!"

    public static func pack(_ entries: [Entry]) -> Data {
        var out = Data()
        var ino: UInt32 = 1
        var dirs = Set<String>()
        for e in entries {
            // Parent directories first, so that `cpio -id` needs no -d to create them.
            let parts = e.path.split(separator: "/").dropLast()
            var prefix = ""
            for p in parts {
                prefix = prefix.isEmpty ? String(p) : prefix + "/" + p
                if dirs.insert(prefix).inserted {
                    appendEntry(&out, name: prefix, mode: 0o040755, ino: ino, nlink: 2, data: Data())
                    ino += 1
                }
            }
            appendEntry(&out, name: e.path, mode: 0o100644, ino: ino, nlink: 1, data: e.contents)
            ino += 1
        }
        appendEntry(&out, name: trailer, mode: 0, ino: 0, nlink: 1, data: Data())
        return out
    }

    /// The regular files of an archive (directories and the trailer left out).
    public static func unpack(_ data: Data) throws -> [Entry] {
        let bytes = [UInt8](data)
        var entries: [Entry] = []
        var at = 0
        while true {
            guard at + 110 <= bytes.count else { throw FormatError(message: "truncated header at offset \(at)") }
            guard String(decoding: bytes[at..<at + 6], as: UTF8.self) == magic else {
                throw FormatError(message: "bad magic at offset \(at)")
            }
            func field(_ i: Int) throws -> Int {
                let start = at + 6 + 8 * i
                guard let v = Int(String(decoding: bytes[start..<start + 8], as: UTF8.self), radix: 16) else {
                    throw FormatError(message: "bad header field \(i) at offset \(at)")
                }
                return v
            }
            let mode = try field(1)
            let size = try field(6)
            let nameSize = try field(11)
            guard nameSize >= 1 else { throw FormatError(message: "empty name at offset \(at)") }
            let nameStart = at + 110
            let dataStart = align4(nameStart + nameSize)
            guard dataStart <= bytes.count, dataStart + size <= bytes.count else {
                throw FormatError(message: "truncated entry at offset \(at)")
            }
            let name = String(decoding: bytes[nameStart..<nameStart + nameSize - 1], as: UTF8.self)
            if name == trailer { return entries }
            if mode & 0o170000 == 0o100000 {
                entries.append(Entry(path: name, contents: Data(bytes[dataStart..<dataStart + size])))
            }
            at = align4(dataStart + size)
        }
    }

    static func align4(_ n: Int) -> Int { (n + 3) & ~3 }

    static func appendEntry(_ out: inout Data, name: String, mode: UInt32, ino: UInt32, nlink: UInt32, data: Data) {
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [ino, mode, 0, 0, nlink, 0, UInt32(data.count), 0, 0, 0, 0, UInt32(nameBytes.count), 0]
        var header = magic
        for f in fields {
            let hex = String(f, radix: 16, uppercase: true)
            header += String(repeating: "0", count: 8 - hex.count) + hex
        }
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: nameBytes)
        while out.count % 4 != 0 { out.append(0) }
        out.append(data)
        while out.count % 4 != 0 { out.append(0) }
    }
}
