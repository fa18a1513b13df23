import Foundation

/// How QEMU runs the guest: pure, so the command line is tested without a VM.
public struct QEMUSettings: Equatable {
    public enum Accelerator: String, Equatable { case kvm, tcg }
    /// Multi-threaded TCG (one host thread per guest CPU) or one thread for all.
    public enum TCGThreads: String, Equatable, CaseIterable { case single, multi }

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
        return ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                "-machine", "pc", "-accel", accel, "-cpu", accelerator == .kvm ? "host" : "max",
                "-smp", String(cpus), "-m", "\(memoryMB)M",
                "-kernel", kernel, "-initrd", initrd, "-append", append,
                "-serial", "file:\(serialLog)", "-monitor", "none", "-display", "none"]
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
