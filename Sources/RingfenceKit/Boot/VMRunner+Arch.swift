import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `ringfence vm --arch arm64|s390x`: the cases exported as C
/// (`KselftestExport`), cross-compiled statically, booted as the only /init
/// of an initramfs under the architecture's QEMU (`GuestArch.row`), and
/// judged by the one judge (`VMVerdict.judge`) with the exported cases as
/// the plan. Results go where an x86_64 run's go, with the architecture
/// recorded (`HostFacts.arch`).
extension VMRunner {
    public func runExported(cases: [TestCase], stdout: (String) -> Void) throws -> Int32 {
        try abandoningResultsOnError { try runExportedOnce(cases: cases, stdout: stdout) }
    }

    /// The default results directory of an exported run: ./out/<release>,
    /// with the architecture added when the release does not name it (a
    /// kernel built from linux-source is just "7.3.4" on every architecture);
    /// on x86_64 (--executor kselftest) ./out/<release>-kselftest, beside the
    /// Swift guest's ./out/<release>.
    public static func defaultOut(release: String, arch: GuestArch) -> String {
        if arch == .x86_64 { return "out/\(release)-kselftest" }
        if release.hasSuffix("-" + arch.row.debianArch) { return "out/\(release)" }
        return "out/\(release)-\(arch.rawValue)"
    }

    func runExportedOnce(cases: [TestCase], stdout: (String) -> Void) throws -> Int32 {
        let arch = options.arch
        let t0 = rf_now_ns()
        func since(_ t: UInt64) -> Double { Double(rf_now_ns() - t) / 1e9 }
        let kernel = try resolveKernel()
        let tKernel = since(t0)
        var (configDigest, notes) = try checkConfig(of: kernel)
        let outPath = options.out ?? Self.defaultOut(release: kernel.release, arch: arch)
        let out = try OutputDirectory(outPath, shown: options.out.map { "--out \($0)" } ?? outPath)
        currentOut = out
        let w = try makeWorkDirectory()
        let t1 = rf_now_ns()
        let (export, program) = try crossCompile(cases: cases, in: w + "/kselftest")
        var a = CpioArchive()
        a.addDirectory("dev")
        a.add(.init(path: "dev/console", mode: 0o600, kind: .charDevice(5, 1)))
        guard let bin = FileManager.default.contents(atPath: program) else { throw HostError("cannot read \(program)") }
        a.addFile("init", bin, mode: 0o755)
        let initrd = a.bytes()
        let initrdPath = w + "/initrd.cpio"
        try FileSystem.write(initrd, to: initrdPath)
        let tBuild = since(t1)
        let memory = options.memoryMB ?? 512
        if let free = FileSystem.freeBytes(out.staging), free < 64 << 20 {
            throw HostError("only \(FileSystem.megabytes(free)) free under \(outPath): a run needs about 64 MB for its console log and results")
        }
        let append = QEMUSettings.exportCommandLine(arch: arch, programArguments: options.exhaustive ? ["-e"] : [],
                                                    extra: options.extraKernelParameters)
        try FileSystem.write(append + "\n", to: out.staging + "/cmdline")
        var settings = QEMUSettings(kernel: kernel.vmlinuz, initrd: initrdPath, append: append, serialLog: out.staging + "/console.log")
        settings.arch = arch
        settings.accelerator = .tcg   // a foreign architecture, or x86_64's C program beside the Swift guest's runs: TCG
        settings.cpus = options.cpus ?? 1
        settings.memoryMB = memory
        settings.tcgThreads = options.tcgThreads
        let qv = qemuVersion(arch: arch)
        let tBoot0 = rf_now_ns()
        let (boot, attempts) = try bootExported(settings, kernel: kernel, out: out, notes: &notes)
        let vmSeconds = since(tBoot0)
        if boot.noPowerOff {
            say("warning: the guest finished but did not power off within \(Int(options.powerOffGrace)) s; stopped it (\(arch.row.powerOff) did not end QEMU)")
            notes.append("the guest did not power off after finishing; stopped by the host")
        }
        notes.append("the cases ran as the C kselftest (ringfence export --kselftest): \(export.exported.count) of \(cases.count) exported, "
                     + "\(export.notExported.count) not (NOT-EXPORTED in the export)")
        let host = hostFacts(kernel: kernel, accel: .tcg, settings: settings, attempts: attempts, executor: .kselftest,
                             configDigest: configDigest, qemuVersion: qv, vmSeconds: boot.seconds, notes: notes)

        var context = judgeContext(boot, kernel: kernel)
        context.arch = arch.rawValue
        // A kernel built from linux-source is just "7.3.4": no Debian version to parse.
        context.kernelVersion = context.kernelVersion ?? KernelVersion(kernel.release)
        let judged = VMVerdict.judge(log: boot.console, plan: export.exported, host: host, context: context)
        if let why = judged.outcome.infrastructure {
            throw HostError(why + (attempts > 1 ? " (after \(attempts) boots)" : "") + "; console log: \(out.path)/console.log")
        }
        // The export beside the results: NOT-EXPORTED (what did not run) and BYTE-ORDER (the cases that declare a byte order).
        for f in [KselftestExport.notExportedFile, KselftestExport.byteOrderFile] {
            if let d = FileManager.default.contents(atPath: w + "/kselftest/" + f) { try FileSystem.write(d, to: out.staging + "/" + f) }
        }
        let code = try publish(judged, to: out)
        stdout(judged.ktap)
        let tail = exportTail(judged, export: export, cases: cases, kernel: kernel, code: code, out: out.path, timedOut: boot.timedOut,
                              times: String(format: "VM %.2f s, total %.2f s (kernel %.2f s, export and cross-compile %.2f s)", vmSeconds, since(t0), tKernel, tBuild))
        stdout(tail.joined(separator: "\n") + "\n")
        return code
    }

