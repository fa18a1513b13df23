import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Everything `ringfence vm` needs to know; parsed and validated by the CLI.
public struct VMRunOptions {
    public enum Accel: String { case auto, kvm, tcg }
    public var kernelVersion: String?
    public var experimental = false
    public var mirror: String?
    public var refresh = false
    public var kernelImage: String?
    public var modulesDir: String?
    public var configFile: String?
    public var accel: Accel = .auto
    public var tcgThreads: QEMUSettings.TCGThreads = .single
    public var timeout: Double = 300
    /// Guest CPUs; nil: host CPUs (at most 4) under KVM, one under TCG, where a
    /// second CPU buys about 10% and brings multi-threaded TCG's cross-CPU
    /// text-patching race (`Oops: int3`; see docs/performance.md).
    public var cpus: Int?
    public func guestCPUs(_ accel: QEMUSettings.Accelerator) -> Int {
        cpus ?? (accel == .kvm ? max(1, min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) : 1)
    }
    public var memoryMB: Int?
    public var gzipInitrd = false
    /// Appended to the kernel command line (--append).
    public var extraKernelParameters: [String] = []
    public var casesDir = "cases"
    /// nil: ./out/<release>
    public var out: String?
    public var results: String?
    public var writeInitramfs: String?
    /// Arguments for the guest's ringfence; nil means `run --cases /cases`.
    public var guestArguments: [String] = ["run", "--cases", "/cases"]
    /// The guest's /init (nil: ringfence-guest beside this executable).
    public var guestBinary: String?
    /// The cases the guest will run, in plan order, when the host can tell.
    public var plan: [TestCase]?
    /// Every case of `casesDir` as the host loaded it for the plan, and the
    /// number of case files: compiled into the guest's suite as they are, so
    /// the host parses each case file once (nil: buildInitramfs loads them).
    public var loadedCases: (cases: [TestCase], files: Int)?
    /// Modules the selected cases need.
    public var modules: [String] = []
    public var knownBugs: [KnownBug] = []
    public var strict = false
    /// Seconds to wait for power-off once the guest printed its exit marker.
    public var powerOffGrace: Double = 5
    /// The guest's architecture (--arch): x86_64 runs the Swift guest; the
    /// others the cases exported as C (`runExported`).
    public var arch: GuestArch = .x86_64
    /// --exhaustive for an --arch run (the C program's -e).
    public var exhaustive = false
    public init() {}
}
