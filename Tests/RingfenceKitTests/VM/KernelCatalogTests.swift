import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

final class KernelCatalogTests: XCTestCase {
    static func stanza(_ kind: String, _ release: String, _ version: String) -> String {
        """
        Package: linux-\(kind)-\(release)-cloud-amd64
        Source: linux
        Version: \(version)
        Installed-Size: 1000
        Architecture: amd64
        Description: Linux for x86-64 cloud (\(kind))
         This is a continuation line.
         .
         Another one.
        Filename: pool/main/l/linux/linux-\(kind)-\(release)-cloud-amd64_\(version)_amd64.deb
        Size: 1234
        SHA256: 00ff

        """
    }

    static let backports = [
        stanza("binary", "7.3.4+deb13", "7.3.4-1~bpo13+1"),
        stanza("modules", "7.3.4+deb13", "7.3.4-1~bpo13+1"),
        stanza("base", "7.3.4+deb13", "7.3.4-1~bpo13+1"),
        stanza("binary", "7.0.13+deb13", "7.0.13-1~bpo13+1"),
        stanza("binary", "7.0.12+deb13", "7.0.12-1~bpo13+1"),
        stanza("binary", "7.0.12+deb13", "7.0.12-2~bpo13+1"),
        stanza("binary", "7.1.13+deb13", "7.1.13-1~bpo13+1"),
        stanza("binary", "6.19.14+deb13", "6.19.14-1~bpo13+1"),
        stanza("modules", "7.2.6+deb13", "7.2.6-1~bpo13+1"),   // no binary: dropped
        """
        Package: linux-binary-7.3.4+deb13-rt-amd64
        Version: 7.3.4-1~bpo13+1
        Filename: pool/x.deb

        """,
    ].joined(separator: "\n")

    static let sid = [
        stanza("binary", "7.2.13+deb14", "7.2.13-1"),
        stanza("base", "7.2.13+deb14", "7.2.13-1"),
    ].joined(separator: "\n")

    static let experimental = [
        stanza("binary", "7.4", "7.4~rc3-1~exp1"),
        stanza("base", "7.4", "7.4~rc3-1~exp1"),
    ].joined(separator: "\n")

    func catalog(experimental: Bool = false) -> KernelCatalog {
        var idx = [(suite: "sid", text: Self.sid), (suite: "trixie-backports", text: Self.backports)]
        if experimental { idx.append((suite: "experimental", text: Self.experimental)) }
        return KernelCatalog(packagesBySuite: idx)
    }

    func testParsesAndSortsNewestFirst() {
        let c = catalog()
        XCTAssertEqual(c.kernels.map(\.release), [
            "7.3.4+deb13-cloud-amd64", "7.2.13+deb14-cloud-amd64", "7.1.13+deb13-cloud-amd64",
            "7.0.13+deb13-cloud-amd64", "7.0.12+deb13-cloud-amd64", "6.19.14+deb13-cloud-amd64",
        ])
        let k = c.kernels[0]
        XCTAssertEqual(k.upstreamVersion, "7.3.4")
        XCTAssertEqual(k.suite, "trixie-backports")
        XCTAssertNotNil(k.binary); XCTAssertNotNil(k.modules); XCTAssertNotNil(k.base)
        XCTAssertEqual(k.binary?.filename, "pool/main/l/linux/linux-binary-7.3.4+deb13-cloud-amd64_7.3.4-1~bpo13+1_amd64.deb")
        XCTAssertEqual(k.binary?.size, 1234)
        XCTAssertEqual(c.kernels[1].suite, "sid")
        XCTAssertNil(c.kernels[1].modules)
        // Two Debian revisions of one release: the newer wins.
        XCTAssertEqual(c.kernels[4].version.description, "7.0.12-2~bpo13+1")
        XCTAssertNil(c.kernels[3].base)
    }

    func testReleaseCandidatesSortBeforeTheRelease() {
        let c = catalog(experimental: true)
        XCTAssertEqual(c.kernels[0].release, "7.4-cloud-amd64")
        XCTAssertEqual(c.kernels[0].upstreamVersion, "7.4~rc3")
        XCTAssertEqual(c.kernels[0].suite, "experimental")
        XCTAssertLessThan(DebianVersion("7.4~rc3-1~exp1"), DebianVersion("7.4-1"))
        XCTAssertGreaterThan(DebianVersion("7.4~rc3-1~exp1"), DebianVersion("7.3.4-1~bpo13+1"))
    }

