/// The Debian mirror this machine's apt already uses, read from its sources
/// (deb822 `*.sources` files first, then one-line `*.list` files). The URI is
/// only ever read at run time and handed to apt: it is never written into the
/// project's files.
public enum AptSources {
    /// The first non-security http(s) URI. `files`: (path, contents) in the
    /// order apt reads them.
    public static func mirror(files: [(path: String, text: String)]) -> String? {
        for (path, text) in files where path.hasSuffix(".sources") {
            for stanza in KernelCatalog.stanzas(text) {
                guard let uris = stanza["URIs"] ?? stanza["uris"] else { continue }
                for uri in uris.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
                where usable(uri) {
                    return trimSlash(uri)
                }
            }
        }
        for (path, text) in files where path.hasSuffix(".list") {
            for raw in text.split(whereSeparator: \.isNewline) {
                var line = Substring(raw).trimmingSpaces()
                if let hash = line.firstIndex(of: "#") { line = String(line[..<hash]) }
                // Drop "[ options ]".
                if let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]"), open < close {
                    line = String(line[..<open]) + String(line[line.index(after: close)...])
                }
                let words = line.split(separator: " ").map(String.init)
                guard words.count >= 3, words[0] == "deb", usable(words[1]) else { continue }
                return trimSlash(words[1])
            }
        }
        return nil
    }

    static func usable(_ uri: String) -> Bool {
        (uri.hasPrefix("http://") || uri.hasPrefix("https://")) && !uri.contains("-security") && !uri.contains("security.")
    }

    static func trimSlash(_ s: String) -> String {
        var s = s
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    /// The paths apt reads, in its order.
    public static func systemFiles(listing: (String) -> [String]) -> [String] {
        ["/etc/apt/sources.list"] + listing("/etc/apt/sources.list.d").sorted().map { "/etc/apt/sources.list.d/" + $0 }
    }

    /// The private sources.list for the suites that carry kernels.
    public static func privateSourcesList(mirror: String, suites: [String]) -> String {
        suites.map { "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] \(mirror) \($0) main" }
            .joined(separator: "\n") + "\n"
    }

    /// apt options that point every state, cache and list at `dir`, so the
    /// system's apt state is never touched.
    public static func privateOptions(dir: String, architecture: String = "amd64") -> [String] {
        [("Dir::Etc::SourceList", "\(dir)/sources.list"), ("Dir::Etc::SourceParts", "/dev/null"),
         ("Dir::State::Lists", "\(dir)/lists"), ("Dir::Cache::Archives", "\(dir)/archives"),
         ("Dir::State::status", "\(dir)/status"), ("Dir::Cache::pkgcache", ""), ("Dir::Cache::srcpkgcache", ""),
         ("APT::Architecture", architecture), ("Acquire::Languages", "none"), ("APT::Sandbox::User", "root"),
         ("Acquire::http::Timeout", "30"), ("Acquire::Retries", "2")]
            .flatMap { ["-o", "\($0.0)=\($0.1)"] }
            // A foreign architecture's indexes only (not the host's as well).
            + (architecture == "amd64" ? [] : ["-o", "APT::Architectures=\(architecture)"])
    }

    /// Keeps the stanzas of the packages ringfence fetches (cloud-amd64
    /// kernels and linux-source-*) from a Packages text: the full indexes are
    /// tens of megabytes.
    public static func kernelStanzas(_ text: String, flavour: String = "cloud-amd64") -> String {
        var out = ""
        for stanza in text.split(separator: "\n\n", omittingEmptySubsequences: true) {
            guard stanza.hasPrefix("Package: linux-") || stanza.hasPrefix("\nPackage: linux-") else { continue }
            let firstLine = stanza.drop { $0 == "\n" }.prefix { $0 != "\n" }
            let name = firstLine.dropFirst("Package: ".count)
            let kernel = (name.hasPrefix("linux-binary-") || name.hasPrefix("linux-modules-") || name.hasPrefix("linux-base-"))
                && name.hasSuffix("-" + flavour)
            let source = name.hasPrefix("linux-source-")
            if kernel || source { out += stanza.drop { $0 == "\n" } + "\n\n" }
        }
        return out
    }
}
