import ArgumentParser
import CRingfence
import Foundation
import RingfenceKit
import RingfenceCLI

/// `ringfence vm`: the whole host side of a VM run (run-in-vm.sh execs it).
struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "Boot a Linux >= 7.0 kernel in QEMU with ringfence as /init, run the suite, judge it.",
        discussion: """
        Kernel (default: the newest Debian cloud-amd64 kernel whose config has CONFIG_IO_URING_BPF=y,
        or whose config is unknown, from sid and trixie-backports), downloaded through a private apt
        configuration under ${XDG_CACHE_HOME:-~/.cache}/ringfence on the mirror of the system's own apt
        sources; every .deb is checked against the SHA-256 of its index entry.

        Other architectures (--arch arm64, --arch s390x): the cases are exported as C
        (ringfence export --kselftest), cross-compiled statically (aarch64-linux-gnu-gcc,
        s390x-linux-gnu-gcc) and booted as the only /init under qemu-system-aarch64 -machine virt
        or qemu-system-s390x -machine s390-ccw-virtio (TCG). arm64 fetches Debian's cloud-arm64
        kernel the same way (apt.arm64/ in the cache); s390x needs --build (linux-source-7.3 with
        ci/ringfence.config and ci/ringfence-s390x.config, ARCH=s390) or --kernel IMAGE. The same
        judge, exit codes and results files; results.json records the architecture. Default
        results directory: ./out/<release>, with -<arch> added when the release does not name it.
        On x86_64, --executor kselftest runs that C program instead of the Swift guest (results
        in ./out/<release>-kselftest): ci/kselftest-agree.sh compares the two executors with it.

        Results go to ./out/<kernel-release>/ (relative to the current directory): console.log,
        results.ktap, results.json, results.junit.xml, summary.txt, all rendered from one report.
        They appear only when the run has a verdict; an interrupted run leaves INCOMPLETE there.

        Results directory rule: ringfence writes only its own files and lists them in
        .ringfence-manifest; it never deletes or overwrites a file it did not write. --out may name a
        new or empty directory or one holding an earlier ringfence run; any other is refused (exit 2).

        Exit codes: 0 every case passed (known bugs from cases/known-bugs.yaml allowed), 1 a case
        failed or the kernel misbehaved during a case (WARN, Oops, panic, timeout), 2 set-up, usage,
        case-file or infrastructure failure (build failed, kernel image or cache damaged, QEMU could
        not start, the boot never reached init, the guest ran out of memory, ringfence crashed in the
        guest): nothing was judged and no case is reported, 4 everything skipped, 130/143
        interrupted by SIGINT/SIGTERM. With --bisect: 0, 1, and 125 for 2 and 4 (git bisect run's
        "skip").
        """)

    @OptionGroup(title: "Kernel") var kernel: KernelOptions
    @OptionGroup(title: "VM") var vm: MachineOptions
    @OptionGroup(title: "Suite") var suite: SuiteOptions
    @OptionGroup(title: "Your own kernel tree (docs/kernel-tree.md)") var tree: TreeOptions

    @Argument(parsing: .postTerminator, help: ArgumentHelp("Arguments for the guest's ringfence (default: run --cases /cases).", valueName: "guest-args"))
    var guestArguments: [String] = []

    func validate() throws {
        if kernel.kernel != nil && kernel.kernelVersion != nil { throw ValidationError("--kernel and --kernel-version exclude each other") }
        if tree.build && (kernel.kernel != nil || kernel.kernelVersion != nil) { throw ValidationError("--build makes the kernel; it does not go with --kernel or --kernel-version") }
        if !tree.build && (tree.tree != nil || tree.baseConfig != nil || tree.hunt || tree.coverage || tree.debug) {
            throw ValidationError("--tree, --base-config, --hunt, --coverage and --debug go with --build")
        }
        if let t = tree.tree, !FileManager.default.fileExists(atPath: t + "/Makefile") { throw ValidationError("--tree \(t): no kernel Makefile there") }
        if let b = tree.baseConfig, !FileManager.default.fileExists(atPath: b) { throw ValidationError("--base-config \(b): no such file") }
        if kernel.kernel != nil && kernel.listKernels { throw ValidationError("--list-kernels lists Debian kernels; it does not go with --kernel") }
        if kernel.kernel == nil && (kernel.modules != nil || kernel.config != nil) { throw ValidationError("--modules and --config go with --kernel") }
        if let k = kernel.kernel, !FileManager.default.fileExists(atPath: k) { throw ValidationError("--kernel \(k): no such file") }
        if let m = kernel.modules, !FileSystem.isDirectory(m) { throw ValidationError("--modules \(m): no such directory") }
        if let c = kernel.config, !FileManager.default.fileExists(atPath: c) { throw ValidationError("--config \(c): no such file") }
        guard vm.timeout > 0, vm.timeout <= 86400 else { throw ValidationError("--timeout wants a positive number of seconds, at most 86400, not \(vm.timeout)") }
        if let c = vm.cpus, c < 1 || c > 64 { throw ValidationError("--cpus wants 1 to 64, not \(c)") }
        if let m = vm.memory, QEMUSettings.parseMemory(m) == nil { throw ValidationError("--memory wants e.g. 1G or 768M, not '\(m)'") }
        if suite.exhaustive && !(guestArguments.isEmpty || guestArguments.first == "run") {
            throw ValidationError("--exhaustive goes with the guest's 'run' command")
        }
        if suite.bench && !guestArguments.isEmpty { throw ValidationError("--bench replaces the guest arguments; give one or the other") }
        if !["none", "gzip"].contains(vm.initrdCompression) { throw ValidationError("--initrd-compression must be none or gzip") }
        if vm.repeat < 1 || vm.repeat > 10000 { throw ValidationError("--repeat wants 1 to 10000") }
        try validateArch()
        if !vm.bareBoot && !kernel.listKernels && kernel.fetchSource == nil && !FileSystem.isDirectory(suite.casesDirectory)
            && !(FileManager.default.fileExists(atPath: suite.casesDirectory) && (suite.casesDirectory.hasSuffix(".yaml") || suite.casesDirectory.hasSuffix(".yml"))) {
            throw ValidationError("--cases \(suite.casesDirectory): no such directory or .yaml case file; name the cases directory or one case file")
        }
    }

    /// The executor the run gets: --executor, else the architecture's default.
    var executor: GuestExecutor { vm.executor ?? GuestExecutor.default(for: vm.arch) }

    /// What the C kselftest executor (--arch arm64|s390x, --executor
    /// kselftest) does not go with: the Swift guest's options, KVM, modules;
    /// s390x has no Debian kernel to fetch.
    func validateArch() throws {
        let arch = vm.arch
        if arch != .x86_64 && vm.executor == .swift {
            throw ValidationError("--executor swift runs on x86_64 only (the Swift guest is built for this host); --arch \(arch.rawValue) runs the cases exported as C")
        }
        guard executor == .kselftest else { return }
        let name = arch == .x86_64 ? "--executor kselftest" : "--arch \(arch.rawValue)"
        if arch.row.debianFlavour == nil && !tree.build && kernel.kernel == nil && kernel.fetchSource == nil {
            throw ValidationError("\(name) needs --build (a kernel cross-built from linux-source-7.3 with ci/ringfence.config and ci/\(arch.row.configFragment ?? "")) "
                                  + "or --kernel IMAGE: Debian's \(arch.rawValue) kernel packages are in the index but not on the mirror")
        }
        if arch.row.debianFlavour == nil && (kernel.kernelVersion != nil || kernel.listKernels) {
            throw ValidationError("\(name) has no Debian kernels (--kernel-version, --list-kernels); use --build or --kernel IMAGE")
        }
        var refused: [String] = []
        if vm.bareBoot { refused.append("--bare-boot") }
        if suite.bench { refused.append("--bench") }
        if !guestArguments.isEmpty { refused.append("guest arguments after --") }
        if kernel.modules != nil { refused.append("--modules") }
        if suite.writeInitramfs != nil { refused.append("--write-initramfs") }
        if suite.guestBinary != nil { refused.append("--guest-binary") }
        if tree.hunt || tree.coverage || tree.debug { refused.append("--hunt, --coverage and --debug") }
        if vm.accel == .kvm { refused.append("--accel kvm (the C program runs under TCG)") }
        if vm.initrdCompression != "none" { refused.append("--initrd-compression") }
        if !refused.isEmpty {
            throw ValidationError("\(name) runs the cases exported as C, not the Swift guest: \(refused.joined(separator: ", ")) "
                                  + "\(refused.count == 1 ? "does" : "do") not go with it (docs/architectures.md, \"ringfence vm --arch\")")
        }
    }

    func run() throws {
        Signals.trap()
        var o = options()
        if !vm.bareBoot && !kernel.listKernels && kernel.fetchSource == nil {
            if executor == .swift { try plan(&o) } else { try loadKnownBugs(&o) }
        }
        let store = KernelStore(root: KernelStore.defaultRoot(), arch: vm.arch)
        store.mirror = kernel.mirror
        store.refresh = kernel.refresh
        let runner = VMRunner(options: o, store: store, say: { warn("ringfence vm: " + $0) })
        defer { runner.cleanup() }
        do {
            try preflight(o)
            throw ExitCode(try stages(runner, store: store))
        } catch let e as HostError {
            runner.cleanup()
            if e.code >= 128 {
                warn("ringfence vm: \(e.message); stopped QEMU and every child, kept no partial download or kernel")
            } else {
                warn("ringfence vm: error: \(e.message)")
            }
            throw ExitCode(e.code)
        }
    }

    /// The run's options from the command line.
    func options() -> VMRunOptions {
        var o = VMRunOptions()
        o.kernelVersion = kernel.kernelVersion
        o.experimental = kernel.experimental
        o.mirror = kernel.mirror
        o.refresh = kernel.refresh
        o.kernelImage = kernel.kernel
        o.modulesDir = kernel.modules
        o.configFile = kernel.config
        o.accel = vm.accel
        o.tcgThreads = vm.tcgThreads
        o.timeout = vm.timeout
        o.cpus = vm.cpus
        o.arch = vm.arch
        o.exhaustive = suite.exhaustive
        o.guestBinary = suite.guestBinary.map(FileSystem.absolute)
        o.memoryMB = vm.memory.flatMap(QEMUSettings.parseMemory)
        o.gzipInitrd = vm.initrdCompression == "gzip"
        o.extraKernelParameters = vm.append
        o.casesDir = absolute(suite.casesDirectory)
        o.out = suite.out
        o.results = suite.results
        o.writeInitramfs = suite.writeInitramfs
        o.strict = suite.strict
        if suite.bench {
            o.guestArguments = ["bench", "--format", "ktap"]
        } else if !guestArguments.isEmpty {
            o.guestArguments = guestArguments
        } else {
            o.guestArguments = ["run", "--announce", "--cases", "/cases"]
        }
        if suite.exhaustive { o.guestArguments.append("--exhaustive") }
        return o
    }

    /// The stages after the checks: list, fetch, bare boots, or build (with
    /// --build), run and coverage. Returns the exit code.
    func stages(_ runner: VMRunner, store: KernelStore) throws -> Int32 {
        if kernel.listKernels {
            print(try runner.listKernels(), terminator: "")
            return 0
        }
        if let v = kernel.fetchSource {
            try store.lock()
            defer { store.unlock() }
            try store.updateIndexes()
            print(try store.installSource(prefix: v == "newest" ? nil : v))
            return 0
        }
        if vm.bareBoot {
            return try runner.bareBoots(repeat: vm.repeat) { print($0, terminator: ""); fflush(stdout) }
        }
        let builtPlan = tree.build ? try buildKernel(runner, store: store) : nil
        if executor == .kselftest {
            let cases = try loadCases(runner.options.casesDir)
            return try runner.runExported(cases: cases) { print($0, terminator: ""); fflush(stdout) }
        }
        let code = try runner.run { print($0, terminator: ""); fflush(stdout) }
        if tree.coverage, let plan = builtPlan { try coverageReport(plan) }
        return code
    }

    /// --build: the kernel from --tree or Debian's newest linux-source, with
    /// ci/ringfence.config (and the architecture's and the flags' fragments)
    /// merged; sets the runner's kernel to it.
    func buildKernel(_ runner: VMRunner, store: KernelStore) throws -> KernelBuild.Plan {
        let ci = Self.projectRoot + "/ci"
        let source: String
        if let t = tree.tree { source = absolute(t) } else {
            // linux-source-* is Architecture: all; the amd64 index has it (and the tree is shared).
            let sources = KernelStore(root: store.root)
            sources.mirror = store.mirror
            sources.refresh = store.refresh
            sources.log = store.log
            try sources.lock()
            defer { sources.unlock() }
            try sources.updateIndexes()
            source = try sources.installSource()
        }
        var fragments = [ci + "/ringfence.config"]
        if let f = vm.arch.row.configFragment { fragments.append(ci + "/" + f) }
        if tree.hunt { fragments.append(ci + "/ringfence-hunt.config") }
        if tree.debug { fragments.append(ci + "/ringfence-debug.config") }
        if tree.coverage { fragments.append(ci + "/ringfence-coverage.config") }
        var b = KernelBuilder(tree: source, fragments: fragments, cacheRoot: store.root,
                              jobs: max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))), say: { warn("ringfence vm: " + $0) })
        b.baseConfig = tree.baseConfig.map(absolute)
        b.arch = vm.arch
        let plan = try b.build()
        runner.options.kernelImage = plan.kernelPath
        runner.options.configFile = plan.configPath
        if tree.coverage { runner.options.extraKernelParameters.append(GuestCommandLine.gcovKey + "=1") }
        if tree.hunt && vm.memory == nil { runner.options.memoryMB = 2048 }   // KASAN's shadow memory
        if tree.debug && !tree.hunt && vm.memory == nil { runner.options.memoryMB = 1024 }   // kmemleak's object pool
        if tree.debug { runner.options.extraKernelParameters.append(GuestCommandLine.kmemleakKey + "=1") }
        return plan
    }

    /// --coverage: lcov.info, HTML and the per-function summary from the
    /// gcov archive the guest sent.
    func coverageReport(_ plan: KernelBuild.Plan) throws {
        let outDir = suite.out ?? "out/" + (BzImage.release(FileManager.default.contents(atPath: plan.kernelPath) ?? Data()) ?? "kernel")
        let archive = outDir + "/" + GcovCollector.archiveName
        guard FileManager.default.fileExists(atPath: archive) else {
            throw HostError("--coverage: the guest sent no \(GcovCollector.archiveName) (see \(outDir)/console.log)")
        }
        let report = try HostProcess.check(["bash", Self.projectRoot + "/ci/coverage.sh", "report", plan.outputDirectory, archive, outDir + "/coverage"],
                                           phase: "computing coverage", timeout: 1800)
        warn(report.trimmingCharacters(in: .whitespacesAndNewlines))
        try OutputDirectory.record(try OutputDirectory.resolve(outDir, shown: outDir), adding: ["coverage"])
    }

    /// An --arch run's known bugs: cases/known-bugs.yaml beside the cases
    /// (entries scoped with `arches:` apply only there).
    func loadKnownBugs(_ o: inout VMRunOptions) throws {
        let path = o.casesDir + "/" + KnownBugs.fileName
        guard FileSystem.isDirectory(o.casesDir), FileManager.default.fileExists(atPath: path) else { return }
        do { o.knownBugs = try KnownBugs.load(path: path, compose: YAMLCompose.composer, required: true) } catch let e as CaseFileError {
            warn("ringfence: \(e)")
            throw ExitCode(Exit.usage)
        }
    }

    /// What the guest will run, when the host can tell (the guest command is
    /// `run` on /cases): the plan for the report, and only the modules it needs.
    func plan(_ o: inout VMRunOptions) throws {
        let cases = try loadCases(o.casesDir)
        o.loadedCases = (cases, CaseLoader.timings.files)
        var selected: [TestCase]? = nil
        if o.guestArguments.first == "run", let cmd = try? RunCommand.parse(Array(o.guestArguments.dropFirst())),
           cmd.cases == "/cases" {
            let s = cmd.filter.isEmpty ? cases : cases.filter { c in cmd.filter.contains { CaseFilter.matches($0, c) } }
            if !s.isEmpty { selected = s }
            let bugsPath = cmd.knownBugs.map { $0 == "none" ? nil : $0.replacingOccurrences(of: "/cases", with: o.casesDir) }
                ?? o.casesDir + "/" + KnownBugs.fileName
            if let p = bugsPath, FileManager.default.fileExists(atPath: p) || cmd.knownBugs != nil {
                do { o.knownBugs = try KnownBugs.load(path: p, compose: YAMLCompose.composer, required: true) } catch let e as CaseFileError {
                    warn("ringfence: \(e)")
                    throw ExitCode(Exit.usage)
                }
            }
        }
        o.plan = selected
        var names = Set<String>()
        for c in selected ?? cases { for case .module(let m) in c.requires { names.insert(m) } }
        o.modules = names.sorted()
    }

    /// Checks that need no kernel: tools, and that --out and --results can be written.
    func preflight(_ o: VMRunOptions) throws {
        if executor == .kselftest { try preflightArch(o) } else { try preflightTools(o) }
        if kernel.listKernels || kernel.fetchSource != nil { return }
        if let out = o.out {
            // Refused before anything is downloaded or written: a directory
            // holding files ringfence did not write (README, "Where results go").
            let p = try OutputDirectory.resolve(out, shown: "--out \(out)")
            try OutputDirectory.checkUsable(p, shown: "--out \(out)")
            try FileSystem.checkWritable((p as NSString).deletingLastPathComponent, what: "--out \(out)")
        } else if o.writeInitramfs == nil {
            try FileSystem.checkWritable(absolute("out"), what: "./out (the default --out)")
        }
        if let r = o.results { try VMRunner.checkResultsTarget(r) }
    }

    /// The tools of an --arch run: its QEMU, the cross compiler (and make),
    /// apt for a Debian kernel, the kernel build's tools with --build.
    func preflightArch(_ o: VMRunOptions) throws {
        let row = vm.arch.row
        if kernel.listKernels { return try need(["apt-get"], packages: ["apt"]) }
        if kernel.fetchSource != nil { return try need(["apt-get", "dpkg-deb", "tar", "xz"], packages: ["apt", "dpkg", "tar", "xz-utils"]) }
        try need(["make", row.crossPrefix + "gcc"], packages: ["make"] + row.crossPackages,
                 why: "the cases are cross-compiled statically for \(vm.arch.rawValue)")
        try need([row.qemu], packages: [row.qemuPackage], why: "the \(vm.arch.rawValue) guest runs under \(row.qemu)")
        if o.kernelImage == nil && !tree.build { try need(["apt-get", "dpkg-deb"], packages: ["apt", "dpkg"]) }
        if tree.build {
            try need(["gcc", "flex", "bison", "bc", "perl", "tar", "xz"], packages: ["build-essential", "flex", "bison", "bc", "libelf-dev", "libssl-dev"],
                     why: "--build compiles the kernel")
        }
    }

    /// Stops (exit 2) naming the Debian packages when a tool is not on PATH.
    func need(_ tools: [String], packages: [String], why: String? = nil) throws {
        let missing = tools.filter { HostProcess.which($0) == nil }
        guard !missing.isEmpty else { return }
        throw HostError("\(missing.joined(separator: ", ")) not found" + (why.map { " (\($0))" } ?? "")
                        + "; install: apt-get install -y --no-install-recommends \(packages.joined(separator: " "))")
    }

    /// The tools of an x86_64 run (the Swift guest).
    func preflightTools(_ o: VMRunOptions) throws {
        var tools = ["qemu-system-x86_64", "strip", "ldd", "sha256sum"]
        if o.kernelImage == nil { tools += ["apt-get", "dpkg-deb"] }
        if !o.modules.isEmpty { tools += ["depmod", "xz", "zstd"] }
        if tree.build { tools += ["make", "gcc", "flex", "bison", "bc", "perl", "tar", "xz"] }
        if tree.coverage { tools += ["lcov", "genhtml", "gcov", "python3"] }
        if kernel.listKernels { tools = ["apt-get"] }
        if kernel.fetchSource != nil { tools = ["apt-get", "dpkg-deb", "tar", "xz"] }
        if o.writeInitramfs != nil { tools.removeAll { $0 == "qemu-system-x86_64" } }
        let missing = tools.filter { HostProcess.which($0) == nil }
        if !missing.isEmpty {
            throw HostError("\(missing.joined(separator: ", ")) not found; install: apt-get install -y --no-install-recommends qemu-system-x86 binutils kmod xz-utils zstd cpio"
                            + (tree.build ? " build-essential flex bison bc libelf-dev libssl-dev" : "") + (tree.coverage ? " lcov" : ""))
        }
    }

    func absolute(_ p: String) -> String { FileSystem.absolute(p) }
}

