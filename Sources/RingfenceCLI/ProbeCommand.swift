import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import RingfenceCore

public struct ProbeCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "probe", abstract: "Show what the running kernel supports (feature, opcodes, filter contexts, config).")

    public func run() throws {
        let f = KernelProbe.probe()
        print("kernel:               \(f.release) \(f.version)")
        print("bpf filter register:  \(f.bpfFilter ? "yes (IORING_REGISTER_BPF_FILTER = 37)" : "no")")
        print("IORING_OP_LAST:       \(f.opcodeLast)")
        print("root:                 \(f.isRoot ? "yes" : "no")")
        if f.bpfFilter {
            let ctx = f.contextSizes.filter { $0.value > 0 }.sorted { $0.key < $1.key }
            print("filter contexts:      " + (ctx.isEmpty ? "none" : ctx.map { "\(Opcode.name($0.key))=\($0.value)" }.joined(separator: " ")))
        }
        if let lines = KernelProbe.configLines(release: f.release) {
            print("config:               " + (lines.isEmpty ? "no CONFIG_IO_URING* lines" : lines.joined(separator: " ")))
        } else {
            print("config:               not visible (no /proc/config.gz or /boot/config-\(f.release))")
        }
    }
}
