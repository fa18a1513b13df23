import CRingfence
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum Signals {
    /// From now on SIGINT/SIGTERM/SIGHUP only set a flag that every wait checks.
    public static func trap() { rf_trap_signals() }
    /// The first trapped signal, or nil.
    public static var caught: Int32? { let s = rf_caught_signal(); return s == 0 ? nil : s }

    public static func name(_ s: Int32) -> String {
        switch s {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        case SIGKILL: return "SIGKILL"
        case SIGSEGV: return "SIGSEGV"
        case SIGILL: return "SIGILL"
        case SIGABRT: return "SIGABRT"
        case SIGTRAP: return "SIGTRAP"
        case SIGBUS: return "SIGBUS"
        default: return "signal \(s)"
        }
    }

    /// Throws `HostError.interrupted` when a signal has arrived.
    public static func check(_ phase: String) throws {
        if let s = caught { throw HostError.interrupted(s, during: phase) }
    }
}
