import Foundation
import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

/// `ringfence vm --arch`: the architecture table and the command lines it
/// makes, without booting anything.
final class GuestArchTests: XCTestCase {
    func settings(_ arch: GuestArch) -> QEMUSettings {
        var s = QEMUSettings(kernel: "/k/Image", initrd: "/w/initrd.cpio", append: "console=x", serialLog: "/o/console.log")
        s.arch = arch
        return s
    }

    func testTheTableHasOneRowPerArchitecture() {
        XCTAssertEqual(GuestArch.names, ["x86_64", "arm64", "s390x"])
        XCTAssertEqual(GuestArch.names, KnownBugs.arches, "known-bugs.yaml's arches: takes --arch's names")
        XCTAssertEqual(GuestArch.arm64.row.qemu, "qemu-system-aarch64")
        XCTAssertEqual(GuestArch.arm64.row.console, "ttyAMA0")
        XCTAssertEqual(GuestArch.arm64.row.debianFlavour, "cloud-arm64")
        XCTAssertEqual(GuestArch.arm64.row.crossPrefix, "aarch64-linux-gnu-")
        XCTAssertEqual(GuestArch.s390x.row.qemu, "qemu-system-s390x")
        XCTAssertEqual(GuestArch.s390x.row.machine, "s390-ccw-virtio")
        XCTAssertEqual(GuestArch.s390x.row.console, "ttysclp0")
        XCTAssertNil(GuestArch.s390x.row.debianFlavour, "Debian's s390x kernels are not on the mirror: built")
        XCTAssertEqual(GuestArch.s390x.row.kernelArch, "s390")
        XCTAssertEqual(GuestArch.s390x.row.configFragment, "ringfence-s390x.config")
        XCTAssertEqual(GuestArch.arm64.row.configFragment, "ringfence-arm64.config")
        XCTAssertEqual(GuestArch.arm64.row.inapplicableOptions, ["CONFIG_SERIAL_8250", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_ACPI"])
        XCTAssertEqual(GuestArch.host, .x86_64)
        // Every fragment the table names exists under ci/.
        let ci = VMVerdictRecordedTests.root.deletingLastPathComponent().appendingPathComponent("ci").path
        for a in GuestArch.allCases { if let f = a.row.configFragment { XCTAssertTrue(FileManager.default.fileExists(atPath: ci + "/" + f), f) } }
        // What a cross --build does not require of ci/ringfence.config is in that file, and no boot requirement of the architecture.
        let base = (try? String(contentsOfFile: ci + "/ringfence.config", encoding: .utf8)) ?? ""
        for a in GuestArch.allCases {
            for o in a.row.inapplicableOptions {
                XCTAssertTrue(base.contains("\n\(o)=y"), "\(a): \(o) is not in ci/ringfence.config")
                XCTAssertFalse(KernelConfig.guestRequirements(for: a).map(\.option).contains(o), "\(a): \(o) is a boot requirement")
            }
        }
        XCTAssertEqual(GuestArch.s390x.row.inapplicableOptions, ["CONFIG_SERIAL_8250", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_ACPI"])
    }

    /// x86_64's command line is the one ringfence always ran (default arch).
    func testX86CommandLineIsUnchanged() {
        XCTAssertEqual(settings(.x86_64).argv,
                       ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                        "-machine", "pc", "-accel", "tcg,thread=single", "-cpu", "max", "-smp", "1", "-m", "512M",
                        "-kernel", "/k/Image", "-initrd", "/w/initrd.cpio", "-append", "console=x",
                        "-serial", "file:/o/console.log", "-monitor", "none", "-display", "none"])
        XCTAssertEqual(QEMUSettings(kernel: "k", initrd: "i", append: "a", serialLog: "l").arch, .x86_64)
    }

    func testArm64CommandLine() {
        XCTAssertEqual(settings(.arm64).argv,
                       ["qemu-system-aarch64", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                        "-machine", "virt", "-accel", "tcg,thread=single", "-cpu", "max", "-smp", "1", "-m", "512M",
                        "-kernel", "/k/Image", "-initrd", "/w/initrd.cpio", "-append", "console=x",
                        "-serial", "file:/o/console.log", "-monitor", "none", "-display", "none"])
    }

    /// s390x's console is the SCLP VT220 device with a file chardev, not -serial.
    func testS390xCommandLine() {
        let argv = settings(.s390x).argv
        XCTAssertEqual(argv, ["qemu-system-s390x", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                              "-machine", "s390-ccw-virtio", "-accel", "tcg,thread=single", "-cpu", "max", "-smp", "1", "-m", "512M",
                              "-kernel", "/k/Image", "-initrd", "/w/initrd.cpio", "-append", "console=x",
                              "-device", "sclpconsole,chardev=con0", "-chardev", "file,id=con0,path=/o/console.log",
                              "-monitor", "none", "-display", "none"])
        XCTAssertFalse(argv.contains("-serial"))
    }

    func testExportKernelCommandLine() {
        XCTAssertEqual(QEMUSettings.exportCommandLine(arch: .arm64, programArguments: []),
                       "console=ttyAMA0 panic=-1 loglevel=5 printk.time=1 rdinit=/init")
        XCTAssertEqual(QEMUSettings.exportCommandLine(arch: .s390x, programArguments: ["-e"], extra: ["quiet"]),
                       "console=ttysclp0 panic=-1 loglevel=5 printk.time=1 rdinit=/init quiet -- -e")
        // x86_64's C program (--executor kselftest): the Swift guest's quiet-boot options too.
        XCTAssertEqual(QEMUSettings.exportCommandLine(arch: .x86_64, programArguments: []),
                       "console=ttyS0 panic=-1 loglevel=5 printk.time=1 rdinit=/init mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nokbd i8042.nopnp")
    }

    /// A cross build: ARCH= and CROSS_COMPILE= on every make, its own cache
    /// key, the architecture's image; x86_64 keeps the key and commands it had.
    func testCrossBuildPlan() {
        let frag = [(path: "/ci/ringfence.config", entries: [KernelConfig.FragmentEntry(option: "CONFIG_IO_URING", value: "y", comment: "", line: 1)])]
        let x86 = KernelBuild.plan(tree: "/src/linux", fragments: frag, cacheRoot: "/c", jobs: 2)
        XCTAssertEqual(x86, KernelBuild.plan(tree: "/src/linux", fragments: frag, cacheRoot: "/c", jobs: 2, arch: .x86_64))
        XCTAssertEqual(x86.kernelPath, x86.outputDirectory + "/arch/x86/boot/bzImage")
        XCTAssertEqual(x86.build.first?.argv, ["make", "O=\(x86.outputDirectory)", "-j2", "bzImage"])
        let s390 = KernelBuild.plan(tree: "/src/linux", fragments: frag, cacheRoot: "/c", jobs: 2, arch: .s390x)
        XCTAssertNotEqual(s390.key, x86.key, "an s390x build never shares an x86 build directory")
        XCTAssertEqual(s390.kernelPath, s390.outputDirectory + "/arch/s390/boot/bzImage")
        XCTAssertEqual(s390.configure.first?.argv, ["make", "O=\(s390.outputDirectory)", "ARCH=s390", "CROSS_COMPILE=s390x-linux-gnu-", "tinyconfig"])
        XCTAssertEqual(s390.configure[1].argv.prefix(3), ["env", "ARCH=s390", "CROSS_COMPILE=s390x-linux-gnu-"])
        XCTAssertEqual(s390.build.first?.argv, ["make", "O=\(s390.outputDirectory)", "ARCH=s390", "CROSS_COMPILE=s390x-linux-gnu-", "-j2", "bzImage"])
        let arm = KernelBuild.plan(tree: "/src/linux", fragments: frag, cacheRoot: "/c", jobs: 2, arch: .arm64)
        XCTAssertEqual(arm.build.first?.argv.last, "Image")
        XCTAssertEqual(arm.kernelPath, arm.outputDirectory + "/arch/arm64/boot/Image")
    }

    /// The boot requirements follow the console: no 8250 or ACPI off x86.
    func testGuestRequirementsPerArchitecture() {
        XCTAssertEqual(KernelConfig.guestRequirements(for: .x86_64).map(\.option), KernelConfig.guestRequirements.map(\.option))
        let s390 = KernelConfig.guestRequirements(for: .s390x).map(\.option)
        XCTAssertTrue(s390.contains("CONFIG_SCLP_VT220_CONSOLE"))
        XCTAssertFalse(s390.contains("CONFIG_SERIAL_8250") || s390.contains("CONFIG_ACPI"))
        XCTAssertTrue(s390.contains("CONFIG_IO_URING_BPF"))
        XCTAssertTrue(KernelConfig.guestRequirements(for: .arm64).map(\.option).contains("CONFIG_SERIAL_AMBA_PL011_CONSOLE"))
    }

    func testElfMachineCheck() {
        func header(bigEndian: Bool, machine: Int, bits64: Bool = true) -> [UInt8] {
            var h: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, bits64 ? 2 : 1, bigEndian ? 2 : 1, 1, 0] + [UInt8](repeating: 0, count: 12)
            h[18] = UInt8(bigEndian ? machine >> 8 : machine & 0xff)
            h[19] = UInt8(bigEndian ? machine & 0xff : machine >> 8)
            return h
        }
        XCTAssertNil(VMRunner.elfMismatch(header(bigEndian: false, machine: 183), arch: .arm64))
        XCTAssertNil(VMRunner.elfMismatch(header(bigEndian: true, machine: 22), arch: .s390x))
        XCTAssertNil(VMRunner.elfMismatch(header(bigEndian: false, machine: 62), arch: .x86_64))
        XCTAssertNotNil(VMRunner.elfMismatch(header(bigEndian: false, machine: 62), arch: .arm64), "the host's gcc instead of the cross compiler")
        XCTAssertNotNil(VMRunner.elfMismatch(header(bigEndian: false, machine: 22), arch: .s390x), "s390x is big-endian")
        XCTAssertNotNil(VMRunner.elfMismatch(header(bigEndian: false, machine: 183, bits64: false), arch: .arm64))
        XCTAssertEqual(VMRunner.elfMismatch(Array("#!/bin/sh\n echo hello there".utf8), arch: .arm64), "not an ELF file")
    }

    func testDefaultResultsDirectoryNamesTheArchitecture() {
        XCTAssertEqual(VMRunner.defaultOut(release: "7.3.4+deb13-cloud-arm64", arch: .arm64), "out/7.3.4+deb13-cloud-arm64")
        XCTAssertEqual(VMRunner.defaultOut(release: "7.3.4", arch: .s390x), "out/7.3.4-s390x")
        // x86_64's C program (--executor kselftest) beside the Swift guest's out/<release>.
        XCTAssertEqual(VMRunner.defaultOut(release: "7.3.4+deb13-cloud-amd64", arch: .x86_64), "out/7.3.4+deb13-cloud-amd64-kselftest")
    }

    func testArm64AptConfigurationAndCatalog() {
        let o = AptSources.privateOptions(dir: "/c/apt.arm64", architecture: "arm64")
        XCTAssertTrue(o.contains("APT::Architecture=arm64"))
        XCTAssertTrue(o.contains("APT::Architectures=arm64"))
        XCTAssertEqual(AptSources.privateOptions(dir: "/c/apt"), AptSources.privateOptions(dir: "/c/apt", architecture: "amd64"))
        XCTAssertFalse(AptSources.privateOptions(dir: "/c/apt").contains { $0.hasPrefix("APT::Architectures") })
        let index = """
            Package: linux-binary-7.3.4+deb13-cloud-arm64
            Version: 7.3.4-1~bpo13+1
            Filename: pool/main/l/linux/linux-binary-7.3.4+deb13-cloud-arm64_7.3.4-1~bpo13+1_arm64.deb

            Package: linux-binary-7.3.4+deb13-cloud-amd64
            Version: 7.3.4-1~bpo13+1
            Filename: pool/main/l/linux/linux-binary-7.3.4+deb13-cloud-amd64_7.3.4-1~bpo13+1_amd64.deb

            """
        XCTAssertTrue(AptSources.kernelStanzas(index, flavour: "cloud-arm64").contains("cloud-arm64"))
        XCTAssertFalse(AptSources.kernelStanzas(index, flavour: "cloud-arm64").contains("cloud-amd64"))
        let cat = KernelCatalog(packagesBySuite: [("trixie-backports", index)], flavour: "-cloud-arm64")
        XCTAssertEqual(cat.kernels.map(\.release), ["7.3.4+deb13-cloud-arm64"])
        XCTAssertEqual(cat.matching("7.3.4").map(\.release), ["7.3.4+deb13-cloud-arm64"])
        XCTAssertEqual(KernelCatalog(packagesBySuite: [("trixie-backports", index)]).kernels.map(\.release), ["7.3.4+deb13-cloud-amd64"])
    }
}

/// known-bugs.yaml's optional `arches:` scope.
final class KnownBugArchesTests: XCTestCase {
    func entry(_ arches: String) -> String {
        """
        - case: area/file:some-case
          kernels: ["7.0 .. 7.3.4"]
          fix: "a fix"
          source: "a source"
        \(arches)
        """
    }

    func failed() -> CaseResult {
        CaseResult(id: "area/file:some-case", name: "some case", file: "area/file.yaml", line: 1, status: .fail)
    }

    func testAbsentMeansEveryArchitecture() throws {
        let bugs = try KnownBugs.parse(yaml: entry(""), file: "known-bugs.yaml")
        XCTAssertNil(bugs[0].arches)
        for a in KnownBugs.arches {
            XCTAssertEqual(KnownBugs.apply(bugs, to: failed(), kernel: KernelVersion("7.3.4"), arch: a).status, .xfail, a)
        }
    }

    func testScopedEntryAppliesOnlyOnItsArchitectures() throws {
        let bugs = try KnownBugs.parse(yaml: entry("  arches: [s390x]"), file: "known-bugs.yaml")
        XCTAssertEqual(bugs[0].arches, ["s390x"])
        XCTAssertEqual(KnownBugs.apply(bugs, to: failed(), kernel: KernelVersion("7.3.4"), arch: "s390x").status, .xfail)
        XCTAssertEqual(KnownBugs.apply(bugs, to: failed(), kernel: KernelVersion("7.3.4"), arch: "arm64").status, .fail)
        // No arch given: the machine this runs on (x86_64 here).
        XCTAssertEqual(KnownBugs.apply(bugs, to: failed(), kernel: KernelVersion("7.3.4")).status, .fail)
        var passed = failed()
        passed.status = .pass
        XCTAssertEqual(KnownBugs.apply(bugs, to: passed, kernel: KernelVersion("7.3.4"), arch: "x86_64").status, .pass,
                       "a pass elsewhere is no stale entry")
    }

    func testUnknownArchitectureIsRefusedWithItsLine() {
        XCTAssertThrowsError(try KnownBugs.parse(yaml: entry("  arches: [arm64, aarch64]"), file: "known-bugs.yaml")) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix("known-bugs.yaml:5"), text)
            XCTAssertTrue(text.contains("unknown architecture 'aarch64'") && text.contains("x86_64, arm64, s390x"), text)
        }
        XCTAssertThrowsError(try KnownBugs.parse(yaml: entry("  arches: []"), file: "known-bugs.yaml")) { e in
            XCTAssertTrue("\(e)".contains("'arches' is empty"), "\(e)")
        }
        XCTAssertThrowsError(try KnownBugs.parse(yaml: entry("  arches: s390x"), file: "known-bugs.yaml"))
    }

    /// The project's own file parses (no entry needs a scope today).
    func testTheProjectFileParses() throws {
        let path = VMVerdictRecordedTests.root.deletingLastPathComponent().appendingPathComponent("cases/known-bugs.yaml").path
        XCTAssertFalse(try KnownBugs.load(path: path).isEmpty)
    }
}
