/// A run-level problem (one the cases do not carry) and what it is about.
///
/// Two sources state such problems: how the console ended
/// (`VMVerdict.consoleEnding`: no KTAP, a missing plan line, results or exit
/// marker, kernel trouble no result carries) and the report's own checks
/// (`VMVerdict.runProblems`: a harness crash, out of memory, a panic, the
/// timeout, kmemleak). Where both see the same thing (a panic, the timeout, a
/// missing exit marker, kmemleak, trouble before the suite) the topic says so
/// and `merged` keeps the first statement only, so a run has one list of
/// problems: the one results.json, summary.txt, the KTAP and the tail print.
struct RunProblem: Equatable {
    enum Topic: Hashable {
        case noKTAP, noPlanLine, missingResults
        case troubleBeforeSuite, troubleAfterLastResult, unreportedTrouble(case: Int), troubleOutsidePlan(case: Int)
        case exitMarker, timeout, panic, guestCrash, outOfMemory, lowMemoryBoot, noInitOutput, kmemleak, unplanned
    }
    var text: String
    var topics: Set<Topic>

    init(_ text: String, _ topics: Topic...) { self.init(text, topics: topics) }

    init(_ text: String, topics: [Topic]) {
        self.text = text
        self.topics = Set(topics)
    }

    /// `first`, then each of `then` whose topics none of the kept ones has stated.
    static func merged(_ first: [RunProblem], _ then: [RunProblem]) -> [RunProblem] {
        var out = first
        var stated = Set(first.flatMap(\.topics))
        for p in then where p.topics.isDisjoint(with: stated) {
            out.append(p)
            stated.formUnion(p.topics)
        }
        return out
    }
}
