/// Finding the kernel's splats in a console, apart from blaming a case for
/// them (syzkaller's pkg/report: a table of oops formats, and a report with
/// its title and where it starts and ends). ConsoleVerdict blames cases by
/// the kmsg markers around a splat; what a splat is, where it starts and
/// where it ends is decided here, once.
public enum KernelSplat {
    /// One kind of kernel report: the text its first line contains.
    public struct Format: Sendable {
        public let marker: String
        /// What it is, for a reader of the table.
        public let kind: String
        /// A WARN or worse inside a warn_alloc() report still counts (the
        /// allocation report's own stack dump does not).
        public let countsInAllocationReport: Bool
    }

    /// The kernel messages that fail the case they happen in.
    public static let formats: [Format] = [
        Format(marker: "WARNING:", kind: "WARN_ON/WARN (kernel/panic.c __warn)", countsInAllocationReport: true),
        Format(marker: "BUG:", kind: "BUG_ON, KASAN, sleeping in atomic context, NULL dereference", countsInAllocationReport: true),
        Format(marker: "Oops", kind: "an oops (die())", countsInAllocationReport: true),
        Format(marker: "Kernel panic", kind: "panic()", countsInAllocationReport: true),
        Format(marker: "general protection fault", kind: "#GP", countsInAllocationReport: false),
        Format(marker: "Call Trace", kind: "a stack dump on its own (dump_stack())", countsInAllocationReport: false),
    ]

    /// A splat's last line: `---[ end trace … ]---` (or `---[ end Kernel panic … ]---`).
    public static let endMarker = "---[ end trace"
    /// A splat is at most this many lines (its first, then the ones that follow).
    public static let maxLines = 40

    /// One splat in a console.
    public struct Report: Equatable, Sendable {
        /// Its first line, time stamp removed: "WARNING: CPU: 0 PID: 57 at …".
        public var title: String
        /// 0-based indexes into `ConsoleVerdict.physicalLines(log)`, inclusive.
        public var startLine: Int
        public var endLine: Int
    }

    /// The line's text when it starts a splat (a line of `formats`), else nil.
    public static func title(of text: Substring) -> String? {
        formats.contains { text.contains($0.marker) } ? String(text) : nil
    }

    /// Whether the line ends the splat it belongs to.
    public static func ends(_ text: Substring) -> Bool { text.contains(endMarker) }

    /// Whether a trouble line inside a warn_alloc() report is trouble after all.
    static func endsAllocationReport(_ text: Substring) -> Bool {
        formats.contains { $0.countsInAllocationReport && text.contains($0.marker) }
    }

    /// Every splat among the console's kernel messages: from a line of the
    /// table to its end marker or `maxLines` lines (a Call Trace, or the Oops
    /// and panic a BUG leads to, are part of the splat they follow).
    public static func find(in log: String) -> [Report] {
        var reports: [Report] = []
        var open = false
        for (i, line) in ConsoleVerdict.physicalLines(log).enumerated() {
            let (text, stamped) = ConsoleVerdict.stripTimestamp(line)
            // A console without printk time stamps: a line of the table that
            // is not the guest's (a diagnostic or a KTAP result) is the kernel's.
            let isKernel = stamped || (!text.hasPrefix("#") && title(of: text) != nil && ConsoleVerdict.parseResult(text) == nil)
            guard isKernel else { continue }
            if !open, let t = title(of: text) {
                reports.append(Report(title: t.trimmingSpaces(), startLine: i, endLine: i))
                open = true
            } else if open, let last = reports.last, last.endLine - last.startLine + 1 < maxLines {
                // The rest of the splat, its Call Trace and any BUG/Oops/panic it led to included.
                reports[reports.count - 1].endLine = i
                if ends(text) { open = false }
            } else {
                open = false
            }
        }
        return reports
    }
}
