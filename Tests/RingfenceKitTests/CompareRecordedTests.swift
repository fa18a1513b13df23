import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

/// `ringfence compare` on results recorded from real Debian kernels
/// (Tests/Fixtures/results): the differences it reports are the ones the
/// kernel matrix showed.
final class CompareRecordedTests: XCTestCase {
    private func report(_ name: String) throws -> RunReport { try RecordedResults.load(name) }

    /// The fixes between 7.2.13 and 7.3.4: socket type masking and blind
    /// registration restrictions (7.3.2), task-side copy-on-write (7.3).
    private let fixedIn73: Set<String> = [
        "context/socket:socket.type-has-sock_cloexec-masked-off",
        "context/socket:socket.type-has-sock_nonblock-masked-off",
        "context/socket:socket.type-has-both-sock_cloexec-and-sock_nonblock-masked-off",
        "context/socket:a-filter-matching-the-unmasked-type-never-matches",
        "context/socket:an-allow-list-of-af_unix-stream-sockets",
        "task/restrictions:register-restrictions-without-bpf_filter-block-task-filters",
        "task/restrictions:register-restrictions-without-restrictions-make-a-second-one-eacces-not-eperm",
        "task/restrictions:an-empty-task-restriction-blocks-task-filters",
        "task/task-filters:a-second-task-filter-does-not-reach-a-ring-created-between-the-two",
    ]

    func testUpgrade72To73FixesExactlyTheKnownDepartures() throws {
        let c = ResultsComparison(old: try report("debian-7.2.13"), new: try report("debian-7.3.4"))
        XCTAssertEqual(c.oldKernel, "7.2.13+deb14-cloud-amd64")
        XCTAssertEqual(Set(c.newlyPassing.map(\.id)), fixedIn73)
        XCTAssertTrue(c.newlyFailing.isEmpty)
        XCTAssertFalse(c.hasNewFailures)
        XCTAssertTrue(c.newlySkipped.isEmpty)
        XCTAssertTrue(c.changedObserved.isEmpty)
        XCTAssertTrue(c.added.isEmpty && c.removed.isEmpty)
    }

    func testDowngrade73To72IsANewFailureWithObservedValues() throws {
        let c = ResultsComparison(old: try report("debian-7.3.4"), new: try report("debian-7.2.13"))
        XCTAssertEqual(Set(c.newlyFailing.map(\.id)), fixedIn73)
        XCTAssertTrue(c.hasNewFailures)
        let socket = try XCTUnwrap(c.newlyFailing.first { $0.id == "context/socket:socket.type-has-sock_cloexec-masked-off" })
        XCTAssertEqual(socket.old, .pass)
        XCTAssertEqual(socket.new, .fail)
        XCTAssertTrue(socket.newObserved.joined().contains("-EACCES"), socket.newObserved.joined(separator: "\n"))
        XCTAssertTrue(c.table().contains("newly failing: 9"), c.table())
    }

    func testUpgrade71To72RunsTheConnectContextAndFixesRestrictInherited() throws {
        let c = ResultsComparison(old: try report("debian-7.1.13"), new: try report("debian-7.2.13"))
        let passing = Set(c.newlyPassing.map(\.id))
        XCTAssertTrue(passing.contains("task/restrictions:inherited-register-restrictions-apply-even-to-a-disabled-ring"))
        XCTAssertEqual(passing.filter { $0.hasPrefix("context/connect:") }.count, 18)
        XCTAssertEqual(c.newlyPassing.filter { $0.old == .skip }.count, 22)
        XCTAssertTrue(c.newlyFailing.isEmpty)
    }

    private let nopFixedFile = "submission/before-filters:nop-s-ioring_nop_fixed_file-shows-as-iosqe_fixed_file-to-the-filter"

    func testKernelsWithTheSameKnownBugsCompareClean() throws {
        let c = ResultsComparison(old: try report("with-known-bugs-7.0.13"), new: try report("with-known-bugs-7.1.3"))
        XCTAssertTrue(c.newlyFailing.isEmpty && c.newlyPassing.isEmpty && c.newlySkipped.isEmpty)
        XCTAssertTrue(c.newlyKnownBugs.isEmpty && c.changedObserved.isEmpty && c.added.isEmpty && c.removed.isEmpty)
    }

