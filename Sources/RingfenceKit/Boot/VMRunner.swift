import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The host side of a VM run: kernel, initramfs, QEMU, verdict, files.
public final class VMRunner {
    public var options: VMRunOptions
    public let store: KernelStore
    public var say: (String) -> Void
    /// Where the run's temporary files (initramfs) live; removed at the end.
    public private(set) var work: String?
    var qemu: HostProcess?

    public init(options: VMRunOptions, store: KernelStore, say: @escaping (String) -> Void) {
        self.options = options
        self.store = store
        self.say = say
        store.log = say
        // A release candidate lives only in experimental, so asking for one implies it.
        if let v = options.kernelVersion, v.contains("~rc") || v.contains("-rc") { self.options.experimental = true }
        if self.options.experimental { store.suites = KernelStore.indexedSuites }
    }

    deinit { cleanup() }

    var workLockFD: Int32 = -1
    /// This run's results directory, once it has one.
    var currentOut: OutputDirectory?

    public func cleanup() {
        qemu?.stop()
        HostProcess.killAll()
        if let w = work { FileSystem.remove(w); work = nil }
        if workLockFD >= 0 { close(workLockFD); workLockFD = -1 }
    }

    // MARK: kernel

    public struct Kernel {
        public var release: String
        public var vmlinuz: String
        public var config: String?
        public var modroot: String?
        public var package: String?
        public var packageVersion: String?
        public var suite: String?
    }

    /// The Debian catalog as a table (--list-kernels).
    public func listKernels() throws -> String {
        try store.lock()
        defer { store.unlock() }
        try store.updateIndexes()
        let cat = try store.catalog()
        var rows = [String(format: "%-28@ %-12@ %-18@ %-7@ %-5@ %@", "RELEASE" as NSString, "UPSTREAM" as NSString, "SUITE" as NSString,
                           "MODULES" as NSString, "BASE" as NSString, "IO_URING_BPF" as NSString)]
        for k in cat.kernels {
            let s = store.configState(k)
            rows.append(k.release.padding(28) + " " + k.upstreamVersion.padding(12) + " " + k.suite.padding(18) + " "
                        + (k.modules == nil ? "no" : "yes").padding(7) + " " + (k.base == nil ? "no" : "yes").padding(5) + " "
                        + (s == .unfetched ? "?" : s.rawValue))
        }
        return rows.joined(separator: "\n") + "\n"
    }

    public func resolveKernel() throws -> Kernel {
        if let image = options.kernelImage {
            guard let data = FileManager.default.contents(atPath: image) else { throw HostError("--kernel \(image): no such file") }
            let release: String
            if options.arch == .x86_64 {
                guard let r = BzImage.release(data) else { throw HostError("--kernel \(image) is not a bzImage (no HdrS header or release string)") }
                if let damage = BzImage.damage(data) { throw HostError("--kernel \(image): \(damage); rebuild it") }
                release = r
            } else {
                // A compressed image without its build tree beside it: named by its file.
                release = VMRunner.imageRelease(image, arch: options.arch) ?? (image as NSString).lastPathComponent
            }
            var modroot: String?
            if let m = options.modulesDir {
                guard FileSystem.isDirectory("\(m)/lib/modules/\(release)") else {
                    throw HostError("--modules \(m) has no lib/modules/\(release) (expected INSTALL_MOD_PATH of make modules_install)")
                }
                modroot = m
            }
            return Kernel(release: release, vmlinuz: FileSystem.absolute(image), config: options.configFile, modroot: modroot)
        }
        try store.lock()
        defer { store.unlock() }
        try store.updateIndexes()
        let cat = try store.catalog()
        let chosen: KernelCatalog.Kernel
        if let v = options.kernelVersion {
            guard let k = cat.matching(v).first else {
                throw HostError("no Debian cloud kernel matches '\(v)' in \(store.suites.joined(separator: " ")) (see --list-kernels --experimental)")
            }
            chosen = k
        } else {
            chosen = try store.selectDefault(cat).0
        }
        let installed = try store.install(chosen)
        say("kernel \(chosen.release) (\(chosen.version) from \(chosen.suite))")
        return Kernel(release: installed.release, vmlinuz: installed.vmlinuz, config: installed.config, modroot: installed.modroot,
                      package: chosen.binary?.name, packageVersion: chosen.version.description, suite: chosen.suite)
    }

