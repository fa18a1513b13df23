import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

/// Case discovery reads no directory or file twice (device + inode): a
/// symbolic link back to an enclosing directory is a case-file error naming
/// the link, not a hang or a suite run 41 times.
final class CaseDiscoveryTests: XCTestCase {
    private var root = ""

    private static let oneCase = """
        - name: Allow NOP
          steps:
            - register: { opcode: NOP, program: "ret #1" }
        """

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "rf-discovery-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root + "/area/sub", withIntermediateDirectories: true)
        try Self.oneCase.write(toFile: root + "/top.yaml", atomically: true, encoding: .utf8)
        try Self.oneCase.write(toFile: root + "/area/sub/deep.yaml", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    private func link(_ name: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/" + name, withDestinationPath: target)
    }

    func testPlainTreeLoadsEveryFileOnce() throws {
        let (cases, errors) = try CaseLoader.loadCollectingErrors(directory: root)
        XCTAssertEqual(cases.map(\.id), ["area/sub/deep:allow-nop", "top:allow-nop"])
        XCTAssertTrue(errors.isEmpty, "\(errors)")
    }

    func testLinkToAnEnclosingDirectoryIsAnErrorNamingIt() throws {
        try link("area/sub/up", to: "..")
        let (cases, errors) = try CaseLoader.loadCollectingErrors(directory: root)
        XCTAssertEqual(cases.count, 2)
        XCTAssertEqual(errors.map(\.file), ["area/sub/up"])
        guard errors.count == 1 else { return }
        XCTAssertTrue(errors[0].message.contains("loop") && errors[0].message.contains("remove the link"), errors[0].message)
        XCTAssertThrowsError(try CaseLoader.load(directory: root)) { e in
            XCTAssertEqual((e as? CaseFileError)?.file, "area/sub/up")
        }
    }

    func testSelfLinkDoesNotMultiplyTheCases() throws {
        try link("self", to: ".")
        let (cases, errors) = try CaseLoader.loadCollectingErrors(directory: root)
        XCTAssertEqual(cases.count, 2)
        XCTAssertEqual(errors.map(\.file), ["self"])
        guard errors.count == 1 else { return }
        XCTAssertTrue(errors[0].message.contains("the cases directory"), errors[0].message)
    }

    func testCompilingRefusesALoopToo() throws {
        try link("area/back", to: "../area")
        XCTAssertThrowsError(try CaseLoader.compile(directory: root)) { e in
            XCTAssertEqual((e as? CaseFileError)?.file, "area/back")
        }
    }

    func testSecondPathToAFileOrDirectoryLoadsItOnce() throws {
        try link("zz-alias.yaml", to: "top.yaml")
        try link("zz-dir", to: "area/sub")
        let (cases, errors) = try CaseLoader.loadCollectingErrors(directory: root)
        XCTAssertEqual(cases.map(\.id), ["area/sub/deep:allow-nop", "top:allow-nop"])
        XCTAssertTrue(errors.isEmpty, "\(errors)")
    }

    func testEveryDuplicateIdIsReported() throws {
        try (Self.oneCase + "\n" + Self.oneCase + "\n" + Self.oneCase).write(toFile: root + "/top.yaml", atomically: true, encoding: .utf8)
        let (cases, errors) = try CaseLoader.loadCollectingErrors(directory: root)
        XCTAssertEqual(cases.count, 2)
        XCTAssertEqual(errors.map(\.line), [4, 7], "\(errors)")
        XCTAssertTrue(errors.allSatisfy { $0.message.contains("duplicate case id top:allow-nop (first at top.yaml:1)") }, "\(errors)")
    }

    func testASingleCaseFileIsAccepted() throws {
        let cases = try CaseLoader.load(directory: root + "/area/sub/deep.yaml")
        XCTAssertEqual(cases.map(\.id), ["deep:allow-nop"])
        XCTAssertFalse(try CaseLoader.compile(directory: root + "/top.yaml").isEmpty)
    }

    func testAMissingPathOrANonCaseFileSaysWhatToGive() throws {
        try "x".write(toFile: root + "/notes.txt", atomically: true, encoding: .utf8)
        for (path, text) in [(root + "/nothere", "no such directory or case file"), (root + "/notes.txt", "not a directory or a .yaml case file")] {
            XCTAssertThrowsError(try CaseLoader.load(directory: path)) { e in
                let d = (e as? CaseFileError)?.description ?? "\(e)"
                XCTAssertTrue(d.contains(text) && d.contains("name the cases directory"), d)
                XCTAssertFalse(d.contains(":0:"), d)
            }
        }
    }
}
