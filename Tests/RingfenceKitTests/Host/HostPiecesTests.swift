import Foundation
import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

/// The pure pieces of `ringfence vm`: initramfs writer, module index, ldd
/// parsing, apt sources, bzImage header, QEMU command line, bare /init.
final class HostPiecesTests: XCTestCase {
    func testCpioRoundTripAndParents() throws {
        var a = CpioArchive()
        a.addFile("lib/modules/7.3/kernel/net/sctp.ko", Data([1, 2, 3]))
        a.add(.init(path: "dev/console", mode: 0o600, kind: .charDevice(5, 1)))
        a.addFile("init", Data("#!".utf8), mode: 0o755)
        a.addFile("init", Data("ELF".utf8), mode: 0o755)   // replaced, not duplicated
        let bytes = a.bytes()
        XCTAssertEqual(bytes.count % 512, 0)
        let back = try CpioArchive.parse(bytes)
        XCTAssertEqual(back.map(\.path), ["lib", "lib/modules", "lib/modules/7.3", "lib/modules/7.3/kernel", "lib/modules/7.3/kernel/net",
                                         "lib/modules/7.3/kernel/net/sctp.ko", "dev", "dev/console", "init"])
        XCTAssertEqual(back.last, .init(path: "init", mode: 0o755, kind: .file(Data("ELF".utf8))))
        XCTAssertEqual(back[7].kind, .charDevice(5, 1))
        XCTAssertEqual(back[0].kind, .directory)
    }

    func testCpioHeaderIsNewcAsTheKernelReadsIt() {
        var a = CpioArchive()
        a.addFile("a", Data("xy".utf8), mode: 0o644)
        let b = [UInt8](a.bytes())
        let header = String(decoding: b[0..<110], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("070701"))
        // c_mode (field 1) = S_IFREG | 0644, c_filesize (field 6) = 2, c_namesize (field 11) = 2 ("a\0").
        func field(_ k: Int) -> String { String(header.dropFirst(6 + 8 * k).prefix(8)) }
        XCTAssertEqual(field(1), "000081A4")
        XCTAssertEqual(field(6), "00000002")
        XCTAssertEqual(field(11), "00000002")
        // Name padded so the data starts on a 4-byte boundary: 110 + 2 = 112.
        XCTAssertEqual(String(decoding: b[112..<114], as: UTF8.self), "xy")
    }

    func testCpioParseRejectsTruncatedArchive() {
        var a = CpioArchive()
        a.addFile("big", Data(repeating: 7, count: 1000))
        let cut = a.bytes().prefix(500)
        XCTAssertThrowsError(try CpioArchive.parse(cut))
    }

    func testModuleIndexClosureInLoadOrder() {
        let dep = """
            kernel/net/sctp/sctp.ko.xz: kernel/lib/libcrc32c.ko.xz kernel/net/udp_tunnel.ko.zst
            kernel/lib/libcrc32c.ko.xz:
            kernel/net/netfilter/xt-bpf.ko.gz: kernel/net/netfilter/x_tables.ko.gz
            """
        let idx = ModuleIndex(modulesDep: dep)
        XCTAssertEqual(idx.closure("sctp"), ["kernel/net/udp_tunnel.ko.zst", "kernel/lib/libcrc32c.ko.xz", "kernel/net/sctp/sctp.ko.xz"])
        XCTAssertEqual(idx.closure("xt_bpf"), ["kernel/net/netfilter/x_tables.ko.gz", "kernel/net/netfilter/xt-bpf.ko.gz"])
        XCTAssertEqual(idx.closure("libcrc32c"), ["kernel/lib/libcrc32c.ko.xz"])
        XCTAssertNil(idx.closure("nope"))
        XCTAssertEqual(ModuleIndex.uncompressedPath("a/b.ko.zst"), "a/b.ko")
    }

