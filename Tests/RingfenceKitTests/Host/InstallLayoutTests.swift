import XCTest
@testable import RingfenceKit

/// Where an installed ringfence (the Debian package, docs/packaging.md) finds
/// its guest binary; a build tree keeps "beside the executable".
final class InstallLayoutTests: XCTestCase {
    func testPrefixOnlyForABinDirectory() {
        XCTAssertEqual(InstallLayout.prefix(ofExecutable: "/usr/bin/ringfence"), "/usr")
        XCTAssertEqual(InstallLayout.prefix(ofExecutable: "/usr/local/bin/ringfence"), "/usr/local")
        XCTAssertEqual(InstallLayout.prefix(ofExecutable: "/bin/ringfence"), "/")
        XCTAssertNil(InstallLayout.prefix(ofExecutable: "/src/ringfence/.build-release/release/ringfence"))
        XCTAssertNil(InstallLayout.prefix(ofExecutable: "/init"))
    }

    func testGuestCandidatesInstalledFirstThenBeside() {
        XCTAssertEqual(InstallLayout.guestCandidates(forExecutable: "/usr/bin/ringfence"),
                       ["/usr/lib/ringfence/ringfence-guest", "/usr/bin/ringfence-guest"])
        XCTAssertEqual(InstallLayout.guestCandidates(forExecutable: "/bin/ringfence"),
                       ["/lib/ringfence/ringfence-guest", "/bin/ringfence-guest"])
        XCTAssertEqual(InstallLayout.guestCandidates(forExecutable: "/w/.build-release/release/ringfence"),
                       ["/w/.build-release/release/ringfence-guest"])
    }

    func testASourceBuildSaysSo() {
        // The test runner is no <prefix>/bin executable with a share/ringfence.
        XCTAssertNil(InstallLayout.shareDirectory)
        XCTAssertEqual(InstallLayout.versionText, RingfenceVersion.string + " (source build)")
    }
}