    func testDebianVersionOrdering() {
        let ordered = ["6.19.14-1~bpo13+1", "7.0~rc1-1~exp1", "7.0~rc7-1~exp1", "7.0-1", "7.0.4-1~bpo13+1",
                       "7.0.12-1~bpo13+1", "7.0.12-1", "7.0.12-2~bpo13+1", "7.0.13-1~bpo13+1", "7.2.13-1",
                       "7.3.4-1~bpo13+1", "7.3.4-1", "1:6.0-1"]
        for (a, b) in zip(ordered, ordered.dropFirst()) {
            XCTAssertLessThan(DebianVersion(a), DebianVersion(b), "\(a) < \(b)")
        }
        XCTAssertEqual(DebianVersion("7.0.010-1"), DebianVersion("7.0.10-1"))
        XCTAssertEqual(DebianVersion("7.3.4-1~bpo13+1").upstream, "7.3.4")
        XCTAssertEqual(DebianVersion("7.3.4-1~bpo13+1").revision, "1~bpo13+1")
    }

    func testMatching() {
        let c = catalog(experimental: true)
        XCTAssertEqual(c.matching("7.0").map(\.upstreamVersion), ["7.0.13", "7.0.12"])
        XCTAssertEqual(c.matching("7.3.4").map(\.release), ["7.3.4+deb13-cloud-amd64"])
        XCTAssertEqual(c.matching("7.3.4+deb13-cloud-amd64").count, 1)
        XCTAssertEqual(c.matching("7.3.4+deb13").count, 1)
        XCTAssertEqual(c.matching("7.0.12-2~bpo13+1").count, 1)
        XCTAssertEqual(c.matching("7.4").map(\.upstreamVersion), ["7.4~rc3"])
        XCTAssertEqual(c.matching("7.4-cloud-amd64").count, 1)
        XCTAssertEqual(c.matching("7.0.1").count, 0, "7.0.1 is not a prefix of 7.0.13 at a boundary")
        XCTAssertEqual(c.matching("8").count, 0)
    }

    func testDefaultSelection() {
        let c = catalog()
        // Config known and enabled for the newest: picked.
        var pick = KernelCatalog.selectDefault(c.kernels) { _ in .enabled }
        XCTAssertEqual(pick?.0.release, "7.3.4+deb13-cloud-amd64")
        // Newest two lack the option; 7.1.13 has no config at all: picked, as unknown.
        pick = KernelCatalog.selectDefault(c.kernels) { k in
            k.base != nil ? .disabled : .unknown
        }
        XCTAssertEqual(pick?.0.release, "7.1.13+deb13-cloud-amd64")
        XCTAssertEqual(pick?.1, .unknown)
        // Unfetched stops the search so the caller can fetch it.
        pick = KernelCatalog.selectDefault(c.kernels) { _ in .unfetched }
        XCTAssertEqual(pick?.1, .unfetched)
        // Kernels before 7.0 are never chosen.
        pick = KernelCatalog.selectDefault(c.kernels) { k in k.upstreamVersion.hasPrefix("6.") ? .unknown : .disabled }
        XCTAssertNil(pick)
    }

    func testConfigParsing() {
        XCTAssertEqual(KernelCatalog.ioUringBPF(config: "CONFIG_A=y\nCONFIG_IO_URING_BPF=y\n"), .enabled)
        XCTAssertEqual(KernelCatalog.ioUringBPF(config: "CONFIG_A=y\r\nCONFIG_IO_URING_BPF=y\r\n"), .enabled)
        XCTAssertEqual(KernelCatalog.ioUringBPF(config: "# CONFIG_IO_URING_BPF is not set\n"), .disabled)
        XCTAssertEqual(KernelCatalog.ioUringBPF(config: "CONFIG_IO_URING=y\n"), .disabled)
    }

    func testSuiteOfListFile() {
        XCTAssertEqual(KernelCatalog.suite(ofListFile: "mirror.invalid_debian_dists_trixie-backports_main_binary-amd64_Packages.lz4"), "trixie-backports")
        XCTAssertEqual(KernelCatalog.suite(ofListFile: "/x/mirror.invalid_debian_dists_sid_main_binary-amd64_Packages"), "sid")
    }
}