    func testLddOutput() {
        let text = """
            \tlinux-vdso.so.1 (0x00007ffd)
            \tlibkmod.so.2 => /lib/x86_64-linux-gnu/libkmod.so.2 (0x00007f)
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
            \tlibmissing.so => not found
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f)
            """
        XCTAssertEqual(LddOutput.libraries(text), ["/lib/x86_64-linux-gnu/libkmod.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"])
    }

    func testMirrorFromDeb822AndOneLineSources() {
        let deb822 = """
            Types: deb
            URIs: http://security.mirror.invalid/debian-security
            Suites: bookworm-security

            Types: deb
            URIs: http://mirror.invalid/debian/
            Suites: bookworm bookworm-updates
            """
        XCTAssertEqual(AptSources.mirror(files: [("/etc/apt/sources.list.d/debian.sources", deb822)]), "http://mirror.invalid/debian")
        let list = """
            # deb http://commented.invalid/debian bookworm main
            deb [arch=amd64 signed-by=/k.gpg] https://mirror.invalid/debian bookworm main
            """
        XCTAssertEqual(AptSources.mirror(files: [("/etc/apt/sources.list", list)]), "https://mirror.invalid/debian")
        XCTAssertNil(AptSources.mirror(files: [("/etc/apt/sources.list", "deb http://mirror.invalid/debian-security bookworm-security main")]))
        XCTAssertTrue(AptSources.privateOptions(dir: "/c/apt").contains("Dir::State::status=/c/apt/status"))
        XCTAssertEqual(AptSources.privateSourcesList(mirror: "http://m.invalid/debian", suites: ["sid"]),
                       "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://m.invalid/debian sid main\n")
    }

    func testKernelStanzasKeepCloudKernelsAndSources() {
        let text = """
            Package: linux-binary-7.3.4+deb13-cloud-amd64
            Version: 7.3.4-1

            Package: linux-binary-7.3.4+deb13-amd64
            Version: 7.3.4-1

            Package: hello
            Version: 1

            Package: linux-source-7.3
            Version: 7.3.4-1
            """
        let kept = KernelCatalog.stanzas(AptSources.kernelStanzas(text)).compactMap { $0["Package"] }
        XCTAssertEqual(kept, ["linux-binary-7.3.4+deb13-cloud-amd64", "linux-source-7.3"])
    }

    func testBzImageRelease() {
        var b = [UInt8](repeating: 0, count: 4096)
        b.replaceSubrange(514..<518, with: Array("HdrS".utf8))
        b[526] = 0x00; b[527] = 0x02          // kernel_version at 0x200 + 0x200 = 1024
        let s = Array("7.3.4-dev (root@build) #1 SMP".utf8)
        b.replaceSubrange(1024..<(1024 + s.count), with: s)
        XCTAssertEqual(BzImage.release(Data(b)), "7.3.4-dev")
        XCTAssertNil(BzImage.release(Data(repeating: 0, count: 4096)))
    }

    func testBareInitIsAStaticX8664Executable() throws {
        let elf = [UInt8](BareInit.elf)
        XCTAssertEqual(Array(elf[0..<4]), [0x7f, 0x45, 0x4c, 0x46])
        XCTAssertEqual(elf[4], 2)                       // ELFCLASS64
        XCTAssertEqual(Int(elf[18]) | Int(elf[19]) << 8, 62)   // EM_X86_64
        let entry = (0..<8).reduce(UInt64(0)) { $0 | UInt64(elf[24 + $1]) << (8 * $1) }
        XCTAssertEqual(entry, 0x400000 + 120)
        XCTAssertEqual(elf.count, 120 + 51 + 23)
        XCTAssertTrue(String(decoding: elf, as: UTF8.self).contains(BareInit.marker))
        let entries = try CpioArchive.parse(BareInit.initramfs)
        XCTAssertEqual(entries.map(\.path), ["dev", "dev/console", "init"])
    }