    // MARK: initramfs

    /// /init (ringfence-guest, stripped, and the shared libraries it needs:
    /// none when it is the static build), /cases/suite.rfcases (the case
    /// files and known-bug baseline compiled on the host, so the guest needs
    /// no YAML parser), the modules the cases need, /dev/console.
    public func buildInitramfs(kernel: Kernel) throws -> Data {
        var a = CpioArchive()
        for d in ["dev", "proc", "sys", "tmp", "cases", "lib/modules"] { a.addDirectory(d) }
        a.add(.init(path: "dev/console", mode: 0o600, kind: .charDevice(5, 1)))
        let exe = try guestExecutable()
        let stripped = try strippedCopy(of: exe)
        guard let bin = FileManager.default.contents(atPath: stripped) else { throw HostError("cannot read \(stripped)") }
        a.addFile("init", bin, mode: 0o755)
        let (lddCode, ldd) = try HostProcess.run(["ldd", exe], phase: "listing the libraries of \(exe)")
        for lib in lddCode == 0 ? LddOutput.libraries(ldd) : [] {
            let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: lib)).map {
                $0.hasPrefix("/") ? $0 : (lib as NSString).deletingLastPathComponent + "/" + $0
            } ?? lib
            guard let data = FileManager.default.contents(atPath: real) ?? FileManager.default.contents(atPath: lib) else { continue }
            a.addFile(String(lib.dropFirst()), data, mode: 0o755)
        }
        let suite: [UInt8]
        do {
            if let loaded = options.loadedCases {
                suite = try CaseLoader.compile(cases: loaded.cases, files: loaded.files, directory: options.casesDir, compose: YAMLCompose.composer)
            } else {
                suite = try CaseLoader.compile(directory: options.casesDir)
            }
        } catch let e as CaseFileError {
            throw HostError("\(e)")
        }
        a.addFile("cases/" + CompiledCases.fileName, Data(suite))
        if !options.modules.isEmpty {
            if let modroot = kernel.modroot {
                try addModules(options.modules, release: kernel.release, modroot: modroot, to: &a)
            } else {
                say("no modules for kernel \(kernel.release) (no modules package, or no --modules): cases needing \(options.modules.joined(separator: " ")) will be skipped")
            }
        }
        try Signals.check("building the initramfs")
        return a.bytes()
    }

    /// The guest's /init: `--guest-binary`, else `<prefix>/lib/ringfence/ringfence-guest`
    /// for an installed `<prefix>/bin/ringfence`, else `ringfence-guest` beside this executable.
    func guestExecutable() throws -> String {
        if let g = options.guestBinary {
            guard access(g, X_OK) == 0 else { throw HostError("--guest-binary \(g): no such executable") }
            return g
        }
        let me = try selfExecutable()
        guard let g = InstallLayout.guestCandidates(forExecutable: me).first(where: { access($0, X_OK) == 0 }) else {
            throw HostError("no ringfence-guest beside \(me): the VM boots it as /init. Build both with "
                            + "`swift build -c release --static-swift-stdlib` (./run-in-vm.sh does), or name one with --guest-binary")
        }
        return g
    }

    func selfExecutable() throws -> String {
        guard let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            throw HostError("cannot find my own executable (/proc/self/exe)")
        }
        return p
    }

    /// A stripped copy of the binary, cached by size and mtime.
    func strippedCopy(of exe: String) throws -> String {
        var st = stat()
        guard stat(exe, &st) == 0 else { throw HostError("cannot stat \(exe)") }
        let dir = store.root + "/init"
        try FileSystem.makeDirectory(dir)
        let path = "\(dir)/ringfence-\(st.st_size)-\(st.st_mtim.tv_sec).init"
        if FileManager.default.fileExists(atPath: path) {
            utimes(path, nil)   // in use: another binary's run leaves it for an hour
            return path
        }
        // Older copies go, but not one another run (of another build of
        // ringfence, e.g. in a second worktree) may still be packing into its
        // initramfs: only copies untouched for an hour, and never a file in
        // flight (.tmp-<pid>).
        let now = time(nil)
        for old in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where !old.contains(".tmp-") {
            var o = stat()
            if stat(dir + "/" + old, &o) == 0, now - o.st_mtim.tv_sec > 3600 { unlink(dir + "/" + old) }
        }
        let tmp = path + ".tmp-\(getpid())"   // two runs may strip at once
        let (code, _) = try HostProcess.run(["strip", "-o", tmp, exe], phase: "stripping \(exe)")
        if code != 0 { try FileSystem.copy(exe, to: tmp) }
        try FileSystem.move(tmp, to: path)
        return path
    }

    func addTree(_ dir: String, as prefix: String, to a: inout CpioArchive) throws {
        guard let e = FileManager.default.enumerator(atPath: dir) else { throw HostError("--cases \(dir): no such directory") }
        var rels: [String] = []
        while let rel = e.nextObject() as? String { rels.append(rel) }
        for rel in rels.sorted() {
            let full = dir + "/" + rel
            if FileSystem.isDirectory(full) { a.addDirectory(prefix + "/" + rel) }
            else if let data = FileManager.default.contents(atPath: full) { a.addFile(prefix + "/" + rel, data) }
        }
    }

    func addModules(_ names: [String], release: String, modroot: String, to a: inout CpioArchive) throws {
        let base = "\(modroot)/lib/modules/\(release)"
        guard let depText = try? String(contentsOfFile: base + "/modules.dep", encoding: .utf8) else {
            say("no modules.dep under \(base): cases needing modules will be skipped")
            return
        }
        let index = ModuleIndex(modulesDep: depText)
        let stage = try FileSystem.temporaryDirectory(in: work ?? NSTemporaryDirectory(), prefix: "mods-")
        let md = "\(stage)/lib/modules/\(release)"
        try FileSystem.makeDirectory(md)
        for f in ["modules.order", "modules.builtin", "modules.builtin.modinfo"] where FileManager.default.fileExists(atPath: base + "/" + f) {
            try FileSystem.copy(base + "/" + f, to: md + "/" + f)
        }
        for name in names {
            guard let paths = index.closure(name) else { say("module \(name): not in \(release); its cases will skip"); continue }
            for rel in paths {
                let dest = md + "/" + ModuleIndex.uncompressedPath(rel)
                if FileManager.default.fileExists(atPath: dest) { continue }
                try FileSystem.makeDirectory((dest as NSString).deletingLastPathComponent)
                let src = base + "/" + rel
                let tool: [String]? = rel.hasSuffix(".xz") ? ["xz", "-dc", src] : rel.hasSuffix(".zst") ? ["zstd", "-qdc", src]
                    : rel.hasSuffix(".gz") ? ["gzip", "-dc", src] : nil
                if let tool {
                    let p = try HostProcess(tool, stdout: dest)
                    guard try p.wait(phase: "decompressing \(rel)") == 0 else { throw HostError("\(tool[0]) failed on \(src)") }
                } else {
                    try FileSystem.copy(src, to: dest)
                }
            }
        }
        _ = try HostProcess.check(["depmod", "-b", stage, release], phase: "indexing the initramfs modules")
        try addTree(stage + "/lib/modules", as: "lib/modules", to: &a)
    }

    // MARK: boot

    func kvmUsable() -> Bool { access("/dev/kvm", R_OK | W_OK) == 0 }

    var kvmMemo: String { store.root + "/kvm-failed" }

    /// What a previous run learnt about KVM on this machine (host kernel and
    /// QEMU as the key), or nil.
    func rememberedKVMFailure(qemuVersion: String) -> String? {
        guard let text = try? String(contentsOfFile: kvmMemo, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3, lines[0] == hostKernel(), lines[1] == qemuVersion else { return nil }
        return lines[2]
    }

    func hostKernel() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    public func qemuVersion(arch: GuestArch = .x86_64) -> String? {
        guard let out = try? HostProcess.run([arch.row.qemu, "--version"], phase: "asking QEMU its version", timeout: 30),
              out.code == 0 else { return nil }
        return out.output.split(separator: "\n").first.map { String($0).trimmingSpaces() }
    }

    /// Boots once and watches the console until QEMU exits, the guest
    /// finished and powered off (or did not within the grace period), the
    /// timeout, or a signal.
    public func boot(_ s: QEMUSettings, qemuLog: String, detectKVMFailure: Bool, endMarker: String) throws -> BootOutcome {
        FileManager.default.createFile(atPath: s.serialLog, contents: nil)
        unlink(qemuLog)
        let start = rf_now_ns()
        let p = try HostProcess(s.argv, stdout: qemuLog, stderr: qemuLog)
        qemu = p
        defer { qemu = nil }
        var outcome = BootOutcome(console: "", qemuLog: "")
        var consoleBytes: [UInt8] = []
        let fd = open(s.serialLog, O_RDONLY | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        var markerAt: UInt64?
        var scanFrom = 0
        func elapsed() -> Double { Double(rf_now_ns() - start) / 1e9 }
        func drain() {
            guard fd >= 0 else { return }
            while true {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n <= 0 { break }
                consoleBytes += buf[0..<n]
            }
        }
        while true {
            if let sig = Signals.caught {
                p.stop()
                throw HostError.interrupted(sig, during: "the VM was running")
            }
            let exited = p.poll()
            drain()
            // Look for the guest's first line and its exit marker in new complete lines.
            if markerAt == nil || outcome.firstGuestLine == nil {
                if let lastNL = consoleBytes.lastIndex(of: 10), lastNL >= scanFrom {
                    let chunk = String(decoding: consoleBytes[scanFrom...lastNL], as: UTF8.self)
                    if outcome.firstGuestLine == nil, chunk.contains("# ringfence: init at") || chunk.contains("# module ") || chunk.contains(BareInit.marker) {
                        outcome.firstGuestLine = elapsed()
                    }
                    if markerAt == nil, chunk.contains(endMarker) {
                        markerAt = rf_now_ns()
                        outcome.exitMarker = elapsed()
                    }
                    scanFrom = lastNL + 1
                }
            }
            if exited { break }
            let t = elapsed()
            if let m = markerAt, Double(rf_now_ns() - m) / 1e9 > options.powerOffGrace {
                outcome.noPowerOff = true
                p.stop()
                break
            }
            if VMRunner.endsEarly(&outcome, console: consoleBytes, qemuLog: qemuLog, seconds: t, detectKVMFailure: detectKVMFailure, markerSeen: markerAt != nil) {
                p.stop()
                break
            }
            if t > options.timeout {
                outcome.timedOut = true
                p.stop()
                break
            }
            usleep(markerAt == nil ? 20_000 : 5_000)
        }
        drain()
        outcome.seconds = elapsed()
        outcome.qemuExit = (outcome.timedOut || outcome.noPowerOff || outcome.kvmFailed != nil || outcome.silentFor != nil || outcome.haltedEarly != nil) ? nil : p.exitCode
        outcome.console = String(decoding: consoleBytes, as: UTF8.self)
        outcome.qemuLog = (try? String(contentsOfFile: qemuLog, encoding: .utf8)) ?? ""
        // QEMU may also abort outright under KVM (seen here: "failed to set MSR
        // 0x10a", an assertion, exit 134) before the guest printed anything.
        if detectKVMFailure, outcome.kvmFailed == nil, let code = outcome.qemuExit, code != 0, consoleBytes.isEmpty {
            outcome.kvmFailed = outcome.qemuLog.split(separator: "\n").first { $0.lowercased().contains("error") }.map(String.init)
                ?? "QEMU exited \(code) before any console output"
            outcome.qemuExit = nil
        }
        return outcome
    }

    /// A boot to stop before the timeout: KVM that failed (QEMU says so, or
    /// nothing reached the console in 10 s), or a damaged image (the
    /// decompressor halted, or nothing at all came from the kernel or init,
    /// which would wait for the timeout). Sets the reason in `outcome`.
    static func endsEarly(_ outcome: inout BootOutcome, console consoleBytes: [UInt8], qemuLog: String, seconds t: Double,
                          detectKVMFailure: Bool, markerSeen: Bool) -> Bool {
        if detectKVMFailure {
            let log = (try? String(contentsOfFile: qemuLog, encoding: .utf8)) ?? ""
            let sawKernel = String(decoding: consoleBytes.prefix(65536), as: UTF8.self).contains("] ")
            if log.contains("KVM internal error") || log.contains("emulation failure") || (t > 10 && !sawKernel && outcome.firstGuestLine == nil) {
                outcome.kvmFailed = log.split(separator: "\n").first { $0.lowercased().contains("error") }.map(String.init)
                    ?? "no console output within 10 s"
                return true
            }
        }
        guard !markerSeen && outcome.firstGuestLine == nil else { return false }
        let early = String(decoding: consoleBytes.prefix(65536), as: UTF8.self)
        if early.contains("-- System halted") {
            outcome.haltedEarly = early.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.contains("System halted") }.last ?? "the decompressor halted"
            return true
        }
        if t > earlySilence, outcome.kvmFailed == nil, !detectKVMFailure, !early.contains("] ") {
            outcome.silentFor = t
            return true
        }
        return false
    }

    /// Seconds a boot may stay without a kernel line on the console.
    /// Long enough for a kernel at loglevel=5 that prints nothing before init
    /// (tinyconfig, KASAN) on a busy host.
    public static let earlySilence: Double = 60

    /// QEMU failed before the guest printed anything: the reason, naming the
    /// option that fixes it when there is one.
    static func qemuFailure(_ o: BootOutcome, memoryMB: Int) -> HostError? {
        guard let code = o.qemuExit, code != 0, o.console.isEmpty else { return nil }
        let log = o.qemuLog.split(separator: "\n").map { "  qemu: " + $0 }.joined(separator: "\n")
        if o.qemuLog.contains("initrd is too large") {
            return HostError("QEMU cannot load the initramfs into \(memoryMB) MiB of guest memory (\"initrd is too large\"): raise --memory, e.g. --memory \(max(512, memoryMB * 2))M\n" + log)
        }
        return HostError("QEMU failed to start the VM (exit \(code)):\n" + log)
    }

    /// `--results FILE` may name a new file or an earlier ringfence results
    /// file (a RunReport), never a directory or another file: checked before
    /// the run and again before writing.
    public static func checkResultsTarget(_ r: String) throws {
        if FileSystem.isDirectory(r) { throw HostError("--results \(r) is a directory; it wants a file name") }
        if FileManager.default.fileExists(atPath: r) {
            guard let data = FileManager.default.contents(atPath: r), (try? JSONDecoder().decode(RunReport.self, from: data)) != nil else {
                throw HostError("--results \(r) exists and is not a ringfence results file; ringfence never overwrites a file it did not write: give a new file name")
            }
        }
        try FileSystem.checkWritable((FileSystem.absolute(r) as NSString).deletingLastPathComponent, what: "--results \(r)")
    }

    public func makeWorkDirectory() throws -> String {
        if let w = work { return w }
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        VMRunner.removeStaleWorkDirectories(in: tmp)
        let w = try FileSystem.temporaryDirectory(in: tmp, prefix: "ringfence-vm.\(getpid()).")
        // Held until this process ends: a later run that can take the lock knows the owner is gone.
        let fd = open(w + "/" + VMRunner.workLockName, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { _ = flock(fd, LOCK_EX | LOCK_NB); workLockFD = fd }
        work = w
        return w
    }

    static let workLockName = ".owner.lock"

    /// Removes the temporary directories (initramfs, module staging) of
    /// earlier runs that were killed: those whose owner's lock can be taken.
    /// Directories from before the lock (no lock file) go once a day old.
    public static func removeStaleWorkDirectories(in tmp: String) {
        for e in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] {
            // HostProcess.run's output logs, ringfence-<pid>-<n>.log, of processes that are gone.
            if e.hasPrefix("ringfence-") && e.hasSuffix(".log") {
                let parts = e.split(separator: "-")
                if parts.count == 3, let pid = Int32(parts[1]), kill(pid, 0) != 0 && errno == ESRCH { unlink(tmp + "/" + e) }
                continue
            }
            guard e.hasPrefix("ringfence-vm.") else { continue }
            let dir = tmp + "/" + e
            let lock = dir + "/" + workLockName
            if FileManager.default.fileExists(atPath: lock) {
                let fd = open(lock, O_RDWR | O_CLOEXEC)
                guard fd >= 0 else { continue }
                defer { close(fd) }
                if flock(fd, LOCK_EX | LOCK_NB) == 0 { FileSystem.remove(dir) }
            } else if let age = FileSystem.age(dir), age > 86400 {
                FileSystem.remove(dir)
            }
        }
    }
}
