// Kernel .config checks and build commands for a developer's own kernel tree.
//
// The VM runner calls `KernelConfig.missing(configText:)` before it boots a
// kernel whose .config it knows, and stops (exit 2) naming each missing
// option instead of waiting for a guest that cannot boot, print or power off.
// `KernelBuild.plan(...)` spells out the make / merge_config.sh invocations
// that build ci/ringfence.config on top of tinyconfig (or on top of the
// developer's own .config) out of tree, in an O= directory keyed by the tree
// and the configuration, so that a rerun is an incremental build.
// Nothing here runs a process or touches the file system.

import Foundation

public enum KernelConfig {
    /// One option the guest cannot do without.
    public struct Requirement: Equatable, Sendable, CustomStringConvertible {
        /// With the CONFIG_ prefix, as in .config: "CONFIG_ACPI".
        public let option: String
        /// Why the guest needs it.
        public let reason: String
        public init(_ option: String, _ reason: String) {
            self.option = option
            self.reason = reason
        }
        public var description: String { "\(option)=y: \(reason)" }
    }

    /// What booting ringfence as /init, reporting over the serial console and
    /// powering off needs, plus the feature under test. All must be =y
    /// (a module cannot help before /init runs, and the feature is bool).
    public static let guestRequirements: [Requirement] = [
        Requirement("CONFIG_64BIT", "/init is an x86_64 ELF binary"),
        Requirement("CONFIG_BINFMT_ELF", "the kernel must be able to execute /init (an ELF binary)"),
        Requirement("CONFIG_BLK_DEV_INITRD", "ringfence and the cases arrive in an initramfs"),
        Requirement("CONFIG_TTY", "the serial console is a tty"),
        Requirement("CONFIG_SERIAL_8250", "QEMU's serial port is an 8250 UART (console=ttyS0)"),
        Requirement("CONFIG_SERIAL_8250_CONSOLE", "kernel messages and the KTAP results go to the serial console"),
        Requirement("CONFIG_PRINTK", "without printk the console shows no kernel messages (oopses, WARNs)"),
        Requirement("CONFIG_PROC_FS", "the guest init mounts /proc (the Swift runtime reads /proc/self/exe)"),
        Requirement("CONFIG_SYSFS", "the guest init mounts /sys"),
        Requirement("CONFIG_DEVTMPFS", "/dev is a devtmpfs (the console device, /dev/null)"),
        Requirement("CONFIG_TMPFS", "results files are written to a tmpfs on /tmp"),
        Requirement("CONFIG_FUTEX", "the Swift runtime and glibc threads need futexes"),
        Requirement("CONFIG_MULTIUSER", "cases drop privileges (setuid/setgid, capabilities)"),
        Requirement("CONFIG_ACPI", "power-off at the end of the run; without ACPI the guest halts and the run ends in a timeout"),
        Requirement("CONFIG_IO_URING", "the feature under test is part of io_uring"),
        Requirement("CONFIG_NET", "IO_URING_BPF depends on NET, and the SOCKET/CONNECT cases need sockets"),
        Requirement("CONFIG_BPF", "filters are classic BPF programs (selected by NET)"),
        Requirement("CONFIG_IO_URING_BPF", "IORING_REGISTER_BPF_FILTER itself (def_bool y on BPF && NET)"),
    ]

    /// Options without which some cases fail, though the guest still boots
    /// and reports: worth a warning, not a refusal.
    public static let caseRequirements: [Requirement] = [
        Requirement("CONFIG_UNIX", "SOCKET and CONNECT cases use AF_UNIX"),
        Requirement("CONFIG_INET", "SOCKET and CONNECT cases use AF_INET"),
        Requirement("CONFIG_IPV6", "CONNECT cases use AF_INET6 ([::1], [fe80::1])"),
        Requirement("CONFIG_EPOLL", "liburing and the Swift runtime may use epoll"),
        Requirement("CONFIG_EVENTFD", "eventfd-based cases and liburing helpers"),
        Requirement("CONFIG_SHMEM", "tmpfs backed by shmem (ramfs otherwise)"),
    ]

