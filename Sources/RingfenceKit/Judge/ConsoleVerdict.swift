// What a VM's serial console said: facts, no verdict.
//
// The log holds kernel messages (with or without "[ 12.345678] " time
// stamps) interleaved with the guest ringfence's KTAP output (see
// GuestInit for the protocol). The facts:
//   - the guest's KTAP document from "KTAP version 1" on, as it printed it,
//     cleaned of kernel noise ("# kernel: <first line>" where trouble began);
//     "# " diagnostics printed by the guest init before it (module loads,
//     init time) are moved right after the version line;
//   - its top-level results, each with the kernel trouble seen for it;
//   - kernel trouble (WARNING:, BUG:, Oops, Kernel panic, general protection
//     fault, Call Trace) per case by the kmsg markers (`ringfence: begin/end
//     N id`) that surround it, or, in a log without markers, on the next
//     result line; trouble before the suite, after the last result, in a
//     case that never reported;
//   - the plan, a panic, the guest's own "Bail out!", the exit marker,
//     timings, out of memory, kmemleak.
// Turning these into a report, a KTAP document and an exit code is
// VMVerdict.judge(log:plan:host:context:)'s alone (VMVerdict.passthroughKTAP
// renders a guest command's own KTAP with the trouble written in).

public struct ConsoleVerdict: Equatable {
    /// The guest's KTAP lines as the console carried them (from "KTAP version
    /// 1" on, preceded by the init's diagnostics; only those when the guest
    /// printed no KTAP), with "# kernel: " notes; never rewritten.
    public var document: [String] = []
    /// The console carried "KTAP version 1" (`document` starts with it).
    public var sawKTAP = false
    /// Top-level result lines, in the order printed, with their place in `document`.
    public var results: [ResultLine] = []
    /// Kernel trouble in a case (by the markers' number) that never printed its result.
    public var unreportedTrouble: [Int: String] = [:]
    /// Trouble outside any case's markers after the last result line.
    public var troubleAfterLastResult: String?
    /// Trouble before "KTAP version 1" that no marker attributes to a case.
    public var troubleBeforeSuite: String?
    /// The first "Kernel panic" line.
    public var panic: String?
    /// "Bail out! …" as the guest printed it.
    public var guestBailOut: String?
    /// Guest uptime when init started ("# ringfence: init at X s"), i.e. boot time.
    public var bootSeconds: Double?
    /// Time the guest CLI ran ("# ringfence: suite took X s").
    public var suiteSeconds: Double?
    /// The code printed in "# ringfence-exit: N", if any.
    public var guestExitCode: Int32?
    public var planned: Int?

    public struct ResultLine: Equatable {
        public var ok: Bool
        public var number: Int
        /// Description and directive, as printed after the number.
        public var rest: String
        /// Its index in `document`.
        public var index: Int
        /// The first kernel trouble attributed to it (markers, or the next result without them).
        public var trouble: String?
    }

    /// Kernel trouble per case (1-based plan number), attributed from the
    /// kernel's own timeline: the `ringfence: begin N id` / `ringfence: end N id`
    /// markers the guest writes to /dev/kmsg.
    public var caseTrouble: [Int: CaseTrouble] = [:]
    /// Case ids named by the kmsg markers, by plan number.
    public var markerIDs: [Int: String] = [:]
    /// Case-level result lines as the guest printed them, in plan order.
    public var caseLines: [ConsoleResult] = []
    /// Text the guest printed that is neither KTAP nor a kernel message
    /// (a usage error, a Swift runtime message).
    public var guestText: [String] = []
    /// "# ringfence: crashed in the guest: …" from the guest's PID 1.
    public var guestCrash: String?
    /// Kernel trouble before ringfence's init printed anything: the boot
    /// itself failed (an infrastructure failure, retried once by the host).
    public var troubleBeforeInit: String?
    /// The guest ran out of memory (OOM killer or panic).
    public var outOfMemory: String?
    /// "# ringfence: kmemleak: leak: …" after the suite (KmemleakScan): objects
    /// allocated through io_uring that nothing references.
    public var kmemleak: [String] = []
    /// "reboot: Power off not available: System halted instead".
    public var haltedInsteadOfPowerOff = false
    /// The guest's init printed its first line.
    public var initStarted = false

