import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The kernel cache under ${XDG_CACHE_HOME:-~/.cache}/ringfence:
///   apt/        private apt configuration, lists, packages/<suite>.Packages
///   debs/       downloaded .debs (partial/ while in flight, verified by SHA-256)
///   configs/    <release>.config or <release>.noconfig
///   kernels/<release>/{vmlinuz,config,modroot/}   unpacked kernels
/// Every entry appears by rename only once it is whole: an interrupted or
/// failed step leaves nothing that a later run would trust.
public final class KernelStore {
    public let root: String
    public var mirror: String?
    public var refresh = false
    /// Suites kept indexed; `suites` are the ones searched.
    public static let indexedSuites = ["sid", "trixie-backports", "experimental"]
    public var suites = ["sid", "trixie-backports"]
    public var log: (String) -> Void = { _ in }
    /// The architecture of the kernels fetched (x86_64: cloud-amd64; arm64:
    /// cloud-arm64 through its own apt configuration, apt.arm64/). Kernels,
    /// configs and .debs share their directories: their names carry the architecture.
    public let arch: GuestArch

    public init(root: String, arch: GuestArch = .x86_64) { self.root = root; self.arch = arch }

    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? "/root") + "/.cache")
        return base + "/ringfence"
    }

    var apt: String { arch == .x86_64 ? root + "/apt" : root + "/apt.\(arch.row.debianArch)" }
    var aptOptions: [String] { AptSources.privateOptions(dir: apt, architecture: arch.row.debianArch) }
    var flavour: String { arch.row.debianFlavour ?? "cloud-amd64" }
    var debs: String { root + "/debs" }
    var configs: String { root + "/configs" }
    var kernels: String { root + "/kernels" }

    // MARK: lock

    private var lockFD: Int32 = -1

    /// One run at a time updates indexes and unpacks kernels.
    public func lock() throws {
        try FileSystem.makeDirectory(root)
        let fd = open(root + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HostError("cannot open \(root)/.lock: \(FileSystem.errorText())") }
        var waited = 0.0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if waited == 0 { log("waiting for another run that holds \(root)/.lock") }
            try Signals.check("waiting for the kernel cache lock")
            if waited > 900 { close(fd); throw HostError("another ringfence vm has held \(root)/.lock for 15 minutes") }
            usleep(100_000); waited += 0.1
        }
        lockFD = fd
        // Holding the lock, nobody is unpacking: half-unpacked trees are from killed runs.
        for (d, prefix) in [(kernels, ".tmp-"), (root + "/src", ".tmp-"), (root, ".cfg-")] {
            for e in (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? [] where e.hasPrefix(prefix) { FileSystem.remove(d + "/" + e) }
        }
    }

    public func unlock() {
        if lockFD >= 0 { flock(lockFD, LOCK_UN); close(lockFD); lockFD = -1 }
    }

    // MARK: catalog

    func systemMirror() -> String? {
        let files = AptSources.systemFiles { dir in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] }
        let texts = files.compactMap { p in (try? String(contentsOfFile: p, encoding: .utf8)).map { (path: p, text: $0) } }
        return AptSources.mirror(files: texts)
    }

    func resolvedMirror() throws -> String {
        if let m = mirror { return AptSources.trimSlash(m) }
        guard let m = systemMirror() else { throw HostError("no Debian mirror in the system's apt sources; pass --mirror URI") }
        return m
    }

    /// Refreshes the private indexes when asked, when older than a day, or
    /// when the sources changed.
    public func updateIndexes() throws {
        let mirror = try resolvedMirror()
        for d in [apt + "/lists/partial", apt + "/archives/partial", apt + "/packages"] { try FileSystem.makeDirectory(d) }
        if !FileManager.default.fileExists(atPath: apt + "/status") { try FileSystem.write("", to: apt + "/status") }
        let want = AptSources.privateSourcesList(mirror: mirror, suites: Self.indexedSuites)
        let stamp = apt + "/updated"
        let current = try? String(contentsOfFile: apt + "/sources.list", encoding: .utf8)
        let age = FileSystem.age(stamp)
        // packages/ written by an older ringfence lacks the linux-source stanzas.
        let format = "2\n"
        let formatFile = apt + "/packages/.format"
        let sameFormat = (try? String(contentsOfFile: formatFile, encoding: .utf8)) == format
        guard refresh || age == nil || age! > 86400 || current != want || !sameFormat else { return }
        log("updating kernel package indexes (\(Self.indexedSuites.joined(separator: " ")))")
        try FileSystem.write(want, to: apt + "/sources.list")
        unlink(stamp)
        let (code, out) = try HostProcess.run(["apt-get"] + aptOptions + ["-q", "update"],
                                              phase: "updating the kernel package indexes", timeout: 300)
        // apt-get update exits 0 on some fetch failures: read its output too.
        let failed = out.split(separator: "\n").contains { $0.hasPrefix("E:") || $0.hasPrefix("W: Failed to fetch") || $0.hasPrefix("Err:") }
        if code != 0 || failed {
            let tail = HostProcess.indentedTail(out, lines: 10)
            throw HostError("apt-get update of the private kernel index failed" + (code == nil ? " (timed out)" : "") + ":\n" + tail)
        }
        let lists = (try? FileManager.default.contentsOfDirectory(atPath: apt + "/lists")) ?? []
        for old in (try? FileManager.default.contentsOfDirectory(atPath: apt + "/packages")) ?? [] where old.hasSuffix(".Packages") {
            unlink(apt + "/packages/" + old)
        }
        for list in lists.sorted() where list.contains("_binary-\(arch.row.debianArch)_Packages") {
            guard let suite = KernelCatalog.suite(ofListFile: list) else { continue }
            let text = try HostProcess.check(["/usr/lib/apt/apt-helper", "cat-file", apt + "/lists/" + list],
                                             phase: "reading the kernel package index")
            try FileSystem.writeAtomically(AptSources.kernelStanzas(text, flavour: flavour), to: "\(apt)/packages/\(suite).Packages")
        }
        try FileSystem.write(format, to: formatFile)
        try FileSystem.write("", to: stamp)
    }

    public func catalog() throws -> KernelCatalog {
        var indexes: [(suite: String, text: String)] = []
        for suite in suites {
            if let t = try? String(contentsOfFile: "\(apt)/packages/\(suite).Packages", encoding: .utf8) { indexes.append((suite, t)) }
        }
        guard !indexes.isEmpty else { throw HostError("no kernel package index for \(suites.joined(separator: " ")) (try --refresh)") }
        return KernelCatalog(packagesBySuite: indexes, flavour: "-" + flavour)
    }

    /// The linux-source-X packages in the indexed suites, newest first.
    public func sourcePackages() throws -> [KernelCatalog.Package] {
        var found: [KernelCatalog.Package] = []
        for suite in Self.indexedSuites {
            guard let t = try? String(contentsOfFile: "\(apt)/packages/\(suite).Packages", encoding: .utf8) else { continue }
            for s in KernelCatalog.stanzas(t) {
                guard let name = s["Package"], name.hasPrefix("linux-source-"), let v = s["Version"], let f = s["Filename"] else { continue }
                found.append(.init(name: name, version: DebianVersion(v), filename: f, size: s["Size"].flatMap { Int($0) }, sha256: s["SHA256"]))
            }
        }
        return found.sorted { $0.version > $1.version }
    }

    public func configState(_ k: KernelCatalog.Kernel) -> KernelCatalog.ConfigState {
        if let text = try? String(contentsOfFile: "\(configs)/\(k.release).config", encoding: .utf8) {
            return KernelCatalog.ioUringBPF(config: text)
        }
        if FileManager.default.fileExists(atPath: "\(configs)/\(k.release).noconfig") { return .unknown }
        return .unfetched
    }

    /// The default kernel: fetches configs (linux-base) until the newest
    /// suitable kernel is known.
    public func selectDefault(_ catalog: KernelCatalog) throws -> (KernelCatalog.Kernel, KernelCatalog.ConfigState) {
        for _ in 0..<64 {
            guard let (k, s) = KernelCatalog.selectDefault(catalog.kernels, config: configState) else {
                throw HostError("no kernel >= 7.0 with CONFIG_IO_URING_BPF=y (or an unknown config) in \(suites.joined(separator: " ")) (try --experimental or --kernel)")
            }
            if s != .unfetched { return (k, s) }
            try fetchConfig(k)
        }
        throw HostError("could not settle on a default kernel")
    }

    func fetchConfig(_ k: KernelCatalog.Kernel) throws {
        try FileSystem.makeDirectory(configs)
        for pkg in [k.base, k.binary].compactMap({ $0 }) {
            let deb = try download(pkg)
            let tmp = try FileSystem.temporaryDirectory(in: root, prefix: ".cfg-")
            defer { FileSystem.remove(tmp) }
            try unpack(deb, into: tmp, phase: "reading the config of \(k.release)")
            if let cfg = FileSystem.find(in: tmp, where: Self.isConfig(of: k.release)) {
                try FileSystem.copy(cfg, to: "\(configs)/\(k.release).config")
                return
            }
        }
        try FileSystem.write("", to: "\(configs)/\(k.release).noconfig")
    }

    /// Where a Debian kernel package keeps the config: /usr/lib/modules/<release>/config
    /// (7.2 and later) or /boot/config-<release> (7.0, 7.1).
    static func isConfig(of release: String) -> (String) -> Bool {
        { $0.hasSuffix("/lib/modules/\(release)/config") || $0.hasSuffix("/config-\(release)") }
    }

    // MARK: downloads

    /// A verified .deb in the cache: a cached file whose SHA-256 does not
    /// match the index is deleted and fetched again; a download that does not
    /// match is deleted and the run stops.
    public func download(_ pkg: KernelCatalog.Package) throws -> String {
        try FileSystem.makeDirectory(debs + "/partial")
        let file = debs + "/" + (pkg.filename.split(separator: "/").last.map(String.init) ?? "\(pkg.name).deb")
        if FileManager.default.fileExists(atPath: file) {
            if try verify(file, pkg, phase: "checking the cached \(pkg.name)") { return file }
            log("cached \(file) does not match the SHA-256 of its index entry (damaged or partial): deleting it and fetching it again")
            unlink(file)
        }
        let mirror = try resolvedMirror()
        let partial = debs + "/partial/" + (file.split(separator: "/").last.map(String.init) ?? pkg.name)
        unlink(partial)
        log("downloading \(pkg.name) \(pkg.version)" + (pkg.size.map { " (\(FileSystem.megabytes($0)))" } ?? ""))
        var argv = ["/usr/lib/apt/apt-helper"] + aptOptions + ["download-file", "\(mirror)/\(pkg.filename)", partial]
        if let h = pkg.sha256 { argv.append("SHA256:\(h)") }
        do {
            let (code, out) = try HostProcess.run(argv, phase: "downloading \(pkg.name)", timeout: 900)
            guard code == 0 else {
                unlink(partial)
                let tail = HostProcess.indentedTail(out, lines: 6)
                throw HostError("downloading \(pkg.name) \(pkg.version) failed" + (code == nil ? " (timed out after 900 s)" : "") + ":\n" + tail)
            }
        } catch {
            unlink(partial)
            throw error
        }
        // Interrupted while checking it, the partial file goes too.
        let whole: Bool
        do { whole = try verify(partial, pkg, phase: "checking the downloaded \(pkg.name)") } catch { unlink(partial); throw error }
        guard whole else {
            unlink(partial)
            throw HostError("downloaded \(pkg.name) \(pkg.version) does not match the SHA-256 of its index entry; deleted it")
        }
        guard rename(partial, file) == 0 else { throw HostError("cannot move \(partial) to \(file): \(FileSystem.errorText())") }
        return file
    }

    func verify(_ file: String, _ pkg: KernelCatalog.Package, phase: String) throws -> Bool {
        if let size = pkg.size, FileSystem.size(file) != size { return false }
        guard let want = pkg.sha256 else { return true }
        return try FileSystem.sha256(file, phase: phase) == want.lowercased()
    }

    func unpack(_ deb: String, into dir: String, phase: String) throws {
        _ = try HostProcess.check(["dpkg-deb", "-x", deb, dir], phase: phase, timeout: 600)
    }

    // MARK: kernel source

    /// Debian's newest linux-source-X (or the one whose name or version
    /// starts with `prefix`, e.g. "7.3"), unpacked once under
    /// src/linux-source-X/; returns the tree.
    public func installSource(prefix: String? = nil) throws -> String {
        let all = try sourcePackages()
        guard let pkg = all.first(where: { p in prefix.map { p.name == "linux-source-" + $0 || p.version.upstream.hasPrefix($0) } ?? true }) else {
            throw HostError("no linux-source package\(prefix.map { " for \($0)" } ?? "") in \(Self.indexedSuites.joined(separator: " ")) (try --refresh)")
        }
        let dir = "\(root)/src/\(pkg.name)"
        let stamp = dir + "/.ringfence-unpacked"
        if (try? String(contentsOfFile: stamp, encoding: .utf8)) == pkg.version.description + "\n" { return dir }
        let deb = try download(pkg)
        let tmp = try FileSystem.temporaryDirectory(in: root + "/src", prefix: ".tmp-\(pkg.name)-")
        do {
            log("unpacking \(pkg.name) \(pkg.version) (about 1.8 GB)")
            try unpack(deb, into: tmp + "/deb", phase: "unpacking \(pkg.name)")
            guard let tarball = FileSystem.find(in: tmp + "/deb/usr/src", where: { $0.hasSuffix(".tar.xz") || $0.hasSuffix(".tar.zst") || $0.hasSuffix(".tar.gz") }) else {
                throw HostError("\(pkg.name) carries no source tarball under /usr/src")
            }
            try FileSystem.makeDirectory(tmp + "/tree")
            _ = try HostProcess.check(["tar", "-C", tmp + "/tree", "-xf", tarball], phase: "unpacking \(pkg.name)", timeout: 1800)
            FileSystem.remove(tmp + "/deb")
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: tmp + "/tree")) ?? []
            guard entries.count == 1 else { throw HostError("\(tarball) does not hold one top directory") }
            let tree = tmp + "/tree/" + entries[0]
            try FileSystem.write(pkg.version.description + "\n", to: tree + "/.ringfence-unpacked")
            FileSystem.remove(dir)
            try FileSystem.move(tree, to: dir)
            FileSystem.remove(tmp)
        } catch {
            FileSystem.remove(tmp)
            throw error
        }
        return dir
    }

    // MARK: kernels

    public struct InstalledKernel {
        public var release: String
        public var vmlinuz: String
        public var config: String?
        public var modroot: String?
    }

    /// The files whose size and SHA-256 `.complete` records.
    static let recordedFiles = ["vmlinuz", "config"]

    static func unpackRecord(_ dir: String) throws -> String {
        var lines = ["# ringfence: what was unpacked here (name size sha256), checked before every boot"]
        for f in recordedFiles where FileManager.default.fileExists(atPath: dir + "/" + f) {
            lines.append("\(f) \(FileSystem.size(dir + "/" + f) ?? -1) \(try FileSystem.sha256(dir + "/" + f))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// nil when every recorded file is as unpacked; else what differs.
    func unpackedDamage(_ dir: String) throws -> String? {
        let text = (try? String(contentsOfFile: dir + "/.complete", encoding: .utf8)) ?? ""
        let rows = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ").map(String.init) }
        guard rows.contains(where: { $0.first == "vmlinuz" }) else { return "no record of what was unpacked (an older cache)" }
        for r in rows where r.count == 3 {
            let path = dir + "/" + r[0]
            guard let size = FileSystem.size(path) else { return "\(r[0]) is missing" }
            if String(size) != r[1] { return "\(r[0]) is \(size) bytes, \(r[1]) when unpacked" }
            if try FileSystem.sha256(path, phase: "checking the cached \(r[0])") != r[2] { return "\(r[0]) does not match its SHA-256 from unpacking" }
        }
        return nil
    }

    /// Unpacks a kernel's packages into kernels/<release>/ (once).
    public func install(_ k: KernelCatalog.Kernel) throws -> InstalledKernel {
        let dir = "\(kernels)/\(k.release)"
        // What was unpacked is checked against the sizes and SHA-256 recorded
        // at unpack time before every boot: a truncated or damaged file is
        // unpacked again from the (index-checked) packages, never booted.
        if FileManager.default.fileExists(atPath: dir + "/.complete"), let damage = try unpackedDamage(dir) {
            log("\(dir): \(damage): unpacking \(k.release) again")
            FileSystem.remove(dir)
        }
        if !FileManager.default.fileExists(atPath: dir + "/.complete") {
            FileSystem.remove(dir)
            try FileSystem.makeDirectory(kernels)
            let tmp = try FileSystem.temporaryDirectory(in: kernels, prefix: ".tmp-\(k.release)-")
            do {
                let x = tmp + "/x"
                for pkg in [k.binary, k.base, k.modules].compactMap({ $0 }) {
                    let deb = try download(pkg)
                    try unpack(deb, into: x, phase: "unpacking \(pkg.name)")
                }
                try Signals.check("unpacking \(k.release)")
                guard let vmlinuz = FileSystem.find(in: x, where: { $0.hasSuffix("/lib/modules/\(k.release)/vmlinuz") || $0.hasSuffix("/vmlinuz-\(k.release)") }) else {
                    throw HostError("no vmlinuz in \(k.binary?.name ?? k.release)")
                }
                try FileSystem.move(vmlinuz, to: tmp + "/vmlinuz")
                if let cfg = FileSystem.find(in: x, where: Self.isConfig(of: k.release)) {
                    try FileSystem.copy(cfg, to: tmp + "/config")
                }
                let mods = "\(x)/usr/lib/modules/\(k.release)"
                if FileManager.default.fileExists(atPath: mods + "/kernel") {
                    try FileSystem.makeDirectory(tmp + "/modroot/lib/modules")
                    try FileSystem.move(mods, to: "\(tmp)/modroot/lib/modules/\(k.release)")
                    unlink("\(tmp)/modroot/lib/modules/\(k.release)/vmlinuz")
                    _ = try HostProcess.check(["depmod", "-b", tmp + "/modroot", k.release], phase: "indexing the modules of \(k.release)")
                }
                FileSystem.remove(x)
                try FileSystem.write(try Self.unpackRecord(tmp), to: tmp + "/.complete")
                guard rename(tmp, dir) == 0 else { throw HostError("cannot move \(tmp) to \(dir): \(FileSystem.errorText())") }
            } catch {
                FileSystem.remove(tmp)
                throw error
            }
        }
        let fm = FileManager.default
        return InstalledKernel(release: k.release, vmlinuz: dir + "/vmlinuz",
                               config: fm.fileExists(atPath: dir + "/config") ? dir + "/config" : nil,
                               modroot: fm.fileExists(atPath: dir + "/modroot") ? dir + "/modroot" : nil)
    }
}
