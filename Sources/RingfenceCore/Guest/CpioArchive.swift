#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A cpio "newc" archive (the format the kernel unpacks as an initramfs,
/// Documentation/driver-api/early-userspace/buffer-format.rst), written in
/// memory from a list of entries: no cpio, find or sort on the host.
public struct CpioArchive {
    public enum Kind: Equatable {
        case directory
        case file(Data)
        case symlink(String)
        /// A character device (major, minor), e.g. /dev/console 5:1.
        case charDevice(UInt32, UInt32)
    }

    public struct Entry: Equatable {
        public var path: String
        public var mode: UInt32
        public var kind: Kind
        public init(path: String, mode: UInt32, kind: Kind) { self.path = path; self.mode = mode; self.kind = kind }
    }

    public private(set) var entries: [Entry] = []
    private var paths: Set<String> = []

    public init() {}

    /// Adds an entry and, first, any parent directory not yet present.
    /// A path already present is replaced.
    public mutating func add(_ entry: Entry) {
        var e = entry
        e.path = Self.normalize(e.path)
        let parts = e.path.split(separator: "/")
        for i in 1..<max(parts.count, 1) {
            let dir = parts[0..<i].joined(separator: "/")
            if !paths.contains(dir) { paths.insert(dir); entries.append(Entry(path: dir, mode: 0o755, kind: .directory)) }
        }
        if paths.contains(e.path) {
            entries.removeAll { $0.path == e.path }
        }
        paths.insert(e.path)
        entries.append(e)
    }

    public mutating func addFile(_ path: String, _ data: Data, mode: UInt32 = 0o644) {
        add(Entry(path: path, mode: mode, kind: .file(data)))
    }

    public mutating func addDirectory(_ path: String, mode: UInt32 = 0o755) {
        add(Entry(path: path, mode: mode, kind: .directory))
    }

    public func contains(_ path: String) -> Bool { paths.contains(Self.normalize(path)) }

    /// Total size of the file contents.
    public var payloadBytes: Int {
        entries.reduce(0) { n, e in if case .file(let d) = e.kind { return n + d.count }; return n }
    }

    static func normalize(_ p: String) -> String {
        p.split(separator: "/").filter { $0 != "." && !$0.isEmpty }.joined(separator: "/")
    }

    /// The archive bytes: entries in order (parents first), then TRAILER!!!.
    public func bytes() -> Data {
        var out = Data()
        out.reserveCapacity(payloadBytes + entries.count * 256 + 512)
        var ino: UInt32 = 1
        for e in entries {
            let (type, data, rdev): (UInt32, Data, (UInt32, UInt32)) = {
                switch e.kind {
                case .directory: return (0o040000, Data(), (0, 0))
                case .file(let d): return (0o100000, d, (0, 0))
                case .symlink(let target): return (0o120000, Data(target.utf8), (0, 0))
                case .charDevice(let ma, let mi): return (0o020000, Data(), (ma, mi))
                }
            }()
            Self.appendHeader(&out, name: e.path, ino: ino, mode: type | (e.mode & 0o7777),
                              nlink: type == 0o040000 ? 2 : 1, size: UInt32(data.count), rdev: rdev)
            out.append(data)
            Self.pad(&out)
            ino += 1
        }
        Self.appendHeader(&out, name: "TRAILER!!!", ino: 0, mode: 0, nlink: 1, size: 0, rdev: (0, 0))
        // The kernel accepts any length; pad to 512 as cpio(1) does.
        while out.count % 512 != 0 { out.append(0) }
        return out
    }

    static func appendHeader(_ out: inout Data, name: String, ino: UInt32, mode: UInt32, nlink: UInt32, size: UInt32, rdev: (UInt32, UInt32)) {
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, UInt32(nameBytes.count), 0]
        var header = "070701"
        for f in fields {
            let hex = String(f, radix: 16, uppercase: true)
            header += String(repeating: "0", count: 8 - hex.count) + hex
        }
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: nameBytes)
        pad(&out)
    }

    static func pad(_ out: inout Data) {
        while out.count % 4 != 0 { out.append(0) }
    }

    /// The regular files of an archive, in order (the guest's gcov.cpio).
    public static func files(_ data: Data) throws -> [(path: String, contents: Data)] {
        try parse(data).compactMap { e in
            if case .file(let d) = e.kind { return (e.path, d) }
            return nil
        }
    }

    /// Reads a newc archive back (tests, `--write-initramfs` checks, gcov.cpio).
    public static func parse(_ data: Data) throws -> [Entry] {
        let b = [UInt8](data)
        var i = 0
        var result: [Entry] = []
        func field(_ k: Int) throws -> UInt32 {
            let start = i + 6 + k * 8
            guard start + 8 <= b.count, let v = UInt32(String(decoding: b[start..<start + 8], as: UTF8.self), radix: 16) else {
                throw CpioError("bad cpio header at offset \(i)")
            }
            return v
        }
        while i + 110 <= b.count {
            guard String(decoding: b[i..<i + 6], as: UTF8.self) == "070701" else { throw CpioError("bad cpio magic at offset \(i)") }
            let mode = try field(1), size = Int(try field(6)), rmaj = try field(9), rmin = try field(10), nameSize = Int(try field(11))
            let nameStart = i + 110
            guard nameStart + nameSize <= b.count else { throw CpioError("truncated cpio name at offset \(i)") }
            let name = String(decoding: b[nameStart..<nameStart + nameSize - 1], as: UTF8.self)
            var j = nameStart + nameSize
            while j % 4 != 0 { j += 1 }
            if name == "TRAILER!!!" { return result }
            guard j + size <= b.count else { throw CpioError("truncated cpio data for \(name)") }
            let payload = Data(b[j..<j + size])
            let kind: Kind
            switch mode & 0o170000 {
            case 0o040000: kind = .directory
            case 0o120000: kind = .symlink(String(decoding: payload, as: UTF8.self))
            case 0o020000: kind = .charDevice(rmaj, rmin)
            default: kind = .file(payload)
            }
            result.append(Entry(path: name, mode: mode & 0o7777, kind: kind))
            j += size
            while j % 4 != 0 { j += 1 }
            i = j
        }
        throw CpioError("cpio archive has no trailer")
    }
}

/// A cpio archive that cannot be read.
public struct CpioError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
