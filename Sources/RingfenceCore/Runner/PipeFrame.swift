#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// The one format of every pipe between ringfence and a process it forked or
/// exec'd: a case's child (Runner), a shared worker's commands and answers
/// (Worker), a `fork:`/`exec:` step's child (LiveKernel), the fuzzer's batch
/// child, a benchmark's child. A frame is the payload's length (4 bytes,
/// little-endian) followed by the payload as JSON, so a reader always knows
/// whether it has all of it: a child that dies mid-frame is told apart from
/// one that said nothing, and neither from one that answered.
public enum PipeFrame {
    /// No payload is this long: a length above it is a corrupt frame, not a request
    /// to allocate.
    public static let maxPayload = 64 << 20
    static let headerSize = 4

    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        // Encoding plain structs, strings and integers cannot fail.
        let payload = Array((try? JSONEncoder().encode(value)) ?? Data())
        return withUnsafeBytes(of: UInt32(payload.count).littleEndian) { Array($0) } + payload
    }

    /// Writes one frame, all of it (EINTR retried); nil when it went, else why not.
    @discardableResult
    public static func write<T: Encodable>(_ value: T, to fd: Int32) -> PipeFrameError? {
        writeAll(encode(value), to: fd)
    }

    static func writeAll(_ bytes: [UInt8], to fd: Int32) -> PipeFrameError? {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n > 0 { off += n } else if n < 0 && errno == EINTR { continue } else { return .io("write", n < 0 ? errno : EPIPE) }
        }
        return nil
    }

    /// Reads one frame (blocking): a worker's next command.
    public static func read<T: Decodable>(_ type: T.Type, from fd: Int32) -> Result<T, PipeFrameError> {
        var reader = Reader()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            if let frame = reader.next(type) { return frame }
            let want = min(buf.count, reader.missing)
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, want) }
            if n > 0 { reader.append(buf[0..<n]) } else if n < 0 && errno == EINTR { continue } else if n < 0 {
                return .failure(.io("read", errno))
            } else {
                return .failure(reader.endOfStream())
            }
        }
    }

    /// Reads until end of file and decodes the one frame the writer sent: a
    /// child's report, read after it closed its end.
    public static func readToEnd<T: Decodable>(_ type: T.Type, from fd: Int32) -> Result<T, PipeFrameError> {
        var reader = Reader()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n > 0 { reader.append(buf[0..<n]) } else if n < 0 && errno == EINTR { continue } else { break }
        }
        return reader.finish(type)
    }

    /// Bytes as they arrive from a pipe (a poll loop), and the frames in them.
    public struct Reader {
        public private(set) var bytes: [UInt8] = []
        public init() {}

        public mutating func append<S: Sequence>(_ more: S) where S.Element == UInt8 { bytes.append(contentsOf: more) }

        /// The payload's length, once the header is here.
        var length: Int? {
            guard bytes.count >= PipeFrame.headerSize else { return nil }
            return Int(bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
        }

        /// How many more bytes the frame being read needs (at least 1).
        var missing: Int {
            guard let length else { return PipeFrame.headerSize - bytes.count }
            return max(1, PipeFrame.headerSize + min(length, PipeFrame.maxPayload) - bytes.count)
        }

        /// The next frame, removed from the buffer; nil while it is incomplete.
        /// An oversize length is an error at once (the rest is never waited for).
        public mutating func next<T: Decodable>(_ type: T.Type) -> Result<T, PipeFrameError>? {
            guard let length else { return nil }
            if length > PipeFrame.maxPayload { return .failure(.oversize(length)) }
            let end = PipeFrame.headerSize + length
            guard bytes.count >= end else { return nil }
            let payload = Data(bytes[PipeFrame.headerSize..<end])
            bytes.removeFirst(end)
            do {
                return .success(try JSONDecoder().decode(type, from: payload))
            } catch {
                return .failure(.undecodable(String(describing: T.self), "\(error)"))
            }
        }

        /// The writer closed its end: why no (further) frame came.
        public func endOfStream() -> PipeFrameError {
            if bytes.isEmpty { return .noFrame }
            if let length, length > PipeFrame.maxPayload { return .oversize(length) }
            return .truncated(got: bytes.count, of: length.map { PipeFrame.headerSize + $0 })
        }

        /// The writer closed its end after what should be exactly one frame.
        public mutating func finish<T: Decodable>(_ type: T.Type) -> Result<T, PipeFrameError> {
            guard let frame = next(type) else { return .failure(endOfStream()) }
            if case .success = frame, !bytes.isEmpty { return .failure(.trailing(bytes.count)) }
            return frame
        }
    }

    /// Runs `body` in a forked child that sends its value as one frame on a
    /// pipe and exits with the code `body` gave; waits for the child. `body`
    /// gets the pipe's write end (an exec'd image sends its frame through it).
    /// nil when pipe or fork failed (errno says why).
    public static func runForked<T: Codable>(_ body: (Int32) -> (value: T, exitCode: Int32)) -> (frame: Result<T, PipeFrameError>, status: Int32)? {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return nil }
        fflush(stdout)
        let pid = rf_fork()
        if pid < 0 {
            close(fds[0]); close(fds[1])
            return nil
        }
        if pid == 0 {
            close(fds[0])
            let (value, code) = body(fds[1])
            write(value, to: fds[1])
            _exit(code)
        }
        close(fds[1])
        let frame = readToEnd(T.self, from: fds[0])
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (frame, status)
    }

    /// The same, for a body that does not need the pipe.
    public static func runForked<T: Codable>(_ body: () -> (value: T, exitCode: Int32)) -> (frame: Result<T, PipeFrameError>, status: Int32)? {
        runForked { (_: Int32) in body() }
    }

    /// How a wait status reads in a diagnostic: "killed by signal 9", "exited 3".
    public static func describe(status: Int32) -> String {
        (status & 0x7f) != 0 ? "killed by signal \(status & 0x7f)" : "exited \((status >> 8) & 0xff)"
    }
}

/// Why a frame could not be read.
public enum PipeFrameError: Error, Equatable, CustomStringConvertible {
    /// The writer closed its end without sending a byte.
    case noFrame
    /// The writer closed its end mid-frame: `got` bytes of `of` (nil: the header was not complete).
    case truncated(got: Int, of: Int?)
    /// The header gave a length above `PipeFrame.maxPayload`.
    case oversize(Int)
    /// The payload is not JSON of the expected type.
    case undecodable(String, String)
    /// Bytes after the one frame expected.
    case trailing(Int)
    /// read(2) or write(2) failed.
    case io(String, Int32)

    public var description: String {
        switch self {
        case .noFrame: return "the pipe closed before a frame"
        case .truncated(let got, let of?): return "the pipe closed mid-frame: \(got) of \(of) bytes"
        case .truncated(let got, nil): return "the pipe closed mid-frame: \(got) of the \(PipeFrame.headerSize)-byte length"
        case .oversize(let n): return "a frame of \(n) bytes (more than \(PipeFrame.maxPayload)): not a frame"
        case .undecodable(let type, let why): return "a frame that is not a \(type): \(why)"
        case .trailing(let n): return "\(n) bytes after the frame"
        case .io(let call, let e): return "\(call): \(Errno.name(e))"
        }
    }
}

/// What a child reports: whether its steps held, and the diagnostics, one
/// line each (a line with newlines in it is split, as KTAP diagnostics are
/// lines).
public struct ChildReport: Codable, Equatable, Sendable {
    public var ok: Bool
    public var diagnostics: [String]
    public init(ok: Bool, diagnostics: [String]) {
        self.ok = ok
        self.diagnostics = diagnostics.flatMap { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
    }
}
