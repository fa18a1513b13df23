import Foundation
import Testing
@testable import RingfenceKit
@testable import RingfenceCore

/// Every case under cases/ must hold on the reference model: the model predicts
/// every expectation the suite makes of a 7.3.4 kernel.
@Suite struct ModelCaseTests {
    static var casesDirectory: String {
        // Tests/RingfenceKitTests/ModelCaseTests.swift -> package root
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("cases").path
    }

    /// What the model's kernel offers, for the cases' `requires:`.
    static func modelFacts(_ s: KernelSemantics = .upstream) -> KernelFacts {
        var sizes: [UInt32: UInt8] = [:]
        for op in 0..<s.opcodeLast { sizes[op] = s.contextSize(opcode: op) }
        return KernelFacts(release: "model", version: "reference model, \(s)", bpfFilter: true, opcodeLast: s.opcodeLast,
                           contextSizes: sizes, isRoot: true, loadedModules: [])
    }

    /// Cases the model does not predict, and why. The model has no clock and no
    /// pending requests: everything it accepts completes at once. A listed case
    /// the model starts to predict fails the test, so this list can only shrink.
    static let modelGaps: [String: String] = {
        let pending = "the model has no pending requests or timers (poll on a pipe, TIMEOUT, LINK_TIMEOUT, ASYNC_CANCEL complete at once)"
        let msgRing = "the model does not issue MSG_RING: io_msg_ring_data() posting a CQE on the target ring (io_post_aux_cqe()) is not modelled, only the sender's filter verdict"
        return [
            "interplay/in-flight:a-pending-timeout-completes-normally-after-a-deny-filter-is-registered": pending,
            "interplay/in-flight:a-pending-poll-is-cancelled-by-an-allowed-async_cancel-after-filters-were-added": pending,
            "interplay/in-flight:a-denied-async_cancel-leaves-the-poll-pending": pending,
            "interplay/in-flight:a-request-hard-linked-behind-a-pending-poll-runs-although-its-opcode-was-denied-meanwhile": pending,
            "interplay/in-flight:a-pending-link_timeout-fires-after-filters-on-both-opcodes-are-added": pending,
            "interplay/in-flight:a-task-filter-registered-while-a-ring-has-requests-in-flight-does-not-reach-that-ring": pending,
            "interplay/links:a-denied-link_timeout-fails-the-request-it-guards-and-completes-with-ecanceled-itself":
                "LINK_TIMEOUT prep arms the guarded request before the filters run (io_link_timeout_prep); the model denies it alone",
            "interplay/links:an-allowed-link_timeout-on-a-pending-poll-fires-normally": pending,
            "lifecycle/exec:exec-cancels-the-task-s-pending-requests-on-a-kept-ring":
                pending + "; nor io_uring_task_cancel() at exec",
            "lifecycle/msg-ring:the-target-s-filters-do-not-see-a-msg_ring-data-message": msgRing,
            "lifecycle/msg-ring:a-target-with-deny_rest-still-receives-a-msg_ring-data-message": msgRing,
            "lifecycle/msg-ring:a-sender-filter-on-the-msg_ring-sqe-s-user_data-picks-which-messages-go": msgRing,
            "lifecycle/msg-ring:a-target-ring-bound-by-a-deny-everything-task-set-still-receives-from-an-unfiltered-sender": msgRing,
            "lifecycle/msg-ring:a-msg_ring-to-a-received-ring-is-judged-by-the-sender-s-filters-only": msgRing,
            "lifecycle/msg-ring:a-msg_ring-send_fd-the-sender-allows-is-not-judged-by-the-target-s-filters":
                "the model does not prep or issue MSG_RING (io_msg_send_fd() -> io_msg_grab_file() -EBADF without a fixed file table); an allowed unknown opcode completes with 0",
        ]
    }()

    /// The case files below cases/ (known-bugs.yaml holds no cases), relative to it.
    static func caseFiles() throws -> Set<String> {
        let root = URL(fileURLWithPath: casesDirectory)
        guard let e = FileManager.default.enumerator(atPath: root.path) else { return [] }
        var files: Set<String> = []
        for case let rel as String in e where rel.hasSuffix(".yaml") && !rel.hasSuffix("known-bugs.yaml") { files.insert(rel) }
        return files
    }