struct TreeOptions: ParsableArguments {
    @Flag(help: "Build the kernel first: tinyconfig (or --base-config) + ci/ringfence.config, out of tree under the cache (incremental on reruns), then run the suite on it.")
    var build = false
    @Option(help: ArgumentHelp("With --build: the kernel tree (default: Debian's newest linux-source-7.x, downloaded).", valueName: "DIR"))
    var tree: String?
    @Option(help: ArgumentHelp("With --build: start from this .config instead of tinyconfig (merged with scripts/kconfig/merge_config.sh).", valueName: "FILE"))
    var baseConfig: String?
    @Flag(help: "With --build: also merge ci/ringfence-hunt.config (INIT_STACK_NONE, KASAN; guest memory 2G).")
    var hunt = false
    @Flag(help: "With --build: gcov for io_uring/ (ci/ringfence-coverage.config); lcov.info, HTML and a per-function summary land in <out>/coverage/.")
    var coverage = false
    @Flag(help: "With --build: the debug kernel (ci/ringfence-debug.config): fault injection for the inject: cases, kmemleak (the guest scans for leaks after the suite), DEBUG_ATOMIC_SLEEP; guest memory 1G.")
    var debug = false
}

extension VMCommand {
    /// The project checkout (ci/ fragments): run-in-vm.sh exports it; an
    /// installed ringfence outside a checkout uses <prefix>/share/ringfence.
    static var projectRoot: String {
        let env = ProcessInfo.processInfo.environment
        if let r = env["RINGFENCE_ROOT"], !r.isEmpty { return r }
        if let c = env["RINGFENCE_DEFAULT_CASES"] { return (c as NSString).deletingLastPathComponent }
        let cwd = FileManager.default.currentDirectoryPath
        if !FileManager.default.fileExists(atPath: cwd + "/ci/ringfence.config"), let s = InstallLayout.shareDirectory { return s }
        return cwd
    }
}

