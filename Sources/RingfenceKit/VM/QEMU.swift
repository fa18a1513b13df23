import Foundation

/// The guest architectures `ringfence vm --arch` boots, one row each: what
/// differs between them is here and nowhere else (docs/architectures.md,
/// "ringfence vm --arch"). x86_64 runs the Swift guest; the others run the
/// cases exported as C (`ringfence export --kselftest`), cross-compiled.
public enum GuestArch: String, CaseIterable, Sendable, Equatable {
    case x86_64, arm64, s390x

    public struct Row: Equatable, Sendable {
        /// The QEMU system emulator and the Debian package that has it.
        public let qemu: String
        public let qemuPackage: String
        /// `-machine` and `-cpu` under TCG.
        public let machine: String
        public let cpu: String
        /// The console device QEMU gives the guest and the kernel's name for it.
        public let consoleDevice: String
        public let console: String
        /// How the guest's reboot(RB_POWER_OFF) ends QEMU (with -no-reboot).
        public let powerOff: String
        /// Debian's dpkg architecture and cloud kernel flavour (nil: Debian's
        /// kernel packages cannot be fetched; the kernel is built).
        public let debianArch: String
        public let debianFlavour: String?
        /// The kernel's ARCH= and the image `make` leaves under the output directory.
        public let kernelArch: String
        public let kernelImage: String
        /// The C cross compiler's prefix (empty: the host's gcc) and its Debian packages.
        public let crossPrefix: String
        public let crossPackages: [String]
        /// The kernel config fragment this architecture adds to ci/ringfence.config (under ci/).
        public let configFragment: String?
        /// Options of ci/ringfence.config that do not exist on this
        /// architecture (x86's UART console and ACPI power-off): a --build
        /// does not require them; the architecture's own are in `configFragment`.
        public var inapplicableOptions: [String] = []
    }

