/// Debian cloud kernels available from a set of apt `Packages` indexes.
///
/// A Debian kernel ABI "<release>" (e.g. 7.3.4+deb13-cloud-amd64) is split
/// over up to three binary packages:
///   linux-binary-<release>   the vmlinuz (under /boot in 7.0.x, under
///                            /usr/lib/modules/<release>/ later)
///   linux-modules-<release>  the .ko files (not for every 7.0/7.1)
///   linux-base-<release>     config, modules.builtin, modules.order
public struct KernelCatalog {
    public struct Package: Equatable {
        public var name: String
        public var version: DebianVersion
        public var filename: String
        public var size: Int?
        public var sha256: String?
    }

    public enum ConfigState: String, Equatable {
        /// CONFIG_IO_URING_BPF=y
        case enabled = "y"
        /// The config is known and lacks CONFIG_IO_URING_BPF=y.
        case disabled = "n"
        /// No package carries the kernel's config.
        case unknown
        /// The config may exist but has not been fetched yet.
        case unfetched
    }

    public struct Kernel: Equatable {
        /// The kernel release (`uname -r`), e.g. 7.3.4+deb13-cloud-amd64.
        public var release: String
        /// The Debian version of the binary package, e.g. 7.3.4-1~bpo13+1.
        public var version: DebianVersion
        /// The apt suite the index came from (sid, trixie-backports, experimental).
        public var suite: String
        public var binary: Package?
        public var modules: Package?
        public var base: Package?
        /// The upstream version, e.g. 7.3.4 or 7.3~rc4.
        public var upstreamVersion: String { version.upstream }
    }

    public var kernels: [Kernel]

    /// The release suffix this catalog holds ("-cloud-amd64", "-cloud-arm64").
    public var flavour = "-cloud-amd64"

    public init(kernels: [Kernel]) { self.kernels = kernels }
    static let kinds = ["binary", "modules", "base"]

    /// Parses `Packages` texts, one per suite. Kernels without a binary
    /// package are dropped. Sorted newest first; for a release offered in
    /// several suites or versions, the newest version wins (ties: first suite given).
    public init(packagesBySuite: [(suite: String, text: String)], flavour: String = "-cloud-amd64") {
        self.flavour = flavour
        var byKey: [String: Kernel] = [:]   // key: release + " " + version
        var order: [String] = []
        for (suite, text) in packagesBySuite {
            for stanza in KernelCatalog.stanzas(text) {
                guard let name = stanza["Package"], let ver = stanza["Version"], let file = stanza["Filename"],
                      name.hasPrefix("linux-"), name.hasSuffix(flavour) else { continue }
                let rest = name.dropFirst("linux-".count)
                guard let dash = rest.firstIndex(of: "-") else { continue }
                let kind = String(rest[..<dash])
                guard KernelCatalog.kinds.contains(kind) else { continue }
                let release = String(rest[rest.index(after: dash)...])
                guard release.count > flavour.count, release.first?.isNumber == true else { continue }
                let pkg = Package(name: name, version: DebianVersion(ver), filename: file,
                                  size: stanza["Size"].flatMap { Int($0) }, sha256: stanza["SHA256"])
                let key = release + " " + ver
                var k = byKey[key] ?? Kernel(release: release, version: DebianVersion(ver), suite: suite)
                if byKey[key] == nil { order.append(key) }
                switch kind {
                case "binary": if k.binary == nil { k.binary = pkg }
                case "modules": if k.modules == nil { k.modules = pkg }
                default: if k.base == nil { k.base = pkg }
                }
                byKey[key] = k
            }
        }
        // One entry per release: the newest version with a binary package.
        var best: [String: Kernel] = [:]
        for key in order {
            guard let k = byKey[key], k.binary != nil else { continue }
            if let b = best[k.release], !(b.version < k.version) { continue }
            best[k.release] = k
        }
        kernels = best.values.sorted { a, b in
            if a.version != b.version { return a.version > b.version }
            return a.release > b.release
        }
    }

    /// Splits a deb822 / Packages text into field dictionaries
    /// (continuation lines are appended to the previous field).
    public static func stanzas(_ text: String) -> [[String: String]] {
        var result: [[String: String]] = []
        var current: [String: String] = [:]
        var lastKey: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = rawLine.last == "\r" ? rawLine.dropLast() : rawLine
            if line.trimmingSpaces().isEmpty {
                if !current.isEmpty { result.append(current) }
                current = [:]
                lastKey = nil
            } else if line.first == " " || line.first == "\t" {
                if let k = lastKey { current[k, default: ""] += "\n" + line.trimmingSpaces() }
            } else if let colon = line.firstIndex(of: ":") {
                let key = String(line[..<colon])
                current[key] = line[line.index(after: colon)...].trimmingSpaces()
                lastKey = key
            }
        }
        if !current.isEmpty { result.append(current) }
        return result
    }

    /// Kernels matching a user's `--kernel-version`: the exact release
    /// (7.3.4+deb13-cloud-amd64), the Debian version (7.3.4-1~bpo13+1), the
    /// upstream version (7.3.4, 7.3~rc4), or a prefix of it at a component
    /// boundary (7.0 matches 7.0.13, 7.3 matches 7.3~rc4). Newest first.
    public func matching(_ query: String) -> [Kernel] {
        kernels.filter { k in
            if k.release == query || k.version.description == query || k.upstreamVersion == query { return true }
            if k.release == query + flavour { return true }
            let up = k.upstreamVersion
            return up.hasPrefix(query + ".") || up.hasPrefix(query + "~") || up.hasPrefix(query + "+")
        }
    }

    /// The default kernel: the newest whose config is known to have
    /// CONFIG_IO_URING_BPF=y, or whose config is unknown (the caller must
    /// say so), skipping kernels known to lack it. A kernel whose config is
    /// `.unfetched` stops the search: the caller fetches it and asks again.
    public static func selectDefault(_ candidates: [Kernel], config: (Kernel) -> ConfigState) -> (Kernel, ConfigState)? {
        for k in candidates where k.version >= minimumVersion {
            let state = config(k)
            if state == .disabled { continue }
            return (k, state)
        }
        return nil
    }

    /// IORING_REGISTER_BPF_FILTER first shipped in Linux 7.0 (release
    /// candidates included); older kernels are never a default choice.
    public static let minimumVersion = DebianVersion("7.0~")

    /// Reads CONFIG_IO_URING_BPF from a kernel .config text.
    public static func ioUringBPF(config: String) -> ConfigState {
        for line in config.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) where line.hasPrefix("CONFIG_IO_URING_BPF=") {
            return line == "CONFIG_IO_URING_BPF=y" ? .enabled : .disabled
        }
        return .disabled
    }

    /// The suite an apt list file name belongs to:
    /// "..._dists_trixie-backports_main_binary-amd64_Packages" -> "trixie-backports".
    public static func suite(ofListFile name: String) -> String? {
        let base = name.split(separator: "/").last.map(String.init) ?? name
        guard let r = base.firstRange(of: "_dists_") else { return nil }
        let after = base[r.upperBound...]
        guard let end = after.firstRange(of: "_main_") ?? after.firstRange(of: "_") else { return nil }
        return String(after[..<end.lowerBound]).replacingOccurrences("_", with: "/")
    }
}

extension String {
    func replacingOccurrences(_ a: Character, with b: String) -> String {
        var s = ""
        for c in self { if c == a { s += b } else { s.append(c) } }
        return s
    }
}