    /// Boots until there is a console to judge: a boot that died before the
    /// program's init is retried once (as on x86_64).
    func bootExported(_ settings: QEMUSettings, kernel: Kernel, out: OutputDirectory, notes: inout [String]) throws -> (BootOutcome, Int) {
        let arch = settings.arch
        let memory = settings.memoryMB
        var attempts = 0
        var boot: BootOutcome
        while true {
            attempts += 1
            say("booting \(kernel.release) on \(arch.rawValue) (\(arch.row.qemu) -machine \(arch.row.machine), tcg, \(settings.cpus) CPU(s), \(memory) MiB)"
                + (attempts > 1 ? ", attempt \(attempts)" : ""))
            boot = try self.boot(settings, qemuLog: out.staging + "/qemu.log", detectKVMFailure: false, endMarker: "# ringfence-exit:")
            if let e = VMRunner.qemuFailure(boot, memoryMB: memory) { throw e }
            if let silent = boot.silentFor {
                throw HostError("the kernel printed nothing in \(Int(silent)) s (\(kernel.vmlinuz)): the image is damaged or not an \(arch.rawValue) kernel "
                                + "\(arch.row.qemu) -machine \(arch.row.machine) can boot (console=\(arch.row.console)); rebuild or re-fetch it")
            }
            let verdict = ConsoleVerdict.evaluate(log: boot.console)
            if attempts == 1, let early = VMVerdict.bootFailure(verdict) {
                say("the boot died before the kselftest's init started (\(early)): an infrastructure failure, booting once more")
                notes.append("boot 1 died before the kselftest's init started (\(early)); booted again")
                try? FileSystem.move(out.staging + "/console.log", to: out.staging + "/console.boot1.log")
                continue
            }
            break
        }
        return (boot, attempts)
    }

    /// The lines after the KTAP document: times, totals, problems.
    func exportTail(_ judged: VMJudgement, export: KselftestExport, cases: [TestCase], kernel: Kernel, code: Int32, out: String,
                    timedOut: Bool, times: String) -> [String] {
        let arch = options.arch
        func fmt(_ d: Double?) -> String { d.map { String(format: "%.2f", $0) } ?? "?" }
        let t = judged.report.totals
        var tail = ["# ringfence vm: \(arch.rawValue), kernel \(kernel.release), tcg: boot \(fmt(judged.console.bootSeconds)) s, suite \(fmt(judged.console.suiteSeconds)) s, "
                    + times]
        tail.append("# ringfence vm: \(t.passed) passed, \(t.failed + t.errors) failed, \(t.xfail) known bugs (xfail), \(t.xpass) xpass, \(t.skipped) skipped "
                    + "of \(judged.report.cases.count) exported (\(export.notExported.count) of \(cases.count) not exported: \(out)/\(KselftestExport.notExportedFile)); "
                    + "exit \(code); results in \(out)")
        for p in judged.problems { tail.append("# ringfence vm: problem: \(p)") }
        if timedOut { tail.append("# ringfence vm: the VM was killed after the \(Int(options.timeout)) s timeout") }
        return tail
    }