    @Test func everyCaseHoldsOnTheModel() throws {
        // Every file must load (CaseLoader.load throws the first error), and every
        // case file must give cases: a file that silently gave none is a failure.
        let cases = try CaseLoader.load(directory: Self.casesDirectory)
        let files = try Self.caseFiles()
        #expect(files.count > 20, "found only \(files.count) case files under \(Self.casesDirectory)")
        let loadedFiles = Set(cases.map(\.location.file))
        #expect(loadedFiles == files, "case files that gave no case: \(files.subtracting(loadedFiles).sorted()); files no case names: \(loadedFiles.subtracting(files).sorted())")
        var options = RunOptions()
        options.exhaustive = true   // cheap on the model
        let runner = Runner(facts: Self.modelFacts(), options: options)
        // inject: cases: the model runs their steps once, the run without an injected fault.
        runner.prepareFaultInjection = { nil }
        // Modules: the model has every protocol family; it cannot load anything, so a
        // `module:` requirement is taken as met.
        runner.loadModule = { _ in nil }
        var failures: [String] = []
        var skipped: [String] = []
        var gaps: [String] = []
        for c in cases {
            if let why = runner.unmetRequirement(c) { skipped.append("\(c.id): \(why)"); continue }
            let out = Executor(backend: ReferenceKernel(), opcodeLast: Opcode.lastKnown, cqeTimeoutMs: 0).run(c.steps)
            switch (out.passed, Self.modelGaps[c.id]) {
            case (true, nil): break
            case (true, .some): failures.append("\(c.id): listed in modelGaps but the model now predicts it; remove the entry")
            case (false, .some(let why)): gaps.append("\(c.id): \(why)")
            case (false, nil): failures.append("\(c.id) (\(c.location)):\n    " + out.diagnostics.joined(separator: "\n    "))
            }
        }
        for s in skipped { print("model skipped \(s)") }
        for g in gaps { print("model gap \(g)") }
        print("model ran \(cases.count - skipped.count) of \(cases.count) cases: \(cases.count - skipped.count - gaps.count - failures.count) predicted, \(gaps.count) known gaps, \(failures.count) failed")
        #expect(failures.isEmpty, "\(failures.count) case(s) the model does not predict:\n\(failures.joined(separator: "\n"))")
    }

    /// The model in each recorded kernel's flavour (KernelSemantics.of(kernel:), the kernel's own
    /// feature probe for `requires:`) predicts that kernel's verdict on every case: a case passes
    /// on the model exactly when it passed on the kernel, and fails where the kernel had a known bug.
    @Test(arguments: ["7.0.13", "7.1.3", "7.1.13", "7.2.13", "7.3-rc7", "7.3.4"])
    func theFlavourOfAKernelPredictsItsRecordedVerdicts(_ name: String) throws {
        let recorded = try RecordedResults.load("with-known-bugs-\(name)")
        let version = try #require(KernelVersion.running(release: recorded.kernel.release, version: recorded.kernel.version))
        var semantics = KernelSemantics.of(kernel: version)
        semantics.opcodeLast = recorded.kernel.opcodeLast
        semantics.connectHasContext = (recorded.kernel.contextSizes[Opcode.number("CONNECT")!] ?? 0) > 0
        let runner = Runner(facts: recorded.kernel, options: RunOptions())
        runner.loadModule = { _ in nil }
        let status = Dictionary(recorded.cases.map { ($0.id, $0.status) }, uniquingKeysWith: { a, _ in a })
        var wrong: [String] = []
        var compared = 0
        for c in try CaseLoader.load(directory: Self.casesDirectory) where Self.modelGaps[c.id] == nil {
            guard let kernel = status[c.id] else { continue }
            if let why = runner.unmetRequirement(c) {
                if kernel != .skip { wrong.append("\(c.id): the model skips it (\(why)), the kernel: \(kernel.rawValue)") }
                continue
            }
            compared += 1
            let out = Executor(backend: ReferenceKernel(semantics: semantics), opcodeLast: semantics.opcodeLast, cqeTimeoutMs: 0).run(c.steps)
            let kernelPassed = kernel == .pass
            if out.passed != kernelPassed || kernel == .skip || kernel.isFailure {
                wrong.append("\(c.id): model \(out.passed ? "pass" : "fail"), kernel \(kernel.rawValue)")
            }
        }
        print("model as \(semantics) against \(recorded.kernel.release): \(compared) cases compared, \(wrong.count) wrong")
        #expect(compared > 350)
        #expect(wrong.isEmpty, "\(wrong.joined(separator: "\n"))")
    }

    /// The lifecycle cases against their verdicts on every Debian kernel with the feature
    /// (`ci/matrix.sh --all`, Tests/Fixtures/lifecycle-all-kernels.json; not under results/, which holds RunReports only): the model in
    /// each kernel's flavour passes exactly the cases the kernel passed and fails exactly its
    /// known bugs (exec after using io_uring before 7.1.8, the task-side copy-on-write before
    /// 7.3~rc7). Cases in modelGaps are left out.
    @Test(arguments: ["7.0.13", "7.1.7", "7.1.8", "7.2.9", "7.2.13", "7.3~rc7", "7.3.4"])
    func theFlavourOfAKernelPredictsItsLifecycleVerdicts(_ version: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/lifecycle-all-kernels.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        let status = try #require((json?["kernels"] as? [String: [String: String]])?[version])
        let semantics = KernelSemantics.of(kernel: try #require(KernelVersion(version.replacingOccurrences(of: "~", with: "-"))))
        var wrong: [String] = []
        var compared = 0
        for c in try CaseLoader.load(directory: Self.casesDirectory) where c.id.hasPrefix("lifecycle/") && Self.modelGaps[c.id] == nil {
            let kernel = try #require(status[c.id], "\(c.id) not recorded on \(version)")
            compared += 1
            let out = Executor(backend: ReferenceKernel(semantics: semantics), opcodeLast: semantics.opcodeLast, cqeTimeoutMs: 0).run(c.steps)
            if out.passed != (kernel == "pass") || !["pass", "xfail"].contains(kernel) {
                wrong.append("\(c.id): model \(out.passed ? "pass" : "fail"), kernel \(kernel)")
            }
        }
        print("model as \(semantics) against Debian \(version): \(compared) lifecycle cases compared, \(wrong.count) wrong")
        #expect(compared >= 50)
        #expect(wrong.isEmpty, "\(wrong.joined(separator: "\n"))")
    }
}