struct KernelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A Debian cloud kernel: 7.3.4, 7.0 (newest 7.0.x), 7.3.4+deb13-cloud-amd64 or 7.3.4-1~bpo13+1.", valueName: "V"))
    var kernelVersion: String?
    @Flag(help: "List the available Debian kernels and exit.")
    var listKernels = false
    @Flag(help: "Also look in the experimental suite (release candidates; implied by --kernel-version 7.3~rc7).")
    var experimental = false
    @Option(help: ArgumentHelp("Debian mirror URI (default: the first Debian URI in the system's apt sources).", valueName: "URI"))
    var mirror: String?
    @Flag(help: "Refresh the kernel package indexes now (default: when older than a day).")
    var refresh = false
    @Option(help: ArgumentHelp("Download and unpack Debian's linux-source-V (e.g. 7.3, or 'newest') into the cache, print the tree's path and exit.", valueName: "V"))
    var fetchSource: String?
    @Option(help: ArgumentHelp("Boot this kernel image (bzImage) instead.", valueName: "PATH"))
    var kernel: String?
    @Option(help: ArgumentHelp("With --kernel: modules installed by `make modules_install INSTALL_MOD_PATH=DIR`.", valueName: "DIR"))
    var modules: String?
    @Option(help: ArgumentHelp("With --kernel: its .config (checked for CONFIG_IO_URING_BPF; its digest goes into the results).", valueName: "FILE"))
    var config: String?
}

