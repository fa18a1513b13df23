// Kernel .config checks and build commands for a developer's own kernel tree.
//
// The VM runner calls `KernelConfig.missing(configText:)` before it boots a
// kernel whose .config it knows, and stops (exit 2) naming each missing
// option instead of waiting for a guest that cannot boot, print or power off.
// `KernelBuild.plan(...)` spells out the make / merge_config.sh invocations
// that build ci/ringfence.config on top of tinyconfig (or on top of the
// developer's own .config) out of tree, in an O= directory keyed by the tree
// and the configuration, so that a rerun is an incremental build.
// Nothing here runs a process or touches the file system.

import Foundation

/// The commands that build a kernel tree with ringfence's fragment, out of tree.
public enum KernelBuild {
    /// One command: an argument vector run in a directory.
    public struct Command: Equatable, Sendable, CustomStringConvertible {
        public let argv: [String]
        public let directory: String
        public var description: String { "(cd \(shellQuote(directory)) && " + argv.map(shellQuote).joined(separator: " ") + ")" }
    }

    public struct Plan: Equatable, Sendable {
        /// The O= directory: `<cacheRoot>/build/<key>`.
        public let outputDirectory: String
        /// The cache key: FNV-1a 64 of the tree path, each fragment's options
        /// (`normalised`: comments and blank lines do not count) and the base config.
        public let key: String
        /// Writes `<O>/.config`: tinyconfig (or the base config) merged with
        /// the fragments, then olddefconfig. Needed only when `<O>/.config` is
        /// absent: the key changes whenever an input does.
        public let configure: [Command]
        /// Builds `<O>/arch/x86/boot/bzImage` (incremental on a rerun).
        public let build: [Command]
        /// Then check `KernelConfig.unmet(fragment:config:)` of `<O>/.config`.
        public var configPath: String { outputDirectory + "/.config" }
        /// The image `make` leaves, relative to the output directory (GuestArch.Row.kernelImage).
        public var image = "arch/x86/boot/bzImage"
        public var kernelPath: String { outputDirectory + "/" + image }
    }

    /// A fragment as the cache key sees it: its options in order, one
    /// `CONFIG_X=value` line each (`# CONFIG_X is not set` is `CONFIG_X=n`).
    /// Comments, blank lines and spacing do not count, so rewording a comment
    /// keeps the build directory; changing, adding or moving an option does not.
    public static func normalised(_ fragment: [KernelConfig.FragmentEntry]) -> String {
        fragment.map { "\($0.option)=\($0.value)\n" }.joined()
    }

    /// The build commands.
    /// - tree: the kernel source tree (absolute path).
    /// - fragments: (path, parsed entries) of each fragment, merged in order
    ///   (ci/ringfence.config, then e.g. ci/ringfence-hunt.config,
    ///   ci/ringfence-debug.config, ci/ringfence-coverage.config).
    /// - baseConfig: (path, contents) of the developer's own .config, or nil
    ///   for `make tinyconfig`.
    public static func plan(tree: String, fragments: [(path: String, entries: [KernelConfig.FragmentEntry])],
                            baseConfig: (path: String, contents: String)? = nil,
                            cacheRoot: String, jobs: Int = 2, arch: GuestArch = .x86_64) -> Plan {
        var keyInput = "tree\0\(tree)\0"
        // x86_64 keeps the key it always had (its build directories stay valid).
        if arch != .x86_64 { keyInput += "arch\0\(arch.rawValue)\0" }
        // A cross build: ARCH= and CROSS_COMPILE= on every make (merge_config.sh reads ARCH from the environment).
        let cross = arch == .x86_64 ? [] : ["ARCH=\(arch.row.kernelArch)", "CROSS_COMPILE=\(arch.row.crossPrefix)"]
        for f in fragments { keyInput += "fragment\0\(normalised(f.entries))\0" }
        if let b = baseConfig { keyInput += "base\0\(b.contents)\0" }
        let key = fnv1a64Hex(keyInput)
        let out = cacheRoot + "/build/" + key
        var configure: [Command] = []
        let base: String
        if let b = baseConfig {
            base = b.path
        } else {
            configure.append(Command(argv: ["make", "O=\(out)"] + cross + ["tinyconfig"], directory: tree))
            base = out + "/.config"
        }
        let merge = ["scripts/kconfig/merge_config.sh", "-m", "-O", out, base] + fragments.map(\.path)
        configure.append(Command(argv: arch == .x86_64 ? merge : ["env"] + cross + merge, directory: tree))
        configure.append(Command(argv: ["make", "O=\(out)"] + cross + ["olddefconfig"], directory: tree))
        let target = (arch.row.kernelImage as NSString).lastPathComponent
        let make = ["make", "O=\(out)"] + cross + ["-j\(max(1, jobs))", target]
        var plan = Plan(outputDirectory: out, key: key, configure: configure, build: [Command(argv: make, directory: tree)])
        plan.image = arch.row.kernelImage
        return plan
    }

    static func fnv1a64Hex(_ s: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func shellQuote(_ s: String) -> String {
        if !s.isEmpty && s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:+,@".contains($0)) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