    public var row: Row {
        switch self {
        case .x86_64:
            return Row(qemu: "qemu-system-x86_64", qemuPackage: "qemu-system-x86", machine: "pc", cpu: "max",
                       consoleDevice: "-serial (8250 UART)", console: "ttyS0", powerOff: "ACPI (CONFIG_ACPI)",
                       debianArch: "amd64", debianFlavour: "cloud-amd64", kernelArch: "x86", kernelImage: "arch/x86/boot/bzImage",
                       crossPrefix: "", crossPackages: ["gcc", "libc6-dev"], configFragment: nil)
        case .arm64:
            return Row(qemu: "qemu-system-aarch64", qemuPackage: "qemu-system-arm", machine: "virt", cpu: "max",
                       consoleDevice: "-serial (PL011 UART)", console: "ttyAMA0", powerOff: "PSCI SYSTEM_OFF",
                       debianArch: "arm64", debianFlavour: "cloud-arm64", kernelArch: "arm64", kernelImage: "arch/arm64/boot/Image",
                       crossPrefix: "aarch64-linux-gnu-", crossPackages: ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"], configFragment: nil)
        case .s390x:
            return Row(qemu: "qemu-system-s390x", qemuPackage: "qemu-system-misc", machine: "s390-ccw-virtio", cpu: "max",
                       consoleDevice: "-device sclpconsole (SCLP VT220)", console: "ttysclp0", powerOff: "SCLP (signal quiesce, then stop)",
                       debianArch: "s390x", debianFlavour: nil, kernelArch: "s390", kernelImage: "arch/s390/boot/bzImage",
                       crossPrefix: "s390x-linux-gnu-", crossPackages: ["gcc-s390x-linux-gnu", "libc6-dev-s390x-cross"],
                       configFragment: "ringfence-s390x.config",
                       inapplicableOptions: ["CONFIG_SERIAL_8250", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_ACPI"])
        }
    }

    /// The names --arch and known-bugs.yaml's `arches:` accept.
    public static var names: [String] { allCases.map(\.rawValue) }

    /// The machine ringfence itself runs on (the Swift guest's architecture).
    public static var host: GuestArch? {
        #if arch(x86_64)
        return .x86_64
        #elseif arch(arm64)
        return .arm64
        #elseif arch(s390x)
        return .s390x
        #else
        return nil
        #endif
    }
}

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
        var parts = ["console=\(arch.row.console)", "panic=-1", "loglevel=5", "printk.time=1", "rdinit=/init"] + extra
        if !programArguments.isEmpty { parts += ["--"] + programArguments }
        return parts.joined(separator: " ")
    }

    /// The kernel command line: quiet boot, warnings and worse on the serial
    /// console, a panic ends QEMU at once (panic=-1 with -no-reboot), and
    /// printk time stamps whatever the config says (tinyconfig has no
    /// PRINTK_TIME): the console verdict tells kernel messages (the case
    /// markers, a WARN's splat) from the guest's output by them.
    public static func kernelCommandLine(guestArguments: [String]?, modules: [String], extra: [String] = []) -> String {
        // earlyprintk: the x86 boot stub and decompressor print their errors
        // ("ZSTD-compressed data is corrupt ... -- System halted") on the
        // serial port instead of halting in silence (a damaged image).
        var parts = ["console=ttyS0", "earlyprintk=serial,ttyS0,115200", "panic=-1", "loglevel=5", "printk.time=1", "rdinit=/init", "mitigations=off", "tsc=reliable",
                     "no_timer_check", "i8042.noaux", "i8042.nokbd", "i8042.nopnp"]
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

/// The yardstick's /init: a 194-byte static x86-64 ELF that writes
/// "# ringfence-bare: init" to fd 1 and calls reboot(RB_POWER_OFF). No
/// compiler on the host is needed to boot it.
public enum BareInit {
    public static let marker = "# ringfence-bare: init"

    /// x86-64 code assembled from:
    ///   mov $1,%eax; mov $1,%edi; lea msg(%rip),%rsi; mov $23,%edx; syscall       (write)
    ///   mov $169,%eax; mov $0xfee1dead,%edi; mov $0x28121969,%esi;
    ///   mov $0x4321fedc,%edx; xor %r10d,%r10d; syscall                          (reboot POWER_OFF)
    ///   1: jmp 1b
    ///   msg: .ascii "# ringfence-bare: init\n"
    static let code: [UInt8] = [
        0xb8, 0x01, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8d,
        0x35, 0x22, 0x00, 0x00, 0x00, 0xba, 0x17, 0x00, 0x00, 0x00, 0x0f, 0x05,
        0xb8, 0xa9, 0x00, 0x00, 0x00, 0xbf, 0xad, 0xde, 0xe1, 0xfe, 0xbe, 0x69,
        0x19, 0x12, 0x28, 0xba, 0xdc, 0xfe, 0x21, 0x43, 0x45, 0x31, 0xd2, 0x0f,
        0x05, 0xeb, 0xfe] + Array((marker + "\n").utf8)

    static let base: UInt64 = 0x400000
    static let headerSize = 64 + 56

    public static var elf: Data {
        var d = Data()
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        let total = UInt64(headerSize + code.count)
        // ELF header: 64-bit, little endian, SysV, ET_EXEC, x86-64.
        d.append(contentsOf: [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8))
        u16(2); u16(62); u32(1)
        u64(base + UInt64(headerSize))   // e_entry
        u64(64)                          // e_phoff
        u64(0)                           // e_shoff
        u32(0)                           // e_flags
        u16(64); u16(56); u16(1)         // e_ehsize, e_phentsize, e_phnum
        u16(64); u16(0); u16(0)          // e_shentsize, e_shnum, e_shstrndx
        // One PT_LOAD, read + execute, the whole file at `base`.
        u32(1); u32(5)
        u64(0); u64(base); u64(base); u64(total); u64(total); u64(0x1000)
        d.append(contentsOf: code)
        return d
    }

    /// The whole initramfs: /init, /dev/console.
    public static var initramfs: Data {
        var a = CpioArchive()
        a.addDirectory("dev")
        a.add(.init(path: "dev/console", mode: 0o600, kind: .charDevice(5, 1)))
        a.addFile("init", elf, mode: 0o755)
        return a.bytes()
    }
}