struct MachineOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Guest architecture: x86_64 (default: the Swift guest), arm64 (Debian's cloud-arm64 kernel) or s390x (big-endian; needs --build or --kernel). arm64 and s390x run the cases exported as C (ringfence export --kselftest), cross-compiled statically, under TCG; see docs/architectures.md.", valueName: "ARCH"))
    var arch: GuestArch = .x86_64
    @Option(help: ArgumentHelp("What runs the cases: swift (the Swift guest as /init; x86_64 only, its default) or kselftest (the cases exported as C, compiled statically, as /init; the only one on arm64 and s390x). On x86_64, ci/kselftest-agree.sh runs both and compares them case by case.", valueName: "EXECUTOR"))
    var executor: GuestExecutor?
    @Option(help: "Accelerator: auto (KVM when /dev/kvm works and has not failed here before, else TCG), kvm or tcg.")
    var accel: VMRunOptions.Accel = .auto
    @Option(help: "TCG threading with --cpus > 1: single (one host thread for all guest CPUs; default) or multi (faster, but see the boot-flake rates in docs/performance.md).")
    var tcgThreads: QEMUSettings.TCGThreads = .single
    @Option(parsing: .unconditional, help: "Global timeout for the VM in seconds (default 300); QEMU is killed and the run fails when it expires.")
    var timeout: Double = 300
    @Option(parsing: .unconditional, help: "Guest CPUs (default: host CPUs, at most 4, under KVM; 1 under TCG, see docs/run-in-vm.md); the guest runs that many cases at once.")
    var cpus: Int?
    @Option(help: "Guest memory, e.g. 512M or 1G (default: sized from the initramfs).")
    var memory: String?
    @Option(help: ArgumentHelp("Extra kernel command-line parameters, e.g. 'acpi=off' (repeatable).", valueName: "PARAM"))
    var append: [String] = []
    @Option(help: "Initramfs compression: none (default, fastest) or gzip.")
    var initrdCompression = "none"
    @Flag(help: "Boot the kernel with a 194-byte /init that only powers off (the yardstick; see --repeat).")
    var bareBoot = false
    @Option(parsing: .unconditional, help: "With --bare-boot: boot this many times and count kernel trouble (boot flakes).")
    var `repeat` = 1
}

