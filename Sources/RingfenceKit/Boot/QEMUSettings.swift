import Foundation

/// How QEMU runs the guest: pure, so the command line is tested without a VM.
public struct QEMUSettings: Equatable {
    public enum Accelerator: String, Equatable { case kvm, tcg }
    /// Multi-threaded TCG (one host thread per guest CPU) or one thread for all.
    public enum TCGThreads: String, Equatable, CaseIterable { case single, multi }

    public var arch: GuestArch = .x86_64
    public var accelerator: Accelerator = .tcg
    public var tcgThreads: TCGThreads = .single
    public var cpus = 1
    public var memoryMB = 512
    public var kernel: String
    public var initrd: String
    public var append: String
    public var serialLog: String

    public init(kernel: String, initrd: String, append: String, serialLog: String) {
        self.kernel = kernel; self.initrd = initrd; self.append = append; self.serialLog = serialLog
    }

    public var argv: [String] {
        let accel: String
        switch accelerator {
        case .kvm: accel = "kvm"
        case .tcg: accel = "tcg,thread=\(tcgThreads.rawValue)"
        }
        let row = arch.row
        let head = [row.qemu, "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                    "-machine", row.machine, "-accel", accel, "-cpu", accelerator == .kvm ? "host" : row.cpu,
                    "-smp", String(cpus), "-m", "\(memoryMB)M",
                    "-kernel", kernel, "-initrd", initrd, "-append", append]
        // The SCLP console is a device with a file chardev; the UARTs are -serial.
        let console = arch == .s390x ? ["-device", "sclpconsole,chardev=con0", "-chardev", "file,id=con0,path=\(serialLog)"]
            : ["-serial", "file:\(serialLog)"]
        return head + console + ["-monitor", "none", "-display", "none"]
    }

    /// The kernel command line of a C kselftest /init on `arch`: the
    /// console, quiet boot, a panic ends QEMU at once, printk time stamps
    /// (the judge tells kernel lines from the program's by them), and the
    /// program's own arguments after `--` (`-e`: the exhaustive tier).
    public static func exportCommandLine(arch: GuestArch, programArguments: [String], extra: [String] = []) -> String {
        var parts = ["console=\(arch.row.console)", "panic=-1", "loglevel=5", "printk.time=1", "rdinit=/init"]
        if arch == .x86_64 { parts += x86QuietBoot }
        parts += extra
        if !programArguments.isEmpty { parts += ["--"] + programArguments }
        return parts.joined(separator: " ")
    }

    /// x86_64's quiet-boot options, for the Swift guest and the C kselftest
    /// alike: no Spectre mitigations, no TSC recalibration or timer check, no
    /// i8042 keyboard-controller probing.
    static let x86QuietBoot = ["mitigations=off", "tsc=reliable", "no_timer_check", "i8042.noaux", "i8042.nokbd", "i8042.nopnp"]

    /// The kernel command line: quiet boot, warnings and worse on the serial
    /// console, a panic ends QEMU at once (panic=-1 with -no-reboot), and
    /// printk time stamps whatever the config says (tinyconfig has no
    /// PRINTK_TIME): the console verdict tells kernel messages (the case
    /// markers, a WARN's splat) from the guest's output by them.
    public static func kernelCommandLine(guestArguments: [String]?, modules: [String], extra: [String] = []) -> String {
        // earlyprintk: the x86 boot stub and decompressor print their errors
        // ("ZSTD-compressed data is corrupt ... -- System halted") on the
        // serial port instead of halting in silence (a damaged image).
        var parts = ["console=ttyS0", "earlyprintk=serial,ttyS0,115200", "panic=-1", "loglevel=5", "printk.time=1", "rdinit=/init"] + x86QuietBoot
        if let args = guestArguments { parts.append(GuestCommandLine.encodeArguments(args)) }
        if !modules.isEmpty { parts.append(GuestCommandLine.modulesKey + "=" + modules.joined(separator: ",")) }
        return (parts + extra).joined(separator: " ")
    }

    /// "512M", "1G", "768" (MiB) → MiB.
    public static func parseMemory(_ text: String) -> Int? {
        var s = text.uppercased()
        var unit = 1
        if s.hasSuffix("G") { unit = 1024; s.removeLast() } else if s.hasSuffix("M") { s.removeLast() }
        guard let n = Int(s), n > 0, n <= 1 << 20 else { return nil }
        return n * unit
    }

    /// The default guest memory for an initramfs of `bytes`: the kernel holds
    /// the archive and its unpacked copy at once, plus about 320 MiB for
    /// itself and the suite; rounded up to 64 MiB, at least 256 MiB.
    public static func defaultMemoryMB(initramfsBytes bytes: Int) -> Int {
        let mb = (bytes + (1 << 20) - 1) >> 20
        let want = max(256, 2 * mb + 320)
        return (want + 63) / 64 * 64
    }
}