    func testAStableFixTurnsExactlyOneKnownBugIntoAPass() throws {
        let c = ResultsComparison(old: try report("with-known-bugs-7.1.3"), new: try report("with-known-bugs-7.1.13"))
        XCTAssertEqual(c.newlyPassing.map(\.id), [nopFixedFile])
        XCTAssertEqual(c.newlyPassing.first?.old, .xfail)
        XCTAssertFalse(c.hasNewFailures)
        XCTAssertTrue(c.newlyKnownBugs.isEmpty)
    }

    func testGoingBackBeforeAFixShowsAKnownBugButNoNewFailure() throws {
        let c = ResultsComparison(old: try report("with-known-bugs-7.1.13"), new: try report("with-known-bugs-7.1.3"))
        XCTAssertEqual(c.newlyKnownBugs.map(\.id), [nopFixedFile])
        XCTAssertFalse(c.hasNewFailures)
        XCTAssertTrue(c.table().contains("newly known bugs (covered, not failing): 1"), c.table())
    }

    func testAKnownBugThatBecomesAPlainFailureIsANewFailure() throws {
        // The pre-baseline 7.1.13 recording has the same departures as plain failures.
        let old = try report("with-known-bugs-7.1.13"), new = try report("debian-7.1.13")
        let c = ResultsComparison(old: old, new: new)
        XCTAssertTrue(c.hasNewFailures)
        XCTAssertTrue(c.newlyFailing.allSatisfy { $0.old == .xfail && $0.new == .fail })
        // Every known bug of the recording with the baseline that the older recording ran.
        let ran = Set(new.cases.map(\.id))
        let known = Set(old.cases.filter { $0.status == .xfail }.map(\.id))
        XCTAssertEqual(Set(c.newlyFailing.map(\.id)), known.intersection(ran))
        XCTAssertEqual(c.newlyFailing.count, 10)
        XCTAssertEqual(c.removed.count, 4)   // cases/fuzz/findings.yaml is newer than that recording
        XCTAssertTrue(c.removed.allSatisfy { $0.id.hasPrefix("fuzz/findings:") })
    }

    /// Runs of another architecture or executor are unlike besides the
    /// kernel: compare says so (a warning, not a gate reason) and names both
    /// in its table's first line; alike runs get no warning.
    func testAnotherArchitectureOrExecutorIsNamed() throws {
        var old = try report("debian-7.3.4"), new = try report("debian-7.3.4")
        XCTAssertEqual(ResultsComparison(old: old, new: new).warnings, [])
        old.host = HostFacts(accelerator: "tcg", kernelRelease: old.kernel.release)
        old.host?.arch = "x86_64"
        old.host?.executor = "swift"
        new.host = HostFacts(accelerator: "tcg", kernelRelease: new.kernel.release)
        new.host?.arch = "arm64"
        new.host?.executor = "kselftest"
        let c = ResultsComparison(old: old, new: new)
        XCTAssertEqual(c.warnings.count, 2, "\(c.warnings)")
        XCTAssertTrue(c.warnings[0].hasPrefix("OLD ran on x86_64 and NEW on arm64"), c.warnings[0])
        XCTAssertTrue(c.warnings[1].hasPrefix("OLD ran with the swift executor and NEW with kselftest"), c.warnings[1])
        XCTAssertTrue(c.table().hasPrefix("compare: 7.3.4+deb13-cloud-amd64 (x86_64, swift) -> 7.3.4+deb13-cloud-amd64 (arm64, kselftest)"), c.table())
        XCTAssertEqual(c.gate(allowRemoved: false).code, 0, "a warning, not a gate reason")
        new.host?.arch = "x86_64"
        new.host?.executor = "swift"
        XCTAssertEqual(ResultsComparison(old: old, new: new).warnings, [])
    }
}
