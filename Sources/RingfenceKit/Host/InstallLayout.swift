import Foundation

/// Where an installed ringfence keeps its files, relative to its own
/// executable: `<prefix>/bin/ringfence` has `<prefix>/lib/ringfence/ringfence-guest`
/// and `<prefix>/share/ringfence/{cases,ci,VERSION}` (ci/package.sh, docs/packaging.md).
/// A build tree (.build-release/release/ringfence) has none of these and keeps
/// its old rules: the guest beside the executable, cases/ and ci/ from the checkout.
public enum InstallLayout {
    /// The running executable, symlinks resolved.
    public static var executable: String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    }

    /// `<prefix>` when the executable is `<prefix>/bin/<name>`, else nil.
    public static func prefix(ofExecutable exe: String) -> String? {
        let bin = (exe as NSString).deletingLastPathComponent
        guard (bin as NSString).lastPathComponent == "bin" else { return nil }
        let p = (bin as NSString).deletingLastPathComponent
        return p.isEmpty ? "/" : p
    }

    /// `<prefix>/share/ringfence` when it exists, else nil (a build tree).
    public static var shareDirectory: String? {
        guard let exe = executable, let p = prefix(ofExecutable: exe) else { return nil }
        let d = (p == "/" ? "" : p) + "/share/ringfence"
        return FileSystem.isDirectory(d) ? d : nil
    }

    /// The guest binary: `<prefix>/lib/ringfence/ringfence-guest` for an
    /// installed executable, else `ringfence-guest` beside the executable.
    public static func guestCandidates(forExecutable exe: String) -> [String] {
        var c: [String] = []
        if let p = prefix(ofExecutable: exe) { c.append((p == "/" ? "" : p) + "/lib/ringfence/ringfence-guest") }
        c.append((exe as NSString).deletingLastPathComponent + "/ringfence-guest")
        return c
    }

    /// Default case directory: ./cases when there is one, else the installed
    /// `<prefix>/share/ringfence/cases`, else "cases" (reported as missing).
    public static var defaultCases: String {
        if FileSystem.isDirectory("cases") { return "cases" }
        if let s = shareDirectory, FileSystem.isDirectory(s + "/cases") { return s + "/cases" }
        return "cases"
    }

    /// `ringfence --version`: the package's VERSION file (written by
    /// ci/package.sh: Debian version and commit) when installed, else the
    /// compiled-in version of a source build.
    public static var versionText: String {
        if let s = shareDirectory, let d = FileManager.default.contents(atPath: s + "/VERSION") {
            let t = String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !t.isEmpty { return t }
        }
        return RingfenceVersion.string + " (source build)"
    }
}
