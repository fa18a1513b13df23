import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

final class KernelConfigTests: XCTestCase {
    /// Every guest requirement set to y.
    static var completeConfig: String {
        "#\n# Automatically generated file; DO NOT EDIT.\n#\n"
            + KernelConfig.guestRequirements.map { "\($0.option)=y" }.joined(separator: "\n") + "\n"
    }

    func testParseValuesAndNotSet() {
        let c = KernelConfig.parse("""
            CONFIG_A=y
            CONFIG_B=m
            # CONFIG_C is not set
            CONFIG_D="a string = with equals"
            CONFIG_E=0x10
            # a comment
            CONFIG_A=n
            not a line
            """)
        XCTAssertEqual(c, ["CONFIG_A": "n", "CONFIG_B": "m", "CONFIG_C": "n", "CONFIG_D": "\"a string = with equals\"", "CONFIG_E": "0x10"])
    }

    func testCompleteConfigMissesNothing() {
        XCTAssertEqual(KernelConfig.missing(configText: Self.completeConfig), [])
    }

    func testMissingAcpiAndSerialConsoleAreBothNamed() {
        let text = Self.completeConfig
            .replacingOccurrences(of: "CONFIG_ACPI=y\n", with: "# CONFIG_ACPI is not set\n")
            .replacingOccurrences(of: "CONFIG_SERIAL_8250_CONSOLE=y\n", with: "")
        let missing = KernelConfig.missing(configText: text)
        XCTAssertEqual(missing.map(\.option), ["CONFIG_SERIAL_8250_CONSOLE", "CONFIG_ACPI"])
        XCTAssertTrue(missing[1].reason.contains("power-off"))
        XCTAssertTrue(missing[1].description.hasPrefix("CONFIG_ACPI=y: "))
    }

    func testModuleDoesNotCount() {
        let text = Self.completeConfig.replacingOccurrences(of: "CONFIG_SERIAL_8250=y", with: "CONFIG_SERIAL_8250=m")
        XCTAssertEqual(KernelConfig.missing(configText: text).map(\.option), ["CONFIG_SERIAL_8250"])
    }

    func testEmptyConfigMissesEverything() {
        XCTAssertEqual(KernelConfig.missing(configText: ""), KernelConfig.guestRequirements)
    }

    func testRequirementsAreUniqueWithReasons() {
        let all = KernelConfig.guestRequirements + KernelConfig.caseRequirements
        XCTAssertEqual(Set(all.map(\.option)).count, all.count)
        for r in all {
            XCTAssertTrue(r.option.hasPrefix("CONFIG_"))
            XCTAssertFalse(r.reason.isEmpty)
        }
    }

    func testParseFragment() throws {
        let entries = try KernelConfig.parseFragment("""
            # header comment

            # power off
            CONFIG_ACPI=y
            CONFIG_PCI=y

            # not wanted
            # CONFIG_SLUB_TINY is not set
            CONFIG_FRAME_WARN=2048
            """)
        XCTAssertEqual(entries.map(\.option), ["CONFIG_ACPI", "CONFIG_PCI", "CONFIG_SLUB_TINY", "CONFIG_FRAME_WARN"])
        XCTAssertEqual(entries.map(\.value), ["y", "y", "n", "2048"])
        XCTAssertEqual(entries[0].comment, "power off")
        XCTAssertEqual(entries[1].comment, "power off")
        XCTAssertEqual(entries[2].comment, "not wanted")
        XCTAssertEqual(entries[2].line, 8)
    }

    func testParseFragmentErrors() {
        XCTAssertThrowsError(try KernelConfig.parseFragment("CONFIG_A=y\nCONFIG_A=n\n")) { e in
            XCTAssertEqual(e as? KernelConfig.FragmentError, .init(line: 2, message: "CONFIG_A is already set on line 1"))
        }
        XCTAssertThrowsError(try KernelConfig.parseFragment("ACPI=y\n")) { e in
            XCTAssertEqual((e as? KernelConfig.FragmentError)?.line, 1)
        }
        XCTAssertThrowsError(try KernelConfig.parseFragment("CONFIG_A=\n"))
        XCTAssertThrowsError(try KernelConfig.parseFragment("CONFIG_A B=y\n"))
    }

    func testUnmet() throws {
        let fragment = try KernelConfig.parseFragment("CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=y\n# CONFIG_D is not set\n# CONFIG_E is not set\n")
        let config = KernelConfig.parse("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_E=y\n")
        let unmet = KernelConfig.unmet(fragment: fragment, config: config)
        XCTAssertEqual(unmet, [
            .init(option: "CONFIG_B", wanted: "y", got: "n"),
            .init(option: "CONFIG_C", wanted: "y", got: nil),
            .init(option: "CONFIG_E", wanted: "n", got: "y"),
        ])
        XCTAssertTrue(unmet[1].description.contains("not in .config"))
    }

