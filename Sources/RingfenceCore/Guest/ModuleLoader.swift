import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// Loads kernel modules the way `modprobe NAME` would, without libkmod (the
/// guest binary is static and carries no shared libraries): the name (or an
/// exact alias from modules.alias) is looked up in modules.dep, then the
/// dependencies and the module are inserted with finit_module(2), the
/// deepest dependency first. The host puts the modules in the initramfs
/// uncompressed and runs `depmod -b` on that tree, so modules.dep is there.
///
/// Usable from the guest init and from the runner (on demand, e.g. before a
/// case that requires `module:sctp`).
public final class ModuleLoader {
    public enum Outcome: Equatable, CustomStringConvertible {
        /// Inserted by this call (with its dependencies).
        case loaded
        /// Present already: built in, or loaded earlier.
        case alreadyPresent
        public var description: String {
            switch self {
            case .loaded: return "loaded"
            case .alreadyPresent: return "already present"
            }
        }
    }

    public struct LoadError: Error, CustomStringConvertible {
        public let module: String
        public let reason: String
        public var description: String { "module \(module): \(reason)" }
    }

    /// The module directory (nil: /lib/modules/`uname -r`).
    public let directory: String?
    let base: String
    /// Normalised module name → (path relative to `base`, its dependencies in modules.dep order).
    let entries: [String: (path: String, deps: [String])]
    let builtin: Set<String>
    let aliases: [String: String]

    public init(directory: String? = nil) throws {
        self.directory = directory
        base = directory ?? "/lib/modules/\(ModuleLoader.release())"
        guard let dep = ModuleLoader.read(base + "/modules.dep") else {
            throw LoadError(module: "*", reason: "no modules.dep in \(base)")
        }
        entries = ModuleLoader.parseDep(dep)
        builtin = Set((ModuleLoader.read(base + "/modules.builtin") ?? "").split(separator: "\n").map { ModuleLoader.name(ofPath: String($0)) })
        var a: [String: String] = [:]
        for line in (ModuleLoader.read(base + "/modules.alias") ?? "").split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 3, f[0] == "alias" { a[String(f[1])] = ModuleLoader.normalise(String(f[2])) }
        }
        aliases = a
    }

    /// modules.dep: `kernel/net/sctp/sctp.ko: kernel/lib/libcrc32c.ko`.
    static func parseDep(_ text: String) -> [String: (path: String, deps: [String])] {
        var out: [String: (path: String, deps: [String])] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon])
            let deps = line[line.index(after: colon)...].split(separator: " ").map(String.init)
            out[name(ofPath: path)] = (path, deps)
        }
        return out
    }

    /// `kernel/net/sctp/sctp.ko` → `sctp`; dashes become underscores as in /sys/module.
    static func name(ofPath path: String) -> String {
        var file = Substring(path.split(separator: "/").last ?? Substring(path))
        for ext in [".xz", ".zst", ".gz"] where file.hasSuffix(ext) { file = file.dropLast(ext.count) }
        if file.hasSuffix(".ko") { file = file.dropLast(3) }
        return normalise(String(file))
    }

    static func normalise(_ name: String) -> String { name.replacingDashes() }

    /// True when /sys/module/NAME exists (built-in modules with parameters
    /// and every loaded module show up there).
    public static func isPresent(_ name: String) -> Bool {
        access("/sys/module/\(name.replacingDashes())", F_OK) == 0
    }

    /// Loads `name` (a module name or an exact alias) and its dependencies.
    @discardableResult
    public func load(_ name: String) throws -> Outcome {
        let key = entries[ModuleLoader.normalise(name)] != nil ? ModuleLoader.normalise(name) : (aliases[name] ?? ModuleLoader.normalise(name))
        guard let entry = entries[key] else {
            if ModuleLoader.isPresent(key) || builtin.contains(key) { return .alreadyPresent }
            throw LoadError(module: name, reason: "not found in \(base)")
        }
        if ModuleLoader.isPresent(key) { return .alreadyPresent }
        var outcome: Outcome = .alreadyPresent
        for path in entry.deps.reversed() + [entry.path] {
            let mod = ModuleLoader.name(ofPath: path)
            if ModuleLoader.isPresent(mod) { continue }
            let full = path.hasPrefix("/") ? path : base + "/" + path
            let fd = open(full, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw LoadError(module: name, reason: "cannot open \(full): \(ModuleLoader.errnoText(errno))") }
            let r = rf_finit_module(fd, "", 0)
            close(fd)
            if r == -EEXIST { continue }
            if r < 0 { throw LoadError(module: name, reason: "insert \(mod) failed: \(ModuleLoader.errnoText(-r))") }
            outcome = .loaded
        }
        return outcome
    }

    static func read(_ path: String) -> String? {
        SourceFiles.read(path).map { String(decoding: $0, as: UTF8.self) }
    }

    static func errnoText(_ e: Int32) -> String {
        let name = rf_errno_name(e).map { String(cString: $0) } ?? "errno \(e)"
        return "\(name) (\(String(cString: strerror(e))))"
    }

    static func release() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

extension String {
    func replacingDashes() -> String {
        String(map { $0 == "-" ? "_" : $0 })
    }
}
