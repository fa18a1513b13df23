import Foundation

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
