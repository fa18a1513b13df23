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
                       crossPrefix: "aarch64-linux-gnu-", crossPackages: ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
                       configFragment: "ringfence-arm64.config",
                       inapplicableOptions: ["CONFIG_SERIAL_8250", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_ACPI"])
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
