import XCTest
#if canImport(Glibc)
import Glibc
#endif
import CRingfence
@testable import RingfenceCore

/// PipeFrame: the one format of every pipe to a forked or exec'd child.
final class PipeFrameTests: XCTestCase {
    private func frames(_ bytes: [UInt8]) -> PipeFrame.Reader {
        var r = PipeFrame.Reader()
        r.append(bytes)
        return r
    }

    func testAFrameRoundTripsAndSeveralArriveInPieces() {
        let report = ChildReport(ok: false, diagnostics: ["step 2 (register, a.yaml:4): expected -EINVAL", "  in the child", ""])
        var r = frames(PipeFrame.encode(report))
        XCTAssertEqual(r.finish(ChildReport.self), .success(report))
        // Two frames fed a byte at a time: none until each is whole, then each once.
        let both = PipeFrame.encode(WorkerPool.Command.run(7)) + PipeFrame.encode(WorkerPool.Command.quit)
        var reader = PipeFrame.Reader()
        var got: [WorkerPool.Command] = []
        for b in both {
            reader.append([b])
            if let f = reader.next(WorkerPool.Command.self) { got.append(try! f.get()) }
        }
        XCTAssertEqual(got, [.run(7), .quit])
        XCTAssertTrue(reader.bytes.isEmpty)
    }

    func testAReportSplitsDiagnosticsIntoLines() {
        XCTAssertEqual(ChildReport(ok: true, diagnostics: ["a\nb", "c"]).diagnostics, ["a", "b", "c"])
    }

    func testATruncatedFrameSaysHowMuchCame() {
        let whole = PipeFrame.encode(ChildReport(ok: true, diagnostics: ["x"]))
        var half = frames(Array(whole.prefix(whole.count / 2)))
        XCTAssertNil(half.next(ChildReport.self))   // incomplete: more may come
        XCTAssertEqual(half.finish(ChildReport.self), .failure(.truncated(got: whole.count / 2, of: whole.count)))
        var header = frames([3, 0])
        XCTAssertEqual(header.finish(ChildReport.self), .failure(.truncated(got: 2, of: nil)))
        XCTAssertEqual(PipeFrameError.truncated(got: 2, of: nil).description, "the pipe closed mid-frame: 2 of the 4-byte length")
        var empty = PipeFrame.Reader()
        XCTAssertEqual(empty.finish(ChildReport.self), .failure(.noFrame))
        var extra = frames(whole + [1])
        XCTAssertEqual(extra.finish(ChildReport.self), .failure(.trailing(1)))
    }

    func testAnOversizeLengthIsAnErrorAtOnce() {
        var r = frames([0xff, 0xff, 0xff, 0x7f, 0x7b])
        XCTAssertEqual(r.next(ChildReport.self), .failure(.oversize(0x7fff_ffff)))
        XCTAssertEqual(r.endOfStream(), .oversize(0x7fff_ffff))
        XCTAssertTrue(PipeFrameError.oversize(0x7fff_ffff).description.contains("not a frame"))
        // The blocking reader (a worker's commands) does not wait for 2 GB either.
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        XCTAssertNil(PipeFrame.writeAll([0xff, 0xff, 0xff, 0x7f], to: fds[1]))
        XCTAssertEqual(PipeFrame.read(WorkerPool.Command.self, from: fds[0]), .failure(.oversize(0x7fff_ffff)))
        close(fds[0]); close(fds[1])
    }

    func testAFrameOfTheWrongShapeSaysSo() {
        var r = frames(PipeFrame.encode("just text"))
        guard case .failure(.undecodable(let type, _)) = r.finish(ChildReport.self) else { return XCTFail("decoded") }
        XCTAssertEqual(type, "ChildReport")
    }

    /// A real child that writes half a frame and dies: the parent reads what
    /// came and says the frame was cut short, and how the child ended.
    func testAChildThatDiesMidFrameIsReportedClearly() {
        let whole = PipeFrame.encode(ChildReport(ok: true, diagnostics: ["never all of it"]))
        let child = PipeFrame.runForked { (fd: Int32) -> (value: ChildReport, exitCode: Int32) in
            _ = PipeFrame.writeAll(Array(whole.prefix(10)), to: fd)
            kill(getpid(), SIGKILL)
            return (ChildReport(ok: true, diagnostics: []), 0)
        }
        guard let child else { return XCTFail("fork failed") }
        XCTAssertEqual(child.frame, .failure(.truncated(got: 10, of: whole.count)))
        XCTAssertEqual(PipeFrame.describe(status: child.status), "killed by signal \(SIGKILL)")
        // How a fork: step's child reads in a case's diagnostics, and a case's process in its reason.
        XCTAssertEqual(LiveKernel.judge((child.frame, child.status)).diagnostics, ["child killed by signal \(SIGKILL)"])
        XCTAssertEqual(Runner.crashReason(status: child.status, .truncated(got: 10, of: whole.count)),
                       "case process killed by signal \(SIGKILL) (the pipe closed mid-frame: 10 of \(whole.count) bytes)")
        // Exiting (not killed) with half a frame: the report's trouble is the diagnostic.
        let exited = PipeFrame.runForked { (fd: Int32) -> (value: ChildReport, exitCode: Int32) in
            _ = PipeFrame.writeAll(Array(whole.prefix(3)), to: fd)
            _exit(0)
        }
        XCTAssertEqual(exited.map { LiveKernel.judge(($0.frame, $0.status)).diagnostics },
                       ["the child's report: the pipe closed mid-frame: 3 of the 4-byte length"])
        XCTAssertEqual(exited.map { LiveKernel.judge(($0.frame, $0.status)).ok }, false)
    }

    func testAChildsWholeFrameArrives() {
        let child = PipeFrame.runForked { () -> (value: [String?], exitCode: Int32) in
            ([FuzzObservation(events: [.setup(ret: 0)]).compact, nil], 3)
        }
        XCTAssertEqual(child.map { try? $0.frame.get() }, ["U 0|W 0 0", nil])
        XCTAssertEqual(child.map { PipeFrame.describe(status: $0.status) }, "exited 3")
    }
}
