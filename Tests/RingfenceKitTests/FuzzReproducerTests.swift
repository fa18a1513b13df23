import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

/// Fuzz reproducers are written through one serializer (FuzzCaseWriter builds a
/// CaseNode tree, CaseYAML writes it) and read back by the case parser.
final class FuzzReproducerTests: XCTestCase {
    /// The tree without what YAML text cannot carry back (line numbers).
    private func shape(_ n: CaseNode) -> CaseNode {
        var n = n
        n.line = 0
        n.children = n.children.map(shape)
        return n
    }

    /// Where two trees first differ, for the failure message.
    static func firstDifference(_ a: CaseNode, _ b: CaseNode, path: String = "") -> String? {
        if a.kind != b.kind || a.text != b.text || a.isNull != b.isNull || a.isBlock != b.isBlock || a.children.count != b.children.count {
            return "at \(path.isEmpty ? "/" : path): read back \(a.kind) \(a.text.debugDescription) null=\(a.isNull) block=\(a.isBlock) (\(a.children.count) children), written \(b.kind) \(b.text.debugDescription) null=\(b.isNull) block=\(b.isBlock) (\(b.children.count) children)"
        }
        for (i, (x, y)) in zip(a.children, b.children).enumerated() {
            if let d = firstDifference(x, y, path: path + "/\(i)") { return d }
        }
        return nil
    }

    /// Every generated shape, with the model's observations as expectations:
    /// the text composes back into the tree that was built, and the case
    /// parser loads it into one case.
    func testEveryGeneratedShapeRoundTrips() throws {
        let g = FuzzGenerator()
        let assembles = (try? Assembler.assemble("{ 0x6, 0, 0, 0x1 }")) != nil
        var features = FuzzFeatures()
        for seed: UInt64 in 1...2 {
            for index in 0..<1500 {
                let c = g.generate(seed: seed, index: index)
                let observed = c.observe(on: ReferenceKernel(), timeoutMs: 0)
                features.add(c, model: observed)
                let tree = FuzzCaseWriter.tree(c, observed: observed, seed: seed, modelSaid: observed, shrunk: index % 2 == 0)
                let text = CaseYAML.text(tree)
                let back = try XCTUnwrap(YAMLCompose.compose(yaml: text, file: "fuzz.yaml"))
                XCTAssertEqual(shape(back), shape(tree), "seed \(seed) case \(index): \(Self.firstDifference(shape(back), shape(tree)) ?? "")\n\(text)")
                if assembles {
                    let loaded = try CaseLoader.load(yaml: text, file: "fuzz.yaml")
                    XCTAssertEqual(loaded.count, 1)
                    XCTAssertEqual(loaded.first?.name, "fuzz seed \(seed) case \(index)")
                    // the same steps: observed on a fresh model they say what the case said
                    // (after the setup step the writer puts first for the case's flags)
                    if c.unpredictableFrom(observed) == nil, let steps = loaded.first?.steps {
                        let again = Executor(backend: ReferenceKernel(), opcodeLast: Opcode.lastKnown, cqeTimeoutMs: 0).observe(steps)
                        let lead: [FuzzObservation.Event] = !c.ringFlags.isEmpty && !c.hasExplicitSetup ? [.setup(ret: 0)] : []
                        XCTAssertEqual(again.events, lead + observed.events, "seed \(seed) case \(index)\n\(text)")
                    }
                }
            }
        }
        // the shapes the generator makes were all there
        for f in ["reg", "op:NOP", "op:SOCKET", "op:OPENAT", "op:OPENAT2", "op:CONNECT", "restrict:ring", "enable"] {
            XCTAssertGreaterThan(features.counts[f] ?? 0, 0, "\(f) never generated: \(features.summary)")
        }
    }

    /// Scalars that need quoting, block scalars, nulls and empty collections.
    func testScalarsAndCollectionsComeBackAsWritten() throws {
        let s = { (t: String) in CaseNode.scalar(t, line: 0) }
        let tree = CaseNode.sequence([
            .mapping([(s("plain"), s("fuzz seed 3 case 5")), (s("colon"), s("127.0.0.1:80")), (s("hash"), s("a #b")),
                      (s("null-text"), s("null")), (s("empty"), s("")), (s("null"), .scalar("", line: 0, isNull: true)), (s("spelt"), .scalar("null", line: 0, isNull: true)),
                      (s("dash"), s("- x")), (s("errno"), s("-EACCES")), (s("quote"), s("a \"b\" \\ c\n\td\u{1}")),
                      (s("block"), .scalar("{ 0x6, 0, 0, 0x1 }\n  indented\n", line: 0, isBlock: true)),
                      (s("flow"), .sequence([s("1"), s("x y"), .mapping([(s("k"), s("[v]"))], line: 0)], line: 0)),
                      (s("none"), .sequence([], line: 0)), (s("nothing"), .mapping([], line: 0)),
                      (s("long"), .sequence((0..<40).map { s("0x\($0)") }, line: 0))], line: 0),
        ], line: 0)
        let text = CaseYAML.text(tree)
        XCTAssertEqual(shape(try XCTUnwrap(YAMLCompose.compose(yaml: text, file: "t.yaml"))), shape(tree), text)
        XCTAssertTrue(text.contains("- plain: fuzz seed 3 case 5\n"), text)
        XCTAssertTrue(text.contains("  errno: -EACCES\n"), text)
        XCTAssertTrue(text.contains("  \"null\":\n  spelt: null\n"), text)
    }
}