struct SuiteOptions: ParsableArguments {
    @Option(name: .customLong("cases"), help: ArgumentHelp("Case directory (or one case file), compiled on the host into the guest's /cases/suite.rfcases (default: cases/ next to run-in-vm.sh, else ./cases, else the installed <prefix>/share/ringfence/cases).", valueName: "DIR"))
    var casesDirectory = ProcessInfo.processInfo.environment["RINGFENCE_DEFAULT_CASES"] ?? InstallLayout.defaultCases
    @Option(help: ArgumentHelp("Results directory (default: ./out/<kernel-release>/).", valueName: "DIR"))
    var out: String?
    @Option(help: ArgumentHelp("Also copy results.json (for ringfence compare) to this file.", valueName: "FILE"))
    var results: String?
    @Flag(help: "Also run the exhaustive tier.")
    var exhaustive = false
    @Flag(help: "Run `ringfence bench` instead of the suite; bench.svg and bench.json land in the results directory.")
    var bench = false
    @Flag(help: "Known bugs fail the run (exit 1): gate on 'this kernel is correct', not only 'nothing new broke'.")
    var strict = false
    @Flag(help: "Exit for `git bisect run`: 0 good, 1 bad (the kernel failed a case), 125 skip (set-up, build or infrastructure failure, or every case skipped because the kernel lacks the feature); 128+N only when interrupted. See docs/kernel-tree.md.")
    var bisect = false
    @Flag(help: "Accepted for run-in-vm.sh: do not rebuild ringfence first (ringfence vm never builds).")
    var noBuild = false
    @Option(help: ArgumentHelp("Build the initramfs, write it to FILE and exit (no boot).", valueName: "FILE"))
    var writeInitramfs: String?
    @Option(help: ArgumentHelp("The guest's /init (default: <prefix>/lib/ringfence/ringfence-guest when installed as <prefix>/bin/ringfence, else ringfence-guest beside this executable).", valueName: "PATH"))
    var guestBinary: String?
}

extension VMRunOptions.Accel: ExpressibleByArgument {}
extension GuestArch: ExpressibleByArgument {}
extension GuestExecutor: ExpressibleByArgument {}
extension QEMUSettings.TCGThreads: ExpressibleByArgument {}