    /// A parsed .config: "CONFIG_X" → its value ("y", "m", a number, or a
    /// string with its quotes); "# CONFIG_X is not set" → "n".
    /// Later lines win, as in Kconfig.
    public static func parse(_ text: String) -> [String: String] {
        var options: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.kconfigTrimmed()
            if line.hasPrefix("# CONFIG_") && line.hasSuffix(" is not set") {
                let name = line.dropFirst(2).dropLast(" is not set".count)
                if !name.isEmpty && !name.contains(" ") { options[String(name)] = "n" }
                continue
            }
            guard line.hasPrefix("CONFIG_"), let eq = line.firstIndex(of: "=") else { continue }
            let name = line[..<eq]
            guard !name.contains(" ") else { continue }
            options[String(name)] = String(line[line.index(after: eq)...])
        }
        return options
    }

    /// What a C kselftest /init on `arch` needs (`ringfence vm --arch`): the
    /// architecture-neutral part of `guestRequirements` (no 8250 UART, no
    /// ACPI, no Swift runtime) and the architecture's console; x86_64 is
    /// `guestRequirements` itself.
    public static func guestRequirements(for arch: GuestArch) -> [Requirement] {
        let neutral = ["CONFIG_64BIT", "CONFIG_BINFMT_ELF", "CONFIG_BLK_DEV_INITRD", "CONFIG_TTY", "CONFIG_PRINTK", "CONFIG_PROC_FS",
                       "CONFIG_DEVTMPFS", "CONFIG_MULTIUSER", "CONFIG_IO_URING", "CONFIG_NET", "CONFIG_BPF", "CONFIG_IO_URING_BPF"]
        let common = guestRequirements.filter { neutral.contains($0.option) }.map {
            $0.option == "CONFIG_64BIT" ? Requirement("CONFIG_64BIT", "/init is a 64-bit \(arch.rawValue) ELF binary") : $0
        }
        switch arch {
        case .x86_64: return guestRequirements
        case .arm64:
            return common + [Requirement("CONFIG_SERIAL_AMBA_PL011", "QEMU virt's serial port is a PL011 UART (console=ttyAMA0)"),
                             Requirement("CONFIG_SERIAL_AMBA_PL011_CONSOLE", "kernel messages and the KTAP results go to the PL011 console")]
        case .s390x:
            return common + [Requirement("CONFIG_SCLP_VT220_TTY", "QEMU's -device sclpconsole is the SCLP VT220 console (console=ttysclp0)"),
                             Requirement("CONFIG_SCLP_VT220_CONSOLE", "kernel messages and the KTAP results go to the SCLP console (ci/ringfence-s390x.config)")]
        }
    }

    /// The requirements `config` does not meet (value other than "y",
    /// including absent), in the list's order.
    public static func missing(in config: [String: String], requirements: [Requirement] = guestRequirements) -> [Requirement] {
        requirements.filter { config[$0.option] != "y" }
    }

    /// `missing(in: parse(configText))`.
    public static func missing(configText: String, requirements: [Requirement] = guestRequirements) -> [Requirement] {
        missing(in: parse(configText), requirements: requirements)
    }

    /// One setting of a config fragment.
    public struct FragmentEntry: Equatable, Sendable {
        public let option: String
        /// "y", "m", "n" (from "# CONFIG_X is not set"), a number or a quoted string.
        public let value: String
        /// The comment block above the option's group ("" when none).
        public let comment: String
        /// 1-based line number in the fragment.
        public let line: Int
    }

    public struct FragmentError: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Parses a config fragment (kselftest style: `CONFIG_X=y` lines,
    /// `# CONFIG_X is not set`, comments, blank lines). Anything else is an
    /// error, as is an option set twice.
    public static func parseFragment(_ text: String) throws -> [FragmentEntry] {
        var entries: [FragmentEntry] = []
        var seen: [String: Int] = [:]
        var comment: [String] = []
        var commentDone = false
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let n = i + 1
            let line = raw.kconfigTrimmed()
            var option: String
            var value: String
            if line.isEmpty {
                // A blank line ends a group: the next comment starts a new block.
                commentDone = true
                continue
            } else if line.hasPrefix("# CONFIG_") && line.hasSuffix(" is not set") {
                option = String(line.dropFirst(2).dropLast(" is not set".count))
                value = "n"
            } else if line.hasPrefix("#") {
                if commentDone { comment = []; commentDone = false }
                comment.append(line.dropFirst().kconfigTrimmed())
                continue
            } else if line.hasPrefix("CONFIG_"), let eq = line.firstIndex(of: "=") {
                option = String(line[..<eq])
                value = String(line[line.index(after: eq)...])
            } else {
                throw FragmentError(line: n, message: "not an option, comment or blank line: \(line)")
            }
            guard option.count > "CONFIG_".count,
                  option.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                throw FragmentError(line: n, message: "bad option name '\(option)'")
            }
            guard !value.isEmpty else { throw FragmentError(line: n, message: "\(option) has no value") }
            if let first = seen[option] {
                throw FragmentError(line: n, message: "\(option) is already set on line \(first)")
            }
            seen[option] = n
            commentDone = true
            entries.append(FragmentEntry(option: option, value: value, comment: comment.joined(separator: " "), line: n))
        }
        return entries
    }

    /// A fragment setting the final .config does not carry: Kconfig dropped
    /// it (unmet dependency, no such option in this tree) or something else
    /// overrode it.
    public struct Unmet: Equatable, Sendable, CustomStringConvertible {
        public let option: String
        public let wanted: String
        /// nil: not in .config at all (no such option, or its menu is off).
        public let got: String?
        public var description: String {
            "\(option): wanted \(wanted), " + (got.map { "got \($0)" } ?? "not in .config (unknown option or unmet dependency)")
        }
    }

    /// The fragment entries whose value the final .config does not have
    /// ("n" is met by "is not set" or by absence).
    public static func unmet(fragment: [FragmentEntry], config: [String: String]) -> [Unmet] {
        fragment.compactMap { e in
            let got = config[e.option]
            if got == e.value || (e.value == "n" && got == nil) { return nil }
            return Unmet(option: e.option, wanted: e.value, got: got)
        }
    }
}

extension StringProtocol {
    fileprivate func kconfigTrimmed() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s = s.dropLast() }
        return String(s)
    }
}
