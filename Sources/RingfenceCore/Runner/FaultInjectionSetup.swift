#if canImport(Glibc)
import Glibc
#endif

/// The kernel's fault injection as the `inject:` cases use it
/// (Documentation/fault-injection/fault-injection.rst): a task's
/// /proc/thread-self/fail-nth fails its N-th call to should_fail() in
/// failslab or fail_page_alloc. By default both ignore allocations that may
/// sleep (`ignore-gfp-wait` Y), which are nearly all of io_uring's
/// (GFP_KERNEL_ACCOUNT), so the knobs are set to N once; `verbose` 0 keeps
/// each injected failure's stack dump off the console (the host would read it
/// as kernel trouble). User page faults stay ignored (`ignore-gfp-highmem`
/// stays Y), so only the kernel's own allocations in the armed syscall count.
public enum FaultInjectionSetup {
    public static let failNth = "/proc/thread-self/fail-nth"
    public static let debugfs = "/sys/kernel/debug"
    static let knobs: [(String, String)] = [
        ("failslab/ignore-gfp-wait", "N"), ("failslab/verbose", "0"),
        ("fail_page_alloc/ignore-gfp-wait", "N"), ("fail_page_alloc/verbose", "0"),
    ]
    nonisolated(unsafe) static var prepared: String?? = nil

    /// nil when fail-nth works here (the knobs are set, once); else why not.
    public static func prepare() -> String? {
        if let done = prepared { return done }
        let result = setUp()
        prepared = .some(result)
        return result
    }

    static func setUp() -> String? {
        let need = "needs fault injection: a kernel with CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC and FAULT_INJECTION_DEBUG_FS (ringfence vm --build --debug)"
        guard access(failNth, F_OK) == 0 else { return need + "; this kernel has no \(failNth)" }
        for (knob, value) in knobs {
            let path = debugfs + "/" + knob
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return need + "; cannot open \(path): \(Errno.name(errno))" }
            let bytes = Array(value.utf8)
            let n = write(fd, bytes, bytes.count)
            let e = errno
            close(fd)
            if n != bytes.count { return "cannot write \(value) to \(path): \(Errno.name(e))" }
        }
        return nil
    }
}
