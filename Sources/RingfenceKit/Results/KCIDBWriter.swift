import Foundation

/// `ringfence kcidb RESULTS.json`: KernelCI's KCIDB I/O JSON for a finished run,
/// so a lab can submit ringfence runs with `kcidb-submit`. One checkout (the
/// kernel version), one build (the kernel release and its .config digest) and a
/// test per case. Schema v5.3 by default (the latest that kcidb-io 141 ships):
/// a known bug (xfail) is a FAIL test linked to a KCIDB issue (one per cited
/// fix) by an incident, which is how v5 expresses what v4 called `waived`.
/// With schema 4 (v4.5) the same test carries `waived: true` instead.
/// Validated in CI by ci/kcidb-validate.py with kcidb-io's own validator.
public struct KCIDBWriter {
    public enum Schema: Int, Sendable, CaseIterable {
        case v4 = 4, v5 = 5
        var version: (major: Int, minor: Int) { self == .v5 ? (5, 3) : (4, 5) }
    }

    public var origin: String
    public var schema: Schema
    /// Overrides for the generated checkout / build ids (without the origin prefix).
    public var checkoutID: String?
    public var buildID: String?

    public init(origin: String = "ringfence", schema: Schema = .v5, checkoutID: String? = nil, buildID: String? = nil) {
        self.origin = origin; self.schema = schema; self.checkoutID = checkoutID; self.buildID = buildID
    }