    func testQEMUCommandLine() {
        var s = QEMUSettings(kernel: "/k", initrd: "/i", append: "console=ttyS0", serialLog: "/o/console.log")
        s.cpus = 2
        s.memoryMB = 448
        XCTAssertEqual(s.argv.firstIndex(of: "-accel").map { s.argv[$0 + 1] }, "tcg,thread=single")
        s.tcgThreads = .multi
        XCTAssertEqual(s.argv.firstIndex(of: "-accel").map { s.argv[$0 + 1] }, "tcg,thread=multi")
        s.accelerator = .kvm
        XCTAssertEqual(s.argv.firstIndex(of: "-cpu").map { s.argv[$0 + 1] }, "host")
        XCTAssertEqual(s.argv.firstIndex(of: "-m").map { s.argv[$0 + 1] }, "448M")
        XCTAssertEqual(s.argv.firstIndex(of: "-serial").map { s.argv[$0 + 1] }, "file:/o/console.log")
        XCTAssertTrue(s.argv.contains("-no-reboot"))
        let cmdline = QEMUSettings.kernelCommandLine(guestArguments: ["run", "--filter", "a b"], modules: ["sctp"], extra: ["acpi=off"])
        XCTAssertTrue(cmdline.hasPrefix("console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 loglevel=5 printk.time=1 rdinit=/init"))
        XCTAssertTrue(cmdline.contains("ringfence.args=run,--filter,a%20b ringfence.modules=sctp acpi=off"))
        XCTAssertEqual(try GuestCommandLine.decodeArguments(cmdline: cmdline), ["run", "--filter", "a b"])
    }

    func testMemorySizing() {
        XCTAssertEqual(QEMUSettings.parseMemory("512M"), 512)
        XCTAssertEqual(QEMUSettings.parseMemory("1G"), 1024)
        XCTAssertEqual(QEMUSettings.parseMemory("768"), 768)
        XCTAssertNil(QEMUSettings.parseMemory("lots"))
        XCTAssertNil(QEMUSettings.parseMemory("0M"))
        XCTAssertEqual(QEMUSettings.defaultMemoryMB(initramfsBytes: 5 << 20), 384)
        XCTAssertEqual(QEMUSettings.defaultMemoryMB(initramfsBytes: 0), 320)
        // A 72 MB initramfs: archive + unpacked copy + 320 MiB, in 64 MiB steps.
        XCTAssertEqual(QEMUSettings.defaultMemoryMB(initramfsBytes: 72 << 20), 512)
    }

    func testHostErrorForSignals() {
        let e = HostError.interrupted(SIGINT, during: "downloading linux-binary-7.3")
        XCTAssertEqual(e.code, 130)
        XCTAssertEqual(e.message, "interrupted by SIGINT while downloading linux-binary-7.3")
        XCTAssertEqual(HostError.interrupted(SIGTERM, during: "x").code, 143)
    }

    func testOutputDirectoryPublishesOnlyWholeRunsAndLocks() throws {
        let base = try FileSystem.temporaryDirectory(in: NSTemporaryDirectory(), prefix: "rf-out-")
        defer { FileSystem.remove(base) }
        let final = base + "/7.3.4"
        try FileSystem.makeDirectory(final)
        try FileSystem.write("old", to: final + "/results.json")
        try FileSystem.write("old", to: final + "/summary.txt")
        let o = try OutputDirectory(final)
        XCTAssertThrowsError(try OutputDirectory(final)) { e in
            XCTAssertTrue((e as? HostError)?.message.contains("another ringfence vm is writing") == true)
        }
        // Until publish, the previous run's files stay as they were.
        try FileSystem.write("new", to: o.staging + "/results.json")
        XCTAssertEqual(try String(contentsOfFile: final + "/results.json", encoding: .utf8), "old")
        try o.publish()
        XCTAssertEqual(try String(contentsOfFile: final + "/results.json", encoding: .utf8), "new")
        XCTAssertFalse(FileManager.default.fileExists(atPath: o.staging))

        // An abandoned run removes the stale results and says why.
        let o2 = try OutputDirectory(base + "/other")
        _ = o2
        let o3 = try OutputDirectory(final + "2")
        try FileSystem.makeDirectory(final + "2")
        try FileSystem.write("stale", to: final + "2/results.json")
        try FileSystem.write("stale", to: final + "2/summary.txt")
        o3.abandon(reason: "interrupted by SIGINT")
        XCTAssertFalse(FileManager.default.fileExists(atPath: final + "2/results.json"))
        XCTAssertTrue(try String(contentsOfFile: final + "2/INCOMPLETE", encoding: .utf8).contains("interrupted by SIGINT"))
    }