    /// Exports the cases into `dir` and builds the program statically with
    /// the architecture's cross compiler; checks that the result is an ELF
    /// executable for that machine. Returns the export and the program's path.
    func crossCompile(cases: [TestCase], in dir: String) throws -> (KselftestExport, String) {
        let arch = options.arch
        let export = KselftestExport(cases: cases)
        do { try export.write(to: dir) } catch let e as ExportError { throw HostError("exporting the cases as C: \(e)") }
        let log = dir + "/make.log"
        let argv = ["make", "-C", dir, "CROSS_COMPILE=\(arch.row.crossPrefix)"]
        let p = try HostProcess(argv, stdout: log, stderr: log)
        guard let code = try p.wait(phase: "cross-compiling the kselftest for \(arch.rawValue)", timeout: 1800) else {
            throw HostError("cross-compiling the kselftest took more than 30 minutes; see \(log)")
        }
        if code != 0 {
            let tail = HostProcess.logTail(log, lines: 15)
            throw HostError("\(argv.joined(separator: " ")) failed (exit \(code)); the end of its output:\n" + tail
                            + "\n(static linking needs the cross libc: apt-get install -y \(arch.row.crossPackages.joined(separator: " ")))")
        }
        let program = dir + "/" + KselftestExport.programName
        guard let head = FileHandle(forReadingAtPath: program)?.readData(ofLength: 64) else { throw HostError("make left no \(program)") }
        if let why = Self.elfMismatch([UInt8](head), arch: arch) { throw HostError("\(program): \(why); check CROSS_COMPILE=\(arch.row.crossPrefix)") }
        return (export, program)
    }

    /// nil when `header` starts a 64-bit ELF executable for `arch` (byte
    /// order and e_machine); else what it is instead.
    public static func elfMismatch(_ header: [UInt8], arch: GuestArch) -> String? {
        guard header.count >= 20, header[0..<4] == [0x7f, 0x45, 0x4c, 0x46] else { return "not an ELF file" }
        let bigEndian = header[5] == 2
        let machine = bigEndian ? Int(header[18]) << 8 | Int(header[19]) : Int(header[18]) | Int(header[19]) << 8
        let want: (machine: Int, bigEndian: Bool) = arch == .x86_64 ? (62, false) : arch == .arm64 ? (183, false) : (22, true)
        if header[4] != 2 { return "a 32-bit ELF file, not a 64-bit \(arch.rawValue) one" }
        if machine != want.machine || bigEndian != want.bigEndian {
            return "an ELF file for machine \(machine) (\(bigEndian ? "big" : "little")-endian), not \(arch.rawValue) (machine \(want.machine))"
        }
        return nil
    }

    /// The release of an --arch kernel image: x86's bzImage header, else the
    /// "Linux version R " banner of an uncompressed image (arm64's Image),
    /// else the build tree's include/config/kernel.release beside it.
    public static func imageRelease(_ path: String, arch: GuestArch) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        if arch == .x86_64 { return BzImage.release(data) }
        let needle = Array("Linux version ".utf8)
        let bytes = [UInt8](data)
        if let r = bytes.firstRange(of: needle) {
            let text = bytes[r.upperBound...].prefix { $0 > 32 && $0 < 127 }
            if !text.isEmpty, text.first.map({ $0 >= 0x30 && $0 <= 0x39 }) == true { return String(decoding: text, as: UTF8.self) }
        }
        // <O>/arch/<arch>/boot/<image>: <O>/include/config/kernel.release.
        var dir = (path as NSString).deletingLastPathComponent
        for _ in 0..<4 {
            if let r = try? String(contentsOfFile: dir + "/include/config/kernel.release", encoding: .utf8) {
                let s = r.trimmingCharacters(in: .whitespacesAndNewlines)
                if !s.isEmpty { return s }
            }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return nil
    }
}
