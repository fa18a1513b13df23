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

    func testBuildPlanTinyconfig() {
        let p = KernelBuild.plan(tree: "/src/linux", fragments: [(path: "/r/ci/ringfence.config", contents: "CONFIG_ACPI=y\n")],
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
        let f = (path: "/r/f.config", contents: "CONFIG_ACPI=y\n")
        let a = KernelBuild.plan(tree: "/t", fragments: [f], cacheRoot: "/c")
        XCTAssertEqual(a.key, KernelBuild.plan(tree: "/t", fragments: [(path: "/elsewhere/f.config", contents: f.contents)], cacheRoot: "/c").key,
                       "the key is the fragment's contents, not its path")
        let others = [
            KernelBuild.plan(tree: "/t2", fragments: [f], cacheRoot: "/c"),
            KernelBuild.plan(tree: "/t", fragments: [(path: f.path, contents: "CONFIG_PCI=y\n")], cacheRoot: "/c"),
            KernelBuild.plan(tree: "/t", fragments: [f], baseConfig: (path: "/t/.config", contents: "CONFIG_X=y\n"), cacheRoot: "/c"),
            KernelBuild.plan(tree: "/t", fragments: [f], coverage: true, cacheRoot: "/c"),
        ]
        XCTAssertEqual(Set(others.map(\.key) + [a.key]).count, 5)
    }

    func testBuildPlanBaseConfigAndCoverage() {
        let p = KernelBuild.plan(tree: "/t", fragments: [(path: "/r/a.config", contents: "a"), (path: "/r/b.config", contents: "b")],
                                 baseConfig: (path: "/t/.config", contents: "CONFIG_X=y\n"), coverage: true,
                                 coverageFragmentPath: "/r/cov.config", cacheRoot: "/c", jobs: 0)
        XCTAssertEqual(p.configure.map(\.argv), [
            ["scripts/kconfig/merge_config.sh", "-m", "-O", p.outputDirectory, "/t/.config", "/r/a.config", "/r/b.config", "/r/cov.config"],
            ["make", "O=\(p.outputDirectory)", "olddefconfig"],
        ])
        XCTAssertEqual(p.build[0].argv.first, "make")
        XCTAssertTrue(p.build[0].argv.contains("-j1"))
        XCTAssertTrue(KernelBuild.coverageFragment.contains("CONFIG_GCOV_PROFILE_URING=y"))
        XCTAssertEqual(p.build[0].argv.last, "bzImage")
        XCTAssertTrue(KernelBuild.coverageFragment.contains("CONFIG_GCOV_KERNEL=y"))
        XCTAssertEqual(p.build[0].description.hasPrefix("(cd /t && make O="), true)
    }

    func testCoverageFragmentMatchesShippedFile() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("ci/ringfence-coverage.config")
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), KernelBuild.coverageFragment)
        for name in ["ringfence-coverage.config", "ringfence-hunt.config"] {
            let text = try String(contentsOf: url.deletingLastPathComponent().appendingPathComponent(name), encoding: .utf8)
            XCTAssertFalse(try KernelConfig.parseFragment(text).isEmpty, name)
        }
    }
}
