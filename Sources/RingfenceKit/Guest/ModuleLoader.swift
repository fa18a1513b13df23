import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// Loads kernel modules with libkmod, the way `modprobe NAME` would:
/// aliases are resolved and dependencies inserted first, from
/// /lib/modules/<uname -r>/modules.dep (run-in-vm.sh runs `depmod -b` on
/// the initramfs tree so that file is there).
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

    private let ctx: OpaquePointer
    /// The module directory libkmod reads (nil: /lib/modules/`uname -r`).
    public let directory: String?

    public init(directory: String? = nil) throws {
        let made: OpaquePointer? = directory.map { dir in dir.withCString { kmod_new($0, nil) } } ?? kmod_new(nil, nil)
        guard let made else {
            throw LoadError(module: "*", reason: "kmod_new failed")
        }
        ctx = made
        self.directory = directory
        _ = kmod_load_resources(ctx)
    }

    deinit { kmod_unref(ctx) }

    /// True when /sys/module/NAME exists (built-in modules with parameters
    /// and every loaded module show up there).
    public static func isPresent(_ name: String) -> Bool {
        let sysName = name.replacingDashes()
        return access("/sys/module/\(sysName)", F_OK) == 0
    }

    /// Loads `name` (a module name or alias) and its dependencies.
    @discardableResult
    public func load(_ name: String) throws -> Outcome {
        var list: OpaquePointer?
        let err = kmod_module_new_from_lookup(ctx, name, &list)
        if err < 0 {
            throw LoadError(module: name, reason: "lookup failed: \(ModuleLoader.errnoText(-err))")
        }
        defer { if list != nil { kmod_module_unref_list(list) } }
        guard list != nil else {
            if ModuleLoader.isPresent(name) { return .alreadyPresent }
            throw LoadError(module: name, reason: "not found in \(directory ?? "/lib/modules/\(ModuleLoader.release())")")
        }
        var outcome: Outcome = .alreadyPresent
        var entry = list
        while let e = entry {
            if let mod = kmod_module_get_module(e) {
                defer { kmod_module_unref(mod) }
                let state = kmod_module_get_initstate(mod)
                let live = state == Int32(KMOD_MODULE_LIVE.rawValue) || state == Int32(KMOD_MODULE_BUILTIN.rawValue)
                if !live {
                    let r = kmod_module_probe_insert_module(mod, 0, nil, nil, nil, nil)
                    if r < 0 {
                        let modName = String(cString: kmod_module_get_name(mod))
                        throw LoadError(module: name, reason: "insert \(modName) failed: \(ModuleLoader.errnoText(-r))")
                    } else if r > 0 {
                        // KMOD_PROBE_APPLY_BLACKLIST* results; not requested, but report them.
                        throw LoadError(module: name, reason: "probe refused (\(r))")
                    }
                    outcome = .loaded
                }
            }
            entry = kmod_list_next(list, e)
        }
        return outcome
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
