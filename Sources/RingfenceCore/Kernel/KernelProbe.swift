#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import CRingfence

/// Measures what the running kernel offers. Probes register filters only on
/// throwaway rings, never on the task, so the probing process stays clean.
public enum KernelProbe {
    public static func probe(loadedModules: Set<String>? = nil) -> KernelFacts {
        var u = utsname()
        uname(&u)
        func field<T>(_ v: T) -> String {
            withUnsafeBytes(of: v) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        let kernel = LiveKernel()
        let last = opcodeLast()
        let allow = BPFInstruction.encode([BPFInstruction(code: 0x06, jt: 0, jf: 0, k: 1)])   // ret #1
        var sizes: [UInt32: UInt8] = [:]
        var feature = false
        let ring = kernel.setupRing(entries: 4, flags: 0)
        if ring >= 0 {
            for op in 0..<last {
                var reg = FilterRegistration()
                reg.opcode = .number(op)
                var call = reg.registerCall(fd: ring, opcode: op)
                call.program = allow
                // filter_len comes from reg.program, empty here: patch it to 1.
                var img = ByteImage(bytes: call.arg)
                img.store(UInt32(1), at: FilterABI.Registration.filter + FilterABI.Filter.filterLen)
                call.arg = img.bytes
                let out = kernel.register(call)
                if out.ret != 0 { break }
                feature = true
                sizes[op] = out.argAfter.map(FilterRegistration.pduSize(in:)) ?? 0
            }
            kernel.closeRing(ring)
        }
        return KernelFacts(release: field(u.release), version: field(u.version), bpfFilter: feature,
                           opcodeLast: last, contextSizes: feature ? sizes : [:], isRoot: geteuid() == 0,
                           loadedModules: loadedModules ?? currentModules())
    }

    /// IORING_OP_LAST from IORING_REGISTER_PROBE (last_op + 1).
    static func opcodeLast() -> UInt32 {
        guard let p = io_uring_get_probe() else { return Opcode.lastKnown }
        defer { io_uring_free_probe(p) }
        return UInt32(p.pointee.last_op) + 1
    }

    /// Loaded modules (/proc/modules) and built-in ones that show in /sys/module.
    public static func currentModules() -> Set<String> {
        var names = Set<String>()
        if let text = try? String(contentsOfFile: "/proc/modules", encoding: .utf8) {
            for line in text.split(separator: "\n") { if let n = line.split(separator: " ").first { names.insert(String(n)) } }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/sys/module") { names.formUnion(entries) }
        return names
    }

    /// CONFIG_IO_URING* lines from /proc/config.gz (via gzip, when present) or /boot/config-<release>.
    public static func configLines(release: String) -> [String]? {
        var text: String?
        if FileManager.default.fileExists(atPath: "/proc/config.gz"), let gz = findExecutable("gzip") {
            // popen: no Foundation Process in the guest binary.
            if let f = popen("\(gz) -dc /proc/config.gz", "r") {
                let bytes = readAll(f)
                if pclose(f) == 0 { text = String(decoding: bytes, as: UTF8.self) }
            }
        }
        if text == nil { text = try? String(contentsOfFile: "/boot/config-\(release)", encoding: .utf8) }
        guard let text else { return nil }
        return text.split(separator: "\n").map(String.init).filter { $0.contains("CONFIG_IO_URING") }
    }

    private static func findExecutable(_ name: String) -> String? {
        for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }
}