    /// An origin is what KCIDB allows: ^[a-z0-9_]+$.
    public static func isValidOrigin(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// KCIDB status for a case status. xfail is a FAIL (waived / linked to its
    /// known-bug issue), xpass a PASS, a crash of the case process an ERROR.
    public static func status(_ s: CaseStatus) -> String {
        switch s {
        case .pass, .xpass: return "PASS"
        case .fail, .timeout, .xfail: return "FAIL"
        case .crash: return "ERROR"
        case .skip: return "SKIP"
        }
    }

    /// A test path component: KCIDB paths are dot-separated [a-zA-Z0-9_-]+.
    static func pathComponent(_ s: String) -> String {
        let mapped = String(s.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") ? $0 : "_" })
        return mapped.isEmpty ? "_" : mapped
    }

    /// "context/socket:socket.type-has-…" → "ringfence.context.socket.socket_type-has-…".
    public static func testPath(caseID: String) -> String {
        let parts = caseID.split(separator: ":", maxSplits: 1).map(String.init)
        let dirs = (parts.first ?? caseID).split(separator: "/").map { pathComponent(String($0)) }
        let slug = parts.count > 1 ? [pathComponent(parts[1])] : []
        return (["ringfence"] + dirs + slug).joined(separator: ".")
    }

    /// FNV-1a 64 in hex: a short stable digest for ids.
    static func fnv1a(_ s: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }

    /// The KCIDB document as a JSON object tree.
    public func object(_ report: RunReport) -> [String: Any] {
        let k = report.kernel
        // The release string alone does not tell 7.3~rc7 from 7.3 (both "7.3-cloud-amd64"): add the uname -v digest.
        let source = "linux-\(k.release)-\(Self.fnv1a(k.version))"
        let checkout = "\(origin):" + (checkoutID ?? source)
        let build = "\(origin):" + (buildID ?? source + (report.configDigest.map { "-config-\($0.prefix(16))" } ?? ""))
        let run = "\(origin):\(k.release):\(report.startedAt)"
        let env = environment(report)
        var tests: [[String: Any]] = []
        var issues: [String: [String: Any]] = [:]
        var incidents: [[String: Any]] = []
        for c in report.cases {
            let testID = "\(run):\(c.id)"
            tests.append(test(c, id: testID, build: build, startedAt: report.startedAt, environment: env))
            if c.status == .xfail && schema != .v4 {
                let (issue, incident) = knownBug(c, testID: testID)
                issues[issue["id"] as! String] = issue
                incidents.append(incident)
            }
        }
        var doc: [String: Any] = [
            "version": ["major": schema.version.major, "minor": schema.version.minor],
            "checkouts": [checkoutObject(report, id: checkout)],
            "builds": [buildObject(report, id: build, checkout: checkout)],
            "tests": tests,
        ]
        if !issues.isEmpty {
            doc["issues"] = issues.keys.sorted().map { issues[$0]! }
            doc["incidents"] = incidents
        }
        return doc
    }

    func checkoutObject(_ report: RunReport, id: String) -> [String: Any] {
        let k = report.kernel
        return [
            "id": id, "origin": origin, "valid": true,
            "comment": "Linux \(k.release) \(k.version)",
            "misc": ["kernel_release": k.release, "kernel_version": k.version],
            "start_time": report.startedAt,
        ]
    }

    func buildObject(_ report: RunReport, id: String, checkout: String) -> [String: Any] {
        let k = report.kernel, digest = report.configDigest
        var build: [String: Any] = [
            "id": id, "origin": origin, "checkout_id": checkout,
            "comment": "Linux \(k.release)" + (digest.map { ", .config sha256 \($0)" } ?? ""),
            "misc": ["kernel_release": k.release, "config_sha256": (digest ?? NSNull()) as Any] as [String: Any],
        ]
        // KCIDB's build architecture: the guest's (`ringfence vm --arch`), when the host recorded it.
        if let a = report.host?.arch { build["architecture"] = a }
        // The kernel was built (ringfence tests a kernel someone built): v5 says PASS, v4.5 valid.
        if schema == .v5 { build["status"] = "PASS" } else { build["valid"] = true }
        return build
    }

    func environment(_ report: RunReport) -> [String: Any] {
        var env: [String: Any] = ["comment": "\(report.tool) on Linux \(report.kernel.release)" + (report.accelerator.map { " (QEMU \($0))" } ?? "")]
        var misc: [String: Any] = ["accelerator": (report.accelerator ?? NSNull()) as Any, "tool": report.tool]
        if let a = report.host?.arch { misc["arch"] = a }
        if let e = report.host?.executor { misc["executor"] = e }
        env["misc"] = misc
        return env
    }

    func test(_ c: CaseResult, id: String, build: String, startedAt: String, environment: [String: Any]) -> [String: Any] {
        var t: [String: Any] = [
            "id": id, "origin": origin, "build_id": build,
            "path": Self.testPath(caseID: c.id),
            "status": Self.status(c.status),
            "comment": KTAPWriter.testName(c),
            "start_time": startedAt,
            "duration": c.durationMs / 1000,
            "environment": environment,
        ]
        var misc: [String: Any] = ["ringfence_status": c.status.rawValue, "case_id": c.id, "file": "\(c.file):\(c.line)"]
        if let reason = c.reason { misc["reason"] = reason }
        if let taint = c.taint { misc["taint"] = taint }
        t["misc"] = misc
        let excerpt = ([c.reason].compactMap { $0 } + c.diagnostics).joined(separator: "\n")
        if !excerpt.isEmpty { t["log_excerpt"] = String(excerpt.prefix(16384)) }
        // v4 has no issues: a known bug is a waived failure there.
        if c.status == .xfail && schema == .v4 { t["waived"] = true }
        return t
    }

    /// A known bug (xfail) in v5: its issue (one per fix) and this test's incident.
    func knownBug(_ c: CaseResult, testID: String) -> (issue: [String: Any], incident: [String: Any]) {
        let fix = c.reason ?? "known bug"
        let issueID = "\(origin):known-bug:\(fix)"
        let issue: [String: Any] = [
            "id": issueID, "version": 1, "origin": origin,
            "comment": "known kernel bug, fixed by: \(fix)",
            "culprit": ["code": true, "tool": false, "harness": false],
            "misc": ["fix": fix],
        ]
        let incident: [String: Any] = [
            "id": "\(testID):known-bug", "origin": origin, "issue_id": issueID, "issue_version": 1,
            "test_id": testID, "present": true,
            "comment": "expected failure (cases/known-bugs.yaml)",
        ]
        return (issue, incident)
    }

    public func json(_ report: RunReport, pretty: Bool = true) throws -> String {
        var opts: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { opts.insert(.prettyPrinted) }
        return String(decoding: try JSONSerialization.data(withJSONObject: object(report), options: opts), as: UTF8.self)
    }
}
