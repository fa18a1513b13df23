#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the host knows about a VM run, stamped on the results by the host
/// (never handed through the guest).
public struct HostFacts: Codable, Sendable, Equatable {
    /// "tcg" or "kvm".
    public var accelerator: String
    /// The guest's architecture (`ringfence vm --arch`: x86_64, arm64, s390x);
    /// nil in results written before it was recorded.
    public var arch: String?
    /// What ran as /init: "swift" (ringfence-guest) or "kselftest" (the
    /// cases exported as C and cross-compiled, `ringfence export --kselftest`).
    public var executor: String?
    /// "single" or "multi" under TCG.
    public var tcgThreads: String?
    public var kernelRelease: String
    /// "linux-binary-<release>" and its Debian version, for a Debian kernel.
    public var kernelPackage: String?
    public var kernelPackageVersion: String?
    /// The kernel image booted, for --kernel.
    public var kernelImage: String?
    /// sha256 of the kernel's .config, when known.
    public var configDigest: String?
    public var qemuVersion: String?
    /// 1, or 2 when the first boot died before ringfence's init printed anything.
    public var bootAttempts: Int
    public var cpus: Int
    public var memoryMB: Int
    /// Seconds from QEMU's start to its exit (or kill), per the host's clock.
    public var vmSeconds: Double?
    /// Things a reader of the results should know (a retried boot, a guest
    /// that did not power off, KVM falling back to TCG).
    public var notes: [String]

    public init(accelerator: String, kernelRelease: String, bootAttempts: Int = 1, cpus: Int = 1, memoryMB: Int = 512) {
        self.accelerator = accelerator; self.kernelRelease = kernelRelease; self.bootAttempts = bootAttempts
        self.cpus = cpus; self.memoryMB = memoryMB; notes = []
    }
}
