import Foundation

/// Which kernel modules (with their dependencies) to put in the initramfs,
/// read from a modules.dep text (`kernel/net/sctp/sctp.ko.xz: kernel/lib/libcrc32c.ko.xz`).
public struct ModuleIndex {
    /// module name ("sctp", '-' read as '_') → (path, dependency paths)
    public var byName: [String: (path: String, deps: [String])] = [:]

    public init(modulesDep text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon])
            let deps = line[line.index(after: colon)...].split(separator: " ").map(String.init)
            byName[Self.moduleName(path)] = (path, deps)
        }
    }

    /// "kernel/net/sctp/sctp.ko.xz" → "sctp"; dashes become underscores as the kernel does.
    public static func moduleName(_ path: String) -> String {
        var base = path.split(separator: "/").last.map(String.init) ?? path
        for ext in [".xz", ".zst", ".gz"] where base.hasSuffix(ext) { base.removeLast(ext.count) }
        if base.hasSuffix(".ko") { base.removeLast(3) }
        return base.replacingOccurrences(of: "-", with: "_")
    }

    /// Paths of `name` and everything it depends on (dependencies first), or
    /// nil when the module is not in the index.
    public func closure(_ name: String) -> [String]? {
        guard let entry = byName[name.replacingOccurrences(of: "-", with: "_")] else { return nil }
        // modules.dep already lists the full dependency closure, in load order reversed.
        return entry.deps.reversed() + [entry.path]
    }

    /// The file name a compressed module gets once decompressed.
    public static func uncompressedPath(_ path: String) -> String {
        for ext in [".xz", ".zst", ".gz"] where path.hasSuffix(ext) { return String(path.dropLast(ext.count)) }
        return path
    }
}
