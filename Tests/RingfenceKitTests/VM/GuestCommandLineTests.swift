import XCTest
import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

final class GuestCommandLineTests: XCTestCase {
    func roundTrip(_ args: [String], file: StaticString = #filePath, line: UInt = #line) {
        let param = GuestCommandLine.encodeArguments(args)
        XCTAssertFalse(param.contains(" "), file: file, line: line)
        XCTAssertFalse(param.contains("\""), file: file, line: line)
        let cmdline = "console=ttyS0 panic=-1 \(param) ringfence.modules=sctp\n"
        XCTAssertEqual(try GuestCommandLine.decodeArguments(cmdline: cmdline), args, file: file, line: line)
    }

    func testRoundTrips() {
        roundTrip(["run", "--announce", "--cases", "/cases"])
        roundTrip(["run", "--filter", "name with spaces, and commas", "--x=y"])
        roundTrip(["quote\"s", "back\\slash", "tab\there", "newline\nhere", "100%", "ünïcødé ✓"])
        roundTrip([])
        roundTrip([""])
        roundTrip(["a", "", "b"])
    }

    func testEncodingIsReadable() {
        XCTAssertEqual(GuestCommandLine.encodeArguments(["run", "--cases", "/cases"]), "ringfence.args=run,--cases,/cases")
        XCTAssertEqual(GuestCommandLine.encodeArguments(["a b", "c,d"]), "ringfence.args=a%20b,c%2Cd")
        XCTAssertEqual(GuestCommandLine.encodeArguments([]), "ringfence.args")
    }

    func testOnlyTheUnreservedBytesStayReadable() {
        // The kernel splits its command line at spaces and strips quotes; the guest
        // decodes %XX (decodeArguments). So every ASCII byte outside
        // [A-Za-z0-9._~/=:@+-] must be %-encoded, and those inside must not be.
        let readable = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/=:@+")
        for b in UInt8(0)...UInt8(127) {
            let c = Character(Unicode.Scalar(b))
            let encoded = GuestCommandLine.percentEncode(String(c))
            if readable.contains(c) {
                XCTAssertEqual(encoded, String(c), "byte 0x\(String(b, radix: 16)) should stay as it is")
            } else {
                XCTAssertEqual(encoded, "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true), "byte 0x\(String(b, radix: 16)) should be %-encoded")
            }
        }
        XCTAssertEqual(GuestCommandLine.percentEncode("é"), "%C3%A9")
    }

    func testAbsentAndBad() throws {
        XCTAssertNil(try GuestCommandLine.decodeArguments(cmdline: "console=ttyS0 quiet"))
        XCTAssertThrowsError(try GuestCommandLine.decodeArguments(cmdline: "ringfence.args=%zz"))
        XCTAssertThrowsError(try GuestCommandLine.decodeArguments(cmdline: "ringfence.args=%FF"))
    }

    func testModulesAndQuoting() {
        XCTAssertEqual(GuestCommandLine.modules(cmdline: "a=1 ringfence.modules=sctp,xt_bpf b"), ["sctp", "xt_bpf"])
        XCTAssertEqual(GuestCommandLine.modules(cmdline: "a=1"), [])
        XCTAssertEqual(GuestCommandLine.parameters("a \"b c\" d=\"e f\"\n"), ["a", "b c", "d=e f"])
    }
}

final class GuestResultsTests: XCTestCase {
    func testRoundTripThroughACRLFConsoleWithKernelNoise() {
        let json = "{\"cases\": [\(String(repeating: "{\"id\": \"a:b\"},", count: 2000)){}]}"
        var lines: [String] = []
        GuestResults.emit(name: "results.json", contents: Data(json.utf8)) { lines.append($0) }
        GuestResults.emit(name: "bench.svg", contents: Data("<svg/>".utf8)) { lines.append($0) }
        XCTAssertGreaterThan(lines.count, 3)
        lines.insert("[    5.123456] random: crng init done", at: 1)
        let log = "KTAP version 1\r\n" + lines.joined(separator: "\r\n") + "\r\n# ringfence-exit: 0\r\n"
        let files = GuestResults.extract(fromConsole: log)
        XCTAssertEqual(files["results.json"].map { String(decoding: $0, as: UTF8.self) }, json)
        XCTAssertEqual(files["bench.svg"].map { String(decoding: $0, as: UTF8.self) }, "<svg/>")
        XCTAssertFalse(VMVerdict.judge(log: log, plan: nil, host: nil).ktap.contains("ringfence-file"))
    }
}
