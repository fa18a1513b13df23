import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Case start and end markers in the kernel's own log, so that a WARN, BUG or
/// Oops on the console is attributed from the kernel's timeline even when
/// several cases run at once:
///
///     <4>ringfence: begin <N> <case id>     before the case's child is forked
///     <4>ringfence: end <N> <case id>       after the child is reaped
///
/// N is the case's 1-based number in the run's plan (the order of `ringfence
/// list`, after --filter), not its number inside its KTAP suite. Level 4
/// (KERN_WARNING) reaches the console with the guest's `loglevel=5` (messages
/// below the console log level are printed). Each marker opens /dev/kmsg anew:
/// the kernel rate-limits writes per open file (10 per 5 s unless
/// printk.devkmsg=on), and a fresh open starts a fresh budget.
public struct KernelLogMarkers: Sendable {
    public static let devicePath = "/dev/kmsg"
    /// KERN_WARNING.
    public static let level = 4
    public let path: String

    public init(path: String = KernelLogMarkers.devicePath) { self.path = path }

    /// True when the marker device can be written (root in the VM guest).
    public static func available(path: String = KernelLogMarkers.devicePath) -> Bool {
        access(path, W_OK) == 0
    }

    public static func begin(_ number: Int, _ id: String) -> String { "ringfence: begin \(number) \(id)" }
    public static func end(_ number: Int, _ id: String) -> String { "ringfence: end \(number) \(id)" }

    /// Writes one record; failures are ignored (markers are an aid, not a verdict).
    public func write(_ message: String) {
        let fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_APPEND)
        guard fd >= 0 else { return }
        let record = "<\(Self.level)>\(message)\n"
        _ = record.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }
}