    /// The shipped fragment parses and sets every guest requirement.
    func testShippedFragmentCoversGuestRequirements() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("ci/ringfence.config")
        let text = try String(contentsOf: url, encoding: .utf8)
        let entries = try KernelConfig.parseFragment(text)
        let set = Set(entries.filter { $0.value == "y" }.map(\.option))
        for r in KernelConfig.guestRequirements + KernelConfig.caseRequirements where r.option != "CONFIG_BPF" {
            XCTAssertTrue(set.contains(r.option), "ci/ringfence.config lacks \(r.option)")
        }
        XCTAssertTrue(entries.allSatisfy { !$0.comment.isEmpty }, "every group has a comment")
    }

    static func frag(_ path: String, _ text: String) -> (path: String, entries: [KernelConfig.FragmentEntry]) {
        (path: path, entries: try! KernelConfig.parseFragment(text))
    }

    func testBuildPlanTinyconfig() {
        let p = KernelBuild.plan(tree: "/src/linux", fragments: [Self.frag("/r/ci/ringfence.config", "CONFIG_ACPI=y\n")],
                                 cacheRoot: "/c", jobs: 2)
        XCTAssertEqual(p.outputDirectory, "/c/build/" + p.key)
        XCTAssertEqual(p.key.count, 16)
        XCTAssertEqual(p.configure.map(\.argv), [
            ["make", "O=\(p.outputDirectory)", "tinyconfig"],
            ["scripts/kconfig/merge_config.sh", "-m", "-O", p.outputDirectory, p.outputDirectory + "/.config", "/r/ci/ringfence.config"],
            ["make", "O=\(p.outputDirectory)", "olddefconfig"],
        ])
        XCTAssertTrue(p.configure.allSatisfy { $0.directory == "/src/linux" })
        XCTAssertEqual(p.build.map(\.argv), [["make", "O=\(p.outputDirectory)", "-j2", "bzImage"]])
        XCTAssertEqual(p.kernelPath, p.outputDirectory + "/arch/x86/boot/bzImage")
    }

    func testBuildPlanKeyDependsOnEveryInput() {
        let f = Self.frag("/r/f.config", "CONFIG_ACPI=y\n")
        let a = KernelBuild.plan(tree: "/t", fragments: [f], cacheRoot: "/c")
        XCTAssertEqual(a.key, KernelBuild.plan(tree: "/t", fragments: [(path: "/elsewhere/f.config", entries: f.entries)], cacheRoot: "/c").key,
                       "the key is the fragment's options, not its path")
        let others = [
            KernelBuild.plan(tree: "/t2", fragments: [f], cacheRoot: "/c"),
            KernelBuild.plan(tree: "/t", fragments: [Self.frag(f.path, "CONFIG_PCI=y\n")], cacheRoot: "/c"),
            KernelBuild.plan(tree: "/t", fragments: [f], baseConfig: (path: "/t/.config", contents: "CONFIG_X=y\n"), cacheRoot: "/c"),
            KernelBuild.plan(tree: "/t", fragments: [f, Self.frag("/r/cov.config", "CONFIG_GCOV_KERNEL=y\n")], cacheRoot: "/c"),
        ]
        XCTAssertEqual(Set(others.map(\.key) + [a.key]).count, 5)
    }

    /// The key is the fragments' options in order: a comment, a blank line or
    /// spacing does not change it (no from-scratch kernel build for a reworded
    /// comment); a value, a new option, a dropped one or the order does.
    func testBuildPlanKeyIsTheNormalisedOptions() throws {
        let text = try String(contentsOf: Self.ciFile("ringfence-debug.config"), encoding: .utf8)
        func key(_ t: String, coverage: String? = nil) -> String {
            var frags = [Self.frag("/r/ci/ringfence.config", "CONFIG_ACPI=y\n"), Self.frag("/r/ci/ringfence-debug.config", t)]
            if let c = coverage { frags.append(Self.frag("/r/ci/ringfence-coverage.config", c)) }
            return KernelBuild.plan(tree: "/t", fragments: frags, cacheRoot: "/c").key
        }
        let k = key(text)
        // Comments: reworded, added, removed; blank lines; trailing spaces.
        let recommented = text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("# ") && !$0.hasSuffix(" is not set") ? "# reworded: " + $0.dropFirst(2) : String($0) }
            .joined(separator: "\n")
        XCTAssertNotEqual(recommented, text)
        XCTAssertEqual(key(recommented), k, "a reworded comment must keep the key")
        XCTAssertEqual(key("# a new first line\n\n" + text + "\n\n# trailing comment\n"), k)
        XCTAssertEqual(key(text.replacingOccurrences(of: "\n", with: "  \n")), k, "trailing blanks")
        XCTAssertEqual(key(text.split(separator: "\n").filter { !$0.hasPrefix("# ") || $0.hasSuffix(" is not set") }.joined(separator: "\n")), k)
        // Options: a value, one more, one less, the order, "is not set".
        XCTAssertTrue(text.contains("CONFIG_DEBUG_KMEMLEAK_MEM_POOL_SIZE=16000"))
        XCTAssertNotEqual(key(text.replacingOccurrences(of: "MEM_POOL_SIZE=16000", with: "MEM_POOL_SIZE=16001")), k)
        XCTAssertNotEqual(key(text + "CONFIG_KASAN=y\n"), k)
        XCTAssertNotEqual(key(text.replacingOccurrences(of: "CONFIG_FAILSLAB=y\n", with: "")), k)
        XCTAssertNotEqual(key(text.replacingOccurrences(of: "# CONFIG_DEBUG_KMEMLEAK_AUTO_SCAN is not set", with: "CONFIG_DEBUG_KMEMLEAK_AUTO_SCAN=y")), k)
        XCTAssertNotEqual(key("CONFIG_FAILSLAB=y\n" + text.replacingOccurrences(of: "CONFIG_FAILSLAB=y\n", with: "")), k, "order counts")
        // The coverage fragment is keyed by its options like any other.
        let coverage = try String(contentsOf: Self.ciFile("ringfence-coverage.config"), encoding: .utf8)
        let kc = key(text, coverage: coverage)
        XCTAssertNotEqual(kc, k)
        XCTAssertEqual(key(text, coverage: "# only a comment changed\n" + coverage), kc)
        XCTAssertNotEqual(key(text, coverage: coverage + "CONFIG_GCOV_FORMAT_AUTODETECT=y\n"), kc)
        XCTAssertNotEqual(key(text, coverage: coverage.replacingOccurrences(of: "CONFIG_GCOV_PROFILE_URING=y", with: "CONFIG_GCOV_PROFILE_ALL=y")), kc)
    }

    func testBuildPlanBaseConfigAndFragmentsInOrder() {
        let p = KernelBuild.plan(tree: "/t", fragments: [Self.frag("/r/a.config", "CONFIG_A=y"), Self.frag("/r/b.config", "CONFIG_B=y"),
                                                         Self.frag("/r/cov.config", "CONFIG_GCOV_KERNEL=y")],
                                 baseConfig: (path: "/t/.config", contents: "CONFIG_X=y\n"), cacheRoot: "/c", jobs: 0)
        XCTAssertEqual(p.configure.map(\.argv), [
            ["scripts/kconfig/merge_config.sh", "-m", "-O", p.outputDirectory, "/t/.config", "/r/a.config", "/r/b.config", "/r/cov.config"],
            ["make", "O=\(p.outputDirectory)", "olddefconfig"],
        ])
        XCTAssertEqual(p.build[0].argv.first, "make")
        XCTAssertTrue(p.build[0].argv.contains("-j1"))
        XCTAssertEqual(p.build[0].argv.last, "bzImage")
        XCTAssertEqual(p.build[0].description.hasPrefix("(cd /t && make O="), true)
    }

    static func ciFile(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("ci/" + name)
    }

    /// Every shipped fragment parses; the coverage one carries gcov for io_uring/
    /// (its options are checked in the built .config like the others').
    func testShippedFragmentsParse() throws {
        for name in ["ringfence.config", "ringfence-coverage.config", "ringfence-hunt.config", "ringfence-debug.config"] {
            let text = try String(contentsOf: Self.ciFile(name), encoding: .utf8)
            XCTAssertFalse(try KernelConfig.parseFragment(text).isEmpty, name)
        }
        let coverage = try KernelConfig.parseFragment(String(contentsOf: Self.ciFile("ringfence-coverage.config"), encoding: .utf8))
        XCTAssertEqual(Set(coverage.map(\.option)), ["CONFIG_DEBUG_FS", "CONFIG_GCOV_KERNEL", "CONFIG_GCOV_PROFILE_URING"])
        // A coverage option Kconfig dropped is reported like any fragment's.
        let unmet = KernelConfig.unmet(fragment: coverage, config: ["CONFIG_DEBUG_FS": "y", "CONFIG_GCOV_KERNEL": "y"])
        XCTAssertEqual(unmet.map(\.description), ["CONFIG_GCOV_PROFILE_URING: wanted y, not in .config (unknown option or unmet dependency)"])
    }
}
