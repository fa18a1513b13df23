import Foundation

/// `ringfence vm --build [--tree DIR]`: a kernel built for the guest from a
/// tree (default: Debian's newest linux-source-7.x), with ci/ringfence.config
/// merged into tinyconfig or the developer's own .config, out of tree under
/// the cache (`O=` keyed by tree and configuration, so reruns are incremental).
public struct KernelBuilder {
    public var tree: String
    /// ci/ringfence.config, then ci/ringfence-hunt.config with --hunt,
    /// ci/ringfence-debug.config with --debug, ci/ringfence-coverage.config with --coverage.
    public var fragments: [String]
    public var baseConfig: String?
    public var cacheRoot: String
    public var jobs: Int
    /// The target: a cross build (ARCH=, CROSS_COMPILE=) for arm64 and s390x.
    public var arch: GuestArch = .x86_64
    public var say: (String) -> Void

    public init(tree: String, fragments: [String], cacheRoot: String, jobs: Int, say: @escaping (String) -> Void) {
        self.tree = tree; self.fragments = fragments; self.cacheRoot = cacheRoot; self.jobs = jobs; self.say = say
    }

    /// Configures (once per key) and builds; returns the plan (bzImage and .config paths).
    public func build() throws -> KernelBuild.Plan {
        func read(_ p: String) throws -> String {
            guard let t = try? String(contentsOfFile: p, encoding: .utf8) else { throw HostError("cannot read \(p)") }
            return t
        }
        let frags = try fragments.map { path in
            do { return (path: path, entries: try KernelConfig.parseFragment(try read(path))) } catch let e as KernelConfig.FragmentError {
                throw HostError("\(path):\(e.line): \(e.message); fix the fragment (docs/kernel-tree.md lists what a fragment may hold)")
            }
        }
        let base = try baseConfig.map { (path: $0, contents: try read($0)) }
        let plan = KernelBuild.plan(tree: tree, fragments: frags, baseConfig: base, cacheRoot: cacheRoot, jobs: jobs, arch: arch)
        try FileSystem.makeDirectory(plan.outputDirectory)
        let log = plan.outputDirectory + "/ringfence-build.log"
        if !FileManager.default.fileExists(atPath: plan.configPath) {
            say("configuring \(tree) in \(plan.outputDirectory)")
            for c in plan.configure { try run(c, log: log, phase: "configuring the kernel") }
        }
        // Checked on every build, not only after configuring: a .config
        // edited in the cache (or left by an older ringfence) is caught too.
        let config = KernelConfig.parse(try read(plan.configPath))
        var unmet: [String] = []
        for f in frags {
            let wanted = f.entries.filter { !arch.row.inapplicableOptions.contains($0.option) }
            unmet += KernelConfig.unmet(fragment: wanted, config: config).map { "\(f.path): \($0)" }
        }
        if !unmet.isEmpty {
            unlink(plan.configPath)   // so the next run configures again
            throw HostError("the merged config \(plan.configPath) does not carry every fragment option (Kconfig dropped them; see \(log)):\n  "
                            + unmet.joined(separator: "\n  "))
        }
        say("building \(plan.kernelPath) (make -j\(jobs); log \(log))")
        for c in plan.build { try run(c, log: log, phase: "building the kernel") }
        return plan
    }

    func run(_ c: KernelBuild.Command, log: String, phase: String) throws {
        let argv = ["sh", "-c", "cd \"$0\" && exec \"$@\"", c.directory] + c.argv
        let p = try HostProcess(argv, stdout: log, stderr: log)
        guard let code = try p.wait(phase: phase, timeout: 7200) else { throw HostError("\(phase) took more than 2 hours; see \(log)") }
        if code != 0 {
            let tail = HostProcess.logTail(log, lines: 15)
            throw HostError("\(c) failed (exit \(code)) while \(phase); the end of \(log):\n" + tail)
        }
    }
}
