import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension VMRunner {
    /// A whole run: kernel, initramfs, boot (with the accelerator policy and
    /// one retry of a boot that died before init), the judged report, files.
    /// Returns the exit code; `HostError` for set-up errors and signals.
    public func run(stdout: (String) -> Void) throws -> Int32 {
        try abandoningResultsOnError { try runOnce(stdout: stdout) }
    }

    /// Runs `body`; when it throws before the results directory was
    /// published, the directory says why (INCOMPLETE), beside the console log.
    func abandoningResultsOnError(_ body: () throws -> Int32) throws -> Int32 {
        do {
            return try body()
        } catch {
            if let out = currentOut, !out.published {
                out.abandon(reason: Signals.caught.map { "interrupted by \(Signals.name($0))" }
                            ?? (error as? HostError)?.message ?? "stopped before a verdict by an error: \(error)")
            }
            throw error
        }
    }

    /// One run, in stages: kernel (and its config checked), initramfs, boot
    /// (with the accelerator policy and one retry), judge, publish.
    func runOnce(stdout: (String) -> Void) throws -> Int32 {
        let t0 = rf_now_ns()
        func since(_ t: UInt64) -> Double { Double(rf_now_ns() - t) / 1e9 }
        let kernel = try resolveKernel()
        let tKernel = since(t0)
        var (configDigest, notes) = try checkConfig(of: kernel)
        // From here on the results directory is this run's: the previous
        // results go as soon as this run stops without a verdict.
        let outPath = options.out ?? "out/\(kernel.release)"
        let out: OutputDirectory? = options.writeInitramfs == nil ? try OutputDirectory(outPath, shown: options.out.map { "--out \($0)" } ?? outPath) : nil
        currentOut = out
        let w = try makeWorkDirectory()
        let t1 = rf_now_ns()
        var initrd = try buildInitramfs(kernel: kernel)
        var initrdPath = w + "/initrd.cpio"
        try FileSystem.write(initrd, to: initrdPath)
        if options.gzipInitrd {
            _ = try HostProcess.check(["gzip", "-1", initrdPath], phase: "compressing the initramfs")
            initrdPath += ".gz"
            initrd = FileManager.default.contents(atPath: initrdPath) ?? initrd
        }
        let tInitrd = since(t1)
        if let dest = options.writeInitramfs {
            try FileSystem.copy(initrdPath, to: dest)
            say("initramfs for \(kernel.release) written to \(dest) (\(FileSystem.megabytes(initrd.count)))")
            return 0
        }
        let rawSize = FileSystem.size(w + "/initrd.cpio") ?? initrd.count
        let memory = options.memoryMB ?? QEMUSettings.defaultMemoryMB(initramfsBytes: rawSize)

        guard let out else { return 0 }
        if let free = FileSystem.freeBytes(out.staging), free < 64 << 20 {
            throw HostError("only \(FileSystem.megabytes(free)) free under \(outPath): a run needs about 64 MB for its console log and results")
        }

        let qv = qemuVersion()
        let tBoot0 = rf_now_ns()
        let booted = try bootWithRetry(kernel: kernel, initrd: initrdPath, out: out, memory: memory, rawSize: rawSize,
                                       accel: try chooseAccelerator(qemuVersion: qv, notes: &notes), qemuVersion: qv, notes: &notes)
        let vmSeconds = since(tBoot0)
        if booted.boot.noPowerOff {
            let cause = booted.console.haltedInsteadOfPowerOff ? "the kernel says \"Power off not available: System halted instead\": its config lacks ACPI"
                : "the kernel may lack ACPI power-off (CONFIG_ACPI)"
            say("warning: the guest finished but did not power off within \(Int(options.powerOffGrace)) s; stopped it (\(cause))")
            notes.append("the guest did not power off after finishing; stopped by the host (\(cause))")
        }
        let host = hostFacts(kernel: kernel, accel: booted.accel, settings: booted.settings, attempts: booted.attempts,
                             executor: .swift, configDigest: configDigest, qemuVersion: qv, vmSeconds: booted.boot.seconds, notes: notes)

        let judged = judge(booted.boot, kernel: kernel, host: host, memory: memory, rawSize: rawSize)
        if let why = judged.outcome.infrastructure {
            // No per-case verdicts: the results directory gets INCOMPLETE with
            // this reason beside console.log (the defer above), and exit 2.
            throw HostError(why + (booted.attempts > 1 ? " (after \(booted.attempts) boots)" : "") + "; console log: \(out.path)/console.log")
        }
        let code = try publish(judged, to: out)
        stdout(judged.ktap)
        let verdict = judged.console
        if code == 2 && (verdict.guestCrash != nil || !judged.outcome.guestMessage.isEmpty) {
            say(verdict.guestCrash.map { "ringfence crashed in the guest: \($0)" } ?? "the guest's ringfence stopped with a usage or case-file error:")
            for l in judged.outcome.guestMessage.prefix(20) { say("  guest: \(l)") }
        }
        let times = String(format: "VM %.2f s, total %.2f s (kernel %.2f s, initramfs %.2f s, %@)", vmSeconds, since(t0), tKernel, tInitrd,
                           FileSystem.megabytes(rawSize))
        let tail = tailLines(judged, code: code, kernel: kernel, accel: booted.accel, times: times, timedOut: booted.boot.timedOut, out: out.path)
        stdout(tail.joined(separator: "\n") + "\n")
        return code
    }

    /// The lines after the KTAP document: times, totals, problems.
    func tailLines(_ judged: VMJudgement, code: Int32, kernel: Kernel, accel: QEMUSettings.Accelerator, times: String,
                   timedOut: Bool, out: String) -> [String] {
        func fmt(_ d: Double?) -> String { d.map { String(format: "%.2f", $0) } ?? "?" }
        let verdict = judged.console
        let t = judged.report.totals
        var tail = ["# ringfence vm: kernel \(kernel.release), accel \(accel == .kvm ? "kvm" : "tcg/\(options.tcgThreads.rawValue)"): "
                    + "boot \(fmt(verdict.bootSeconds)) s, suite \(fmt(verdict.suiteSeconds)) s, " + times]
        tail.append("# ringfence vm: \(t.passed) passed, \(t.failed + t.errors) failed, \(t.xfail) known bugs (xfail), \(t.xpass) xpass, \(t.skipped) skipped of \(judged.report.cases.count) planned; exit \(code); results in \(out)")
        for p in judged.problems { tail.append("# ringfence vm: problem: \(p)") }
        if timedOut { tail.append("# ringfence vm: the VM was killed after the \(Int(options.timeout)) s timeout") }
        if judged.files["bench.svg"] != nil { tail.append("# ringfence vm: bench plot \(out)/bench.svg, data \(out)/bench.json") }
        return tail
    }

    /// Stops before booting a kernel that cannot boot, report or power off
    /// here, naming what is missing (instead of a timeout later); warns about
    /// what some cases need. Returns the config's SHA-256 and the run's notes.
    func checkConfig(of kernel: Kernel) throws -> (digest: String?, notes: [String]) {
        guard let cfg = kernel.config else {
            say("\(kernel.release): no config available, CONFIG_IO_URING_BPF unknown")
            return (nil, [])
        }
        var notes: [String] = []
        let digest = try FileSystem.sha256(cfg)
        let text = (try? String(contentsOfFile: cfg, encoding: .utf8)) ?? ""
        let feature: Set<String> = ["CONFIG_IO_URING", "CONFIG_NET", "CONFIG_BPF", "CONFIG_IO_URING_BPF"]
        let config = KernelConfig.parse(text)
        let missing = KernelConfig.missing(in: config, requirements: KernelConfig.guestRequirements(for: options.arch)).filter { !feature.contains($0.option) }
        if !missing.isEmpty {
            throw HostError("\(cfg) lacks what the guest needs to boot and report, so it was not booted:\n"
                            + missing.map { "  \($0.option)=y: \($0.reason)" }.joined(separator: "\n")
                            + "\n(merge ci/ringfence.config" + (options.arch.row.configFragment.map { " and ci/\($0)" } ?? "")
                            + " into the kernel's config: docs/kernel-tree.md)")
        }
        for r in KernelConfig.missing(in: config, requirements: KernelConfig.caseRequirements) {
            say("warning: \(kernel.release): \(r.option) is not y; \(r.reason): those cases will fail or skip")
        }
        if KernelCatalog.ioUringBPF(config: text) != .enabled {
            say("warning: \(kernel.release): CONFIG_IO_URING_BPF is not y in its config")
            notes.append("CONFIG_IO_URING_BPF is not y in the kernel's config")
        }
        return (digest, notes)
    }

    /// The accelerator policy: --accel tcg/kvm as asked; auto takes KVM when
    /// /dev/kvm works and KVM has not failed on this machine before.
    func chooseAccelerator(qemuVersion qv: String?, notes: inout [String]) throws -> QEMUSettings.Accelerator {
        switch options.accel {
        case .tcg: return .tcg
        case .kvm:
            guard kvmUsable() else { throw HostError("--accel kvm: /dev/kvm is not usable") }
            return .kvm
        case .auto:
            guard kvmUsable() else { return .tcg }
            if let why = rememberedKVMFailure(qemuVersion: qv ?? "") {
                notes.append("KVM skipped: it failed on this machine before (\(why)); --accel kvm tries it anyway")
                return .tcg
            }
            return .kvm
        }
    }

    struct Booted {
        var boot: BootOutcome
        var console: ConsoleVerdict
        var attempts: Int
        var accel: QEMUSettings.Accelerator
        var settings: QEMUSettings
    }

    /// Boots until there is a console to judge: KVM that fails falls back to
    /// TCG (remembered), a boot that died before init is retried once.
    func bootWithRetry(kernel: Kernel, initrd: String, out: OutputDirectory, memory: Int, rawSize: Int,
                       accel first: QEMUSettings.Accelerator, qemuVersion qv: String?, notes: inout [String]) throws -> Booted {
        var accel = first
        let append = QEMUSettings.kernelCommandLine(guestArguments: options.guestArguments, modules: options.modules,
                                                    extra: options.extraKernelParameters)
        try FileSystem.write(append + "\n", to: out.staging + "/cmdline")
        var settings = QEMUSettings(kernel: kernel.vmlinuz, initrd: initrd, append: append, serialLog: out.staging + "/console.log")
        settings.memoryMB = memory
        settings.tcgThreads = options.tcgThreads
        var attempts = 0
        var boot: BootOutcome
        var verdict: ConsoleVerdict
        while true {
            attempts += 1
            settings.accelerator = accel
            settings.cpus = options.guestCPUs(accel)
            say("booting \(kernel.release) (\(accel == .kvm ? "kvm" : "tcg, \(options.tcgThreads.rawValue)-threaded"), \(settings.cpus) CPU(s), \(memory) MiB)" + (attempts > 1 ? ", attempt \(attempts)" : ""))
            boot = try self.boot(settings, qemuLog: out.staging + "/qemu.log", detectKVMFailure: accel == .kvm && options.accel == .auto,
                                 endMarker: "# ringfence-exit:")
            if let why = boot.kvmFailed {
                say("KVM did not work here (\(why)); falling back to TCG")
                notes.append("KVM did not work (\(why)); ran under TCG")
                try? FileSystem.write("\(hostKernel())\n\(qv ?? "")\n\(why)\n", to: kvmMemo)
                try? FileSystem.move(out.staging + "/console.log", to: out.staging + "/console.kvm-failed.log")
                accel = .tcg
                attempts -= 1
                continue
            }
            if let e = VMRunner.qemuFailure(boot, memoryMB: memory) { throw e }
            if let halted = boot.haltedEarly {
                throw HostError("the kernel image did not start: its boot stub said \"\(halted)\" and halted (\(kernel.vmlinuz)): the image is damaged; "
                                + "rebuild or re-fetch it (a cached Debian kernel is checked and unpacked again on the next run)")
            }
            if let silent = boot.silentFor {
                throw HostError("the kernel printed nothing in \(Int(silent)) s (\(kernel.vmlinuz)): the image is damaged or not a kernel this QEMU can boot; "
                                + "rebuild or re-fetch it (a cached Debian kernel is checked and unpacked again on the next run)")
            }
            verdict = ConsoleVerdict.evaluate(log: boot.console)
            // Below the default memory a boot that dies early is the setting, not a flake.
            if attempts == 1, memory >= QEMUSettings.defaultMemoryMB(initramfsBytes: rawSize), let early = VMVerdict.bootFailure(verdict) {
                say("the boot died before ringfence's init started (\(early)): an infrastructure failure, booting once more")
                notes.append("boot 1 died before ringfence's init started (\(early)); booted again")
                try? FileSystem.move(out.staging + "/console.log", to: out.staging + "/console.boot1.log")
                continue
            }
            break
        }
        return Booted(boot: boot, console: verdict, attempts: attempts, accel: accel, settings: settings)
    }

    /// The one judge on this run's console (as `ringfence verdict` judges a saved one).
    func judge(_ boot: BootOutcome, kernel: Kernel, host: HostFacts, memory: Int, rawSize: Int) -> VMJudgement {
        var context = judgeContext(boot, kernel: kernel)
        let defaultMemory = QEMUSettings.defaultMemoryMB(initramfsBytes: rawSize)
        if memory < defaultMemory { context.memoryDefaultMB = defaultMemory }
        return VMVerdict.judge(log: boot.console, plan: options.guestArguments.first == "run" ? options.plan : nil, host: host, context: context)
    }

    /// What the host knows about this run, for results.json's `host`.
    func hostFacts(kernel: Kernel, accel: QEMUSettings.Accelerator, settings: QEMUSettings, attempts: Int, executor: GuestExecutor,
                   configDigest: String?, qemuVersion: String?, vmSeconds: Double, notes: [String]) -> HostFacts {
        var host = HostFacts(accelerator: accel.rawValue, kernelRelease: kernel.release, bootAttempts: attempts,
                             cpus: settings.cpus, memoryMB: settings.memoryMB)
        host.tcgThreads = accel == .tcg ? options.tcgThreads.rawValue : nil
        host.arch = settings.arch.rawValue
        host.executor = executor.rawValue
        host.kernelPackage = kernel.package
        host.kernelPackageVersion = kernel.packageVersion
        host.kernelImage = options.kernelImage.map(FileSystem.absolute)
        host.configDigest = configDigest
        host.qemuVersion = qemuVersion
        host.vmSeconds = vmSeconds
        host.notes = notes
        return host
    }

    /// The judge's context for this run's console: known bugs, the kernel's
    /// version, the timeout, --strict.
    func judgeContext(_ boot: BootOutcome, kernel: Kernel) -> VMVerdict.Context {
        var context = VMVerdict.Context()
        context.knownBugs = options.knownBugs
        context.kernelVersion = KernelVersion.running(release: kernel.release, version: kernel.packageVersion.map { "Debian " + $0 } ?? "")
        context.timedOut = boot.timedOut
        context.timeoutSeconds = options.timeout
        context.strict = options.strict
        return context
    }

    /// Writes the results directory from the judgement alone and publishes it;
    /// copies results.json to --results. Returns the exit code.
    func publish(_ judged: VMJudgement, to out: OutputDirectory) throws -> Int32 {
        for (name, data) in judged.files.sorted(by: { $0.key < $1.key }) where !name.contains("/") {
            try FileSystem.write(data, to: out.staging + "/" + name)
        }
        let report = judged.report
        if judged.byReport {
            try FileSystem.write(try report.json(), to: out.staging + "/results.json")
            try FileSystem.write(JUnitWriter().document(report), to: out.staging + "/results.junit.xml")
        }
        try FileSystem.write(judged.ktap, to: out.staging + "/results.ktap")
        try FileSystem.write(judged.summary, to: out.staging + "/summary.txt")
        try out.publish()
        guard let dest = options.results else { return judged.exitCode }
        if FileManager.default.fileExists(atPath: out.path + "/results.json") {
            try VMRunner.checkResultsTarget(dest)
            guard let data = FileManager.default.contents(atPath: out.path + "/results.json") else { throw HostError("cannot read \(out.path)/results.json") }
            try FileSystem.writeAtomically(String(decoding: data, as: UTF8.self), to: dest)
        } else {
            say("no results file for --results \(dest): the guest command was not 'run' or the run produced no results")
            if judged.exitCode == 0 { return 1 }
        }
        return judged.exitCode
    }

    /// Boots the kernel with the 194-byte /init that only powers off, `repeat`
    /// times: the yardstick for a run's cost, and the boot-flake counter.
    public func bareBoots(repeat count: Int, stdout: (String) -> Void) throws -> Int32 {
        let kernel = try resolveKernel()
        let w = try makeWorkDirectory()
        let initrd = w + "/bare.cpio"
        try FileSystem.write(BareInit.initramfs, to: initrd)
        var times: [Double] = []
        var flakes: [(Int, String)] = []
        var failures = 0
        let accel: QEMUSettings.Accelerator = options.accel == .kvm ? .kvm : .tcg
        for i in 1...count {
            var s = QEMUSettings(kernel: kernel.vmlinuz, initrd: initrd,
                                 append: QEMUSettings.kernelCommandLine(guestArguments: nil, modules: [], extra: options.extraKernelParameters), serialLog: w + "/bare-console.log")
            s.accelerator = accel
            s.cpus = options.guestCPUs(accel)
            s.memoryMB = options.memoryMB ?? 256
            s.tcgThreads = options.tcgThreads
            let o = try boot(s, qemuLog: w + "/bare-qemu.log", detectKVMFailure: false, endMarker: BareInit.marker)
            if let e = VMRunner.qemuFailure(o, memoryMB: s.memoryMB) { throw e }
            let v = ConsoleVerdict.evaluate(log: o.console)
            let trouble = KernelSplat.find(in: o.console).first?.title
            let noInit = o.timedOut || !v.initStarted
            if let t = trouble { flakes.append((i, t)) }
            if noInit { failures += 1 }
            // Every boot that went wrong keeps its console log, and its line says how.
            if trouble != nil || noInit {
                // Only into a directory that is new, empty or ringfence's (never over a user's file).
                let keep = "\(options.out ?? "out/bare")"
                if let dir = try? OutputDirectory.resolve(keep, shown: keep), (try? OutputDirectory.checkUsable(dir, shown: keep)) != nil {
                    try? FileSystem.makeDirectory(dir)
                    try? FileSystem.copy(w + "/bare-console.log", to: "\(dir)/bare-boot-\(i).console.log")
                    try? OutputDirectory.record(dir, adding: ["bare-boot-\(i).console.log"])
                } else {
                    say("boot \(i)'s console log not kept: \(keep) holds files ringfence did not write")
                }
            }
            times.append(o.seconds)
            let how = trouble.map { " OOPS: \($0)" }
                ?? (o.timedOut ? " TIMED OUT" : noInit ? " NO INIT: the init's marker never reached the console" : "")
            stdout(String(format: "bare boot %d/%d: %.2f s%@\n", i, count, o.seconds, how))
        }
        let sorted = times.sorted()
        let median = sorted[sorted.count / 2]
        stdout(String(format: "bare boot of %@ (%@, %d CPU(s)): median %.2f s, min %.2f s, max %.2f s over %d boots; kernel trouble in %d (%.1f%%), no init in %d\n",
                      kernel.release, accel == .kvm ? "kvm" : "tcg/\(options.tcgThreads.rawValue)", options.guestCPUs(accel), median, sorted.first!, sorted.last!, count,
                      flakes.count, 100 * Double(flakes.count) / Double(count), failures))
        return flakes.isEmpty && failures == 0 ? 0 : 1
    }
}