    /// Issue 20: `--out` on a directory of the user's deleted everything in it.
    func testOutputDirectoryNeverTouchesWhatItDidNotWrite() throws {
        let base = try FileSystem.temporaryDirectory(in: NSTemporaryDirectory(), prefix: "rf-out-")
        defer { FileSystem.remove(base) }
        // A directory of the user's: refused before anything is written, nothing removed.
        let mine = base + "/mine"
        try FileSystem.makeDirectory(mine + "/sub")
        try FileSystem.write("keep", to: mine + "/precious.txt")
        try FileSystem.write("keep", to: mine + "/sub/file")
        XCTAssertThrowsError(try OutputDirectory(mine, shown: "--out mine")) { e in
            let m = (e as? HostError)?.message ?? ""
            XCTAssertTrue(m.contains("--out mine") && m.contains("ringfence did not write") && m.contains("'precious.txt'"), m)
            XCTAssertEqual((e as? HostError)?.code, 2)
        }
        XCTAssertEqual(try String(contentsOfFile: mine + "/precious.txt", encoding: .utf8), "keep")
        XCTAssertEqual(try String(contentsOfFile: mine + "/sub/file", encoding: .utf8), "keep")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: base).filter { $0.contains(".run-") }, [])
        // A file is not a directory; the root directory never is a results directory.
        XCTAssertThrowsError(try OutputDirectory(mine + "/precious.txt"))
        XCTAssertThrowsError(try OutputDirectory.resolve("/", shown: "--out /"))
        XCTAssertEqual(try OutputDirectory.resolve(base + "/mine/sub/..", shown: "x"), (base as NSString).resolvingSymlinksInPath + "/mine")

        // An empty directory is taken; the run's files come with a manifest.
        let empty = base + "/empty"
        try FileSystem.makeDirectory(empty)
        let o = try OutputDirectory(empty)
        try FileSystem.write("r1", to: o.staging + "/results.json")
        try FileSystem.makeDirectory(o.staging + "/coverage")
        try FileSystem.write("c1", to: o.staging + "/coverage/lcov.info")
        try o.publish()
        o.release()
        let manifest = try String(contentsOfFile: empty + "/" + OutputDirectory.manifestName, encoding: .utf8)
        XCTAssertTrue(manifest.contains("\nresults.json\n") && manifest.contains("coverage/lcov.info"), manifest)

        // A note the user adds to a ringfence directory (at the top and inside
        // coverage/) survives the next run; ringfence's own files are replaced.
        try FileSystem.write("note", to: empty + "/notes.txt")
        try FileSystem.write("note", to: empty + "/coverage/mine.txt")
        let o2 = try OutputDirectory(empty)
        try FileSystem.write("r2", to: o2.staging + "/results.json")
        try FileSystem.makeDirectory(o2.staging + "/coverage")
        try FileSystem.write("c2", to: o2.staging + "/coverage/lcov.info")
        try o2.publish()
        o2.release()
        XCTAssertEqual(try String(contentsOfFile: empty + "/results.json", encoding: .utf8), "r2")
        XCTAssertEqual(try String(contentsOfFile: empty + "/coverage/lcov.info", encoding: .utf8), "c2")
        XCTAssertEqual(try String(contentsOfFile: empty + "/notes.txt", encoding: .utf8), "note")
        XCTAssertEqual(try String(contentsOfFile: empty + "/coverage/mine.txt", encoding: .utf8), "note")
        XCTAssertFalse(try String(contentsOfFile: empty + "/" + OutputDirectory.manifestName, encoding: .utf8).contains("notes.txt"))
        // ... and an abandoned run removes only ringfence's previous results.
        let o3 = try OutputDirectory(empty)
        o3.abandon(reason: "interrupted by SIGINT")
        o3.release()
        XCTAssertFalse(FileManager.default.fileExists(atPath: empty + "/results.json"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: empty + "/INCOMPLETE"))
        XCTAssertEqual(try String(contentsOfFile: empty + "/notes.txt", encoding: .utf8), "note")
        XCTAssertEqual(try String(contentsOfFile: empty + "/coverage/mine.txt", encoding: .utf8), "note")

        // A killed run's staging directory is removed by the next run that takes the lock.
        let stale = base + "/.empty.run-999999"
        try FileSystem.makeDirectory(stale)
        try FileSystem.write("x", to: stale + "/console.log")
        _ = try OutputDirectory(empty)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
    }

    func testStaleWorkDirectoriesOfDeadRunsAreRemoved() throws {
        let tmp = try FileSystem.temporaryDirectory(in: NSTemporaryDirectory(), prefix: "rf-tmp-")
        defer { FileSystem.remove(tmp) }
        let dead = tmp + "/ringfence-vm.999999.abcdef"
        try FileSystem.makeDirectory(dead)
        try FileSystem.write("", to: dead + "/" + VMRunner.workLockName)
        let live = tmp + "/ringfence-vm.1.ghijkl"
        try FileSystem.makeDirectory(live)
        try FileSystem.write("", to: live + "/" + VMRunner.workLockName)
        let fd = open(live + "/" + VMRunner.workLockName, O_RDWR)
        XCTAssertEqual(flock(fd, LOCK_EX), 0)
        // flock locks belong to the open file description: a second open is another owner.
        VMRunner.removeStaleWorkDirectories(in: tmp)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live))
        close(fd)
        let other = tmp + "/not-ours"
        try FileSystem.makeDirectory(other)
        VMRunner.removeStaleWorkDirectories(in: tmp)
        XCTAssertFalse(FileManager.default.fileExists(atPath: live))
        XCTAssertTrue(FileManager.default.fileExists(atPath: other))
    }

    func testBisectCodes() {
        XCTAssertEqual([0, 1, 2, 4, 64, 130, 143].map { VMVerdict.Ending(exitCode: $0).bisectCode }, [0, 1, 125, 125, 125, 130, 143])
    }

    func testBzImageLengthCheck() {
        var d = Data(repeating: 0, count: 4096)
        d[0x1f1] = 3          // 4 sectors of setup
        d[0x1f4] = 0x20       // 0x20 * 16 = 512 bytes of payload
        XCTAssertNil(BzImage.damage(d + Data(repeating: 0, count: 100)))
        XCTAssertNil(BzImage.damage(d.prefix(4 * 512 + 512)))
        XCTAssertEqual(BzImage.damage(d.prefix(2000)), "truncated: 2000 bytes, its header says 2560")
    }

    func testFileSystemWriteReportsTheReason() {
        XCTAssertThrowsError(try FileSystem.write("x", to: "/proc/ringfence-cannot-write-here")) { e in
            XCTAssertTrue((e as? HostError)?.message.hasPrefix("cannot write /proc/ringfence-cannot-write-here: ") == true)
        }
        XCTAssertThrowsError(try FileSystem.checkWritable("/proc/ringfence-out", what: "--out /proc/ringfence-out"))
    }

    func testHostProcessReportsExitAndSignal() throws {
        let ok = try HostProcess.run(["sh", "-c", "echo hi; exit 3"], phase: "test")
        XCTAssertEqual(ok.code, 3)
        XCTAssertEqual(ok.output, "hi\n")
        let slow = try HostProcess.run(["sleep", "5"], phase: "test", timeout: 0.2)
        XCTAssertNil(slow.code)
        XCTAssertThrowsError(try HostProcess.check(["sh", "-c", "echo boom >&2; exit 1"], phase: "testing")) { e in
            XCTAssertTrue((e as? HostError)?.message.contains("boom") == true)
        }
    }
}
