import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a host-side step stopped: the message a user sees and the exit code
/// (2 set-up error, 130/143 interrupted). `ringfence vm` prints
/// "ringfence vm: <message>" and exits with `code`; never a Swift trace.
public struct HostError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var code: Int32
    public init(_ message: String, code: Int32 = 2) { self.message = message; self.code = code }
    public var description: String { message }

    /// SIGINT/SIGTERM/SIGHUP arrived while `phase` ran.
    public static func interrupted(_ signal: Int32, during phase: String) -> HostError {
        HostError("interrupted by \(Signals.name(signal)) while \(phase)", code: 128 + signal)
    }
}