    public struct CaseTrouble: Equatable {
        /// The first trouble line (WARNING: …, BUG: …).
        public var first: String
        /// The splat that followed it (at most 40 lines).
        public var lines: [String]
        /// How it was attributed, when not plainly "while this case ran".
        public var note: String?
    }

    public struct ConsoleResult: Equatable {
        public var ok: Bool
        public var number: Int
        /// Description and directive, as printed after the number.
        public var rest: String
        /// The `# ` diagnostic lines printed directly before it.
        public var diagnostics: [String]
        public var depth: Int
        /// A top-level result's kernel trouble (as in `results`); nil in a nested document.
        public var trouble: String? = nil
    }

    /// Reads a console log into facts.
    public static func evaluate(log: String) -> ConsoleVerdict {
        var p = Parser()
        return p.run(log)
    }

    /// The console's lines, CR/LF-safe; printk and the guest's writes share
    /// the console, so a kernel message that starts in the middle of a guest
    /// line is split off as a line of its own.
    static func physicalLines(_ log: String) -> [Substring] {
        var physical: [Substring] = []
        for rawLine in log.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            var line = rawLine
            while line.last == "\r" { line = line.dropLast() }
            if let cut = embeddedKernelMessage(line) {
                physical.append(line[..<cut])
                physical.append(line[cut...])
            } else {
                physical.append(line)
            }
        }
        return physical
    }

    /// Strips a printk time stamp "[   1.234567] " (and a leading "<N>" level).
    static func stripTimestamp(_ line: Substring) -> (text: Substring, kernel: Bool) {
        var s = line
        if s.first == "<", let close = s.firstIndex(of: ">"), s.distance(from: s.startIndex, to: close) <= 3 {
            s = s[s.index(after: close)...]
        }
        guard s.first == "[", let close = s.firstIndex(of: "]") else { return (line, false) }
        let inside = s[s.index(after: s.startIndex)..<close].trimmingSpaces()
        // printk's "%5lu.%06lu": seconds, a dot, six digits of microseconds.
        let parts = inside.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].count == 6,
              parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }) else { return (line, false) }
        var rest = s[s.index(after: close)...]
        // CONFIG_PRINTK_CALLER adds "[    T1]" / "[    C0]".
        if rest.first == "[", let c2 = rest.firstIndex(of: "]"), rest.distance(from: rest.startIndex, to: c2) <= 12 {
            let id = rest[rest.index(after: rest.startIndex)..<c2].trimmingSpaces()
            if let f = id.first, f == "T" || f == "C", id.dropFirst().allSatisfy(\.isNumber) {
                rest = rest[rest.index(after: c2)...]
            }
        }
        if rest.first == " " { rest = rest.dropFirst() }
        return (rest, true)
    }

    /// Where a "[ 12.345678] " time-stamped kernel message starts inside a
    /// line (not at its start), if it does.
    static func embeddedKernelMessage(_ line: Substring) -> Substring.Index? {
        var i = line.index(after: line.startIndex, clamped: line.endIndex)
        while let open = line[i...].firstIndex(of: "[") {
            if open != line.startIndex, stripTimestamp(line[open...]).kernel { return open }
            i = line.index(after: open)
        }
        return nil
    }

    /// The run-level problem for kmemleak's io_uring leaks (nil for none), in
    /// the passthrough KTAP and in the judged report alike.
    static func kmemleakProblem(_ leaks: [String]) -> String? {
        leaks.first.map { "kmemleak: \(leaks.count) unreferenced object(s) allocated through io_uring after the suite; first: \($0)" }
    }

    /// warn_alloc()'s first line (mm/page_alloc.c, mm/vmalloc.c).
    static func isAllocationFailureReport(_ text: Substring) -> Bool {
        text.contains("vmalloc error: size") || text.contains("page allocation failure: order:")
    }

    static func isTrouble(_ text: Substring) -> Bool { KernelSplat.title(of: text) != nil }

    /// Parses "ok N desc" / "not ok N desc" (top level only).
    static func parseResult(_ line: Substring) -> (ok: Bool, number: Int, rest: Substring)? {
        var s = line
        var ok = true
        if s.hasPrefix("not ok ") { ok = false; s = s.dropFirst(7) }
        else if s.hasPrefix("ok ") { s = s.dropFirst(3) }
        else { return nil }
        let digits = s.prefix { $0.isNumber }
        guard let n = Int(digits) else { return nil }
        return (ok, n, s.dropFirst(digits.count))
    }

    static func parsePlan(_ line: Substring) -> Int? {
        guard let dots = line.firstRange(of: "..") else { return nil }
        let a = line[..<dots.lowerBound], b = line[dots.upperBound...]
        guard a == "1" || a == "0" || Int(a) != nil, let m = Int(b), !b.isEmpty, b.allSatisfy(\.isNumber), a.allSatisfy(\.isNumber) else { return nil }
        return m
    }

    struct Result {
        var ok: Bool
        var number: Int
        var rest: Substring
        var lineIndex: Int
        var trouble: String?
    }

    struct Parser {
        var out: [String] = []
        var preamble: [String] = []
        var sawVersion = false
        var results: [Result] = []
        var resultIndexByNumber: [Int: Int] = [:]
        var planned: Int?
        /// Trouble seen outside any case's markers, waiting for the next result.
        var pendingTrouble: String?
        /// Inside a warn_alloc() report, until its stack dump's "</TASK>".
        var inAllocationReport = false
        /// "# ringfence: kmemleak: leak: …" lines from the guest after the suite.
        var kmemleak: [String] = []
        var strayTrouble: [String] = []
        var panic: String?
        var exitCode: Int32?
        var boot: Double?
        var suite: Double?
        var guestBailOut: String?

        var markersSeen = false
        var active: [Int: String] = [:]
        var markerIDs: [Int: String] = [:]
        var lastEnded: Int?
        var caseTrouble: [Int: CaseTrouble] = [:]
        /// Cases whose splat is still being collected.
        var splatTargets: [Int] = []
        var splatLines = 0
        var initStarted = false
        var troubleBeforeInit: String?
        var outOfMemory: String?
        var halted = false
        var guestText: [String] = []
        var guestCrash: String?
        var pendingDiagnostics: [String] = []
        var caseLines: [ConsoleResult] = []
        var nested = false

        /// A kernel message: markers, then trouble and its splat.
        mutating func kernelLine(_ t: String) -> Bool {
            if let rest = t.value(after: "ringfence: begin") {
                let parts = rest.split(separator: " ", maxSplits: 1)
                if let n = parts.first.flatMap({ Int($0) }) {
                    markersSeen = true
                    active[n] = parts.count > 1 ? String(parts[1]) : ""
                    markerIDs[n] = active[n]
                    return true
                }
            }
            if let rest = t.value(after: "ringfence: end") {
                if let n = rest.split(separator: " ").first.flatMap({ Int($0) }) {
                    markersSeen = true
                    active[n] = nil
                    lastEnded = n
                    return true
                }
            }
            if t.contains("Power off not available") || t.contains("System halted") { halted = true }
            if outOfMemory == nil, t.contains("Out of memory") || t.contains("oom-kill") || t.contains("deadlocked on memory")
                || t.contains("Initramfs unpacking failed") {
                outOfMemory = t
            }
            if !splatTargets.isEmpty && !ConsoleVerdict.isTrouble(Substring(t)) {
                for n in splatTargets { caseTrouble[n]?.lines.append(t) }
                splatLines += 1
                if KernelSplat.ends(Substring(t)) || splatLines >= KernelSplat.maxLines { splatTargets = [] }
            }
            return false
        }

        mutating func trouble(_ text: String) {
            if !initStarted && troubleBeforeInit == nil { troubleBeforeInit = text }
            if markersSeen {
                var targets = active.keys.sorted()
                var note: String?
                if targets.count > 1 {
                    note = "kernel trouble while cases " + targets.map(String.init).joined(separator: ", ") + " ran at once"
                } else if targets.isEmpty, let last = lastEnded {
                    targets = [last]
                    note = "kernel trouble after case \(last) ended (deferred work such as io_ring_exit_work)"
                }
                if !targets.isEmpty {
                    splatTargets = []
                    splatLines = 0
                    for n in targets {
                        if caseTrouble[n] == nil {
                            caseTrouble[n] = CaseTrouble(first: text, lines: [text], note: note)
                        } else if caseTrouble[n]!.lines.count < KernelSplat.maxLines {
                            caseTrouble[n]!.lines.append(text)   // more of the same splat, or a second one
                        }
                        splatTargets.append(n)
                        if let idx = resultIndexByNumber[n], results[idx].trouble == nil { results[idx].trouble = text }
                        else if resultIndexByNumber[n] == nil { pendingByCase[n] = pendingByCase[n] ?? text }
                    }
                    return
                }
            }
            if sawVersion {
                if pendingTrouble == nil { pendingTrouble = text }
            } else {
                strayTrouble.append(text)
            }
        }
        var pendingByCase: [Int: String] = [:]

        mutating func run(_ log: String) -> ConsoleVerdict {
            for line in ConsoleVerdict.physicalLines(log) {
                let (text, isKernel) = ConsoleVerdict.stripTimestamp(line)
                if !isKernel, !sawVersion, text.contains("KTAP version 1") {
                    sawVersion = true
                    out.append("KTAP version 1")
                    out.append(contentsOf: preamble)
                    continue
                }
                // A marker without a time stamp (a kernel without PRINTK_TIME
                // booted without printk.time=1) still starts its own line.
                let bareMarker = !isKernel && (text.hasPrefix("ringfence: begin ") || text.hasPrefix("ringfence: end "))
                if isKernel || bareMarker || (!text.hasPrefix("#") && KernelSplat.title(of: text) != nil && ConsoleVerdict.parseResult(text) == nil) {
                    kernelMessage(text)
                } else if text.hasPrefix("# ") || text == "#" {
                    handleDiagnostic(text)
                } else if !sawVersion {
                    let plain = String(text).trimmingSpaces()
                    if initStarted && !plain.isEmpty { guestText.append(plain) }
                } else {
                    ktapLine(text)
                }
            }
            return finish()
        }

        /// A kernel message: a marker, a line of a splat, or the start of one.
        mutating func kernelMessage(_ text: Substring) {
            if kernelLine(String(text).trimmingSpaces()) { return }
            // An allocation the kernel reports as failed (warn_alloc: "vmalloc
            // error: …", "page allocation failure: …", with a stack dump and
            // Mem-Info) is the kernel handling a failure, e.g. one injected by
            // an inject: case; its stack dump is not trouble. A WARN inside it
            // still is (and taints).
            if ConsoleVerdict.isAllocationFailureReport(text) { inAllocationReport = true; return }
            if inAllocationReport {
                if text.contains("</TASK>") { inAllocationReport = false }
                if !KernelSplat.endsAllocationReport(text) { return }
                inAllocationReport = false
            }
            if KernelSplat.title(of: text) != nil {
                let t = String(text).trimmingSpaces()
                if t.contains("Kernel panic") && panic == nil { panic = t }
                trouble(t)
                if sawVersion { out.append("# kernel: " + t) }
                else { preamble.append("# kernel: " + t) }
            }
        }

        /// A guest line after "KTAP version 1": plan, result, Bail out!, a
        /// subtest line, or the guest's own text.
        mutating func ktapLine(_ text: Substring) {
            if let m = ConsoleVerdict.parsePlan(text) {
                if planned == nil { planned = m; out.append(String(text)) }
            } else if let r = ConsoleVerdict.parseResult(text) {
                if !nested {
                    caseLines.append(ConsoleResult(ok: r.ok, number: r.number, rest: String(r.rest), diagnostics: pendingDiagnostics, depth: 0))
                }
                pendingDiagnostics = []
                var res = Result(ok: r.ok, number: r.number, rest: r.rest, lineIndex: out.count, trouble: nil)
                if let t = pendingByCase.removeValue(forKey: r.number) { res.trouble = t }
                if let t = pendingTrouble {
                    res.trouble = res.trouble ?? t
                    pendingTrouble = nil
                }
                resultIndexByNumber[r.number] = results.count
                results.append(res)
                out.append(String(text))
            } else if text.hasPrefix("Bail out!") {
                guestBailOut = String(text)
                out.append(String(text))
            } else if text.hasPrefix(" ") && !text.trimmingSpaces().isEmpty {
                subtestLine(text)
            } else {
                // Anything else is not KTAP: the guest's own messages (a usage
                // error) or stray program output.
                let plain = String(text).trimmingSpaces()
                if !plain.isEmpty && !plain.hasPrefix("KTAP version") { guestText.append(plain) }
            }
        }

        /// Indented (subtest) KTAP lines are kept as they are; in a nested
        /// document the cases are the depth-1 results.
        mutating func subtestLine(_ text: Substring) {
            out.append(String(text))
            let inner = Substring(text.trimmingSpaces())
            let depth = (text.prefix { $0 == " " }.count) / 4
            if depth == 1, let r = ConsoleVerdict.parseResult(inner) {
                if !nested { nested = true; caseLines = [] }
                caseLines.append(ConsoleResult(ok: r.ok, number: caseLines.count + 1, rest: String(r.rest),
                                               diagnostics: pendingDiagnostics, depth: 1))
                pendingDiagnostics = []
            } else if depth == 1, inner.hasPrefix("# ") {
                pendingDiagnostics.append(String(inner.dropFirst(2)))
            }
        }

        mutating func handleDiagnostic(_ text: Substring) {
            let line = String(text)
            if let v = line.value(after: "# ringfence-exit:") {
                exitCode = Int32(v)
            } else if let v = line.value(after: "# ringfence: init at") {
                initStarted = true
                boot = Double(v.split(separator: " ").first ?? "")
            } else if let v = line.value(after: "# ringfence: crashed in the guest:") {
                guestCrash = v
            } else if line.hasPrefix(KmemleakScan.prefix + "leak: ") {
                kmemleak.append(String(line.dropFirst(KmemleakScan.prefix.count + "leak: ".count)))
            } else if let v = line.value(after: "# ringfence: suite took") {
                suite = Double(v.split(separator: " ").first ?? "")
            } else if GuestResults.isTransportLine(line) {
                return   // a file in transit (GuestResults), not part of the KTAP document
            } else if line.hasPrefix("# module ") || line == BareInit.marker {
                initStarted = true
            } else if sawVersion {
                pendingDiagnostics.append(String(line.dropFirst(2)))
            }
            if sawVersion { out.append(line) } else { preamble.append(line) }
        }

        mutating func finish() -> ConsoleVerdict {
            var v = ConsoleVerdict(bootSeconds: boot, suiteSeconds: suite, guestExitCode: exitCode, planned: planned)
            v.document = sawVersion ? out : preamble
            v.sawKTAP = sawVersion
            v.results = results.map { ResultLine(ok: $0.ok, number: $0.number, rest: String($0.rest), index: $0.lineIndex, trouble: $0.trouble) }
            v.unreportedTrouble = pendingByCase
            v.troubleAfterLastResult = pendingTrouble
            v.troubleBeforeSuite = strayTrouble.first
            v.panic = panic
            v.guestBailOut = guestBailOut
            let troubleByNumber = Dictionary(results.map { ($0.number, $0.trouble) }, uniquingKeysWith: { a, _ in a })
            v.caseLines = nested ? caseLines : caseLines.map { var l = $0; l.trouble = troubleByNumber[l.number] ?? nil; return l }
            v.caseTrouble = caseTrouble
            v.markerIDs = markerIDs
            v.guestText = guestText
            v.guestCrash = guestCrash
            v.troubleBeforeInit = troubleBeforeInit
            v.outOfMemory = outOfMemory
            v.kmemleak = kmemleak
            v.haltedInsteadOfPowerOff = halted
            v.initStarted = initStarted
            return v
        }
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    /// The trimmed text after `prefix`, when the string starts with it.
    func value(after prefix: String) -> String? {
        guard hasPrefix(prefix) else { return nil }
        return String(dropFirst(prefix.count)).trimmingSpaces()
    }
}

extension Substring {
    func index(after i: Index, clamped end: Index) -> Index {
        i < end ? index(after: i) : end
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
