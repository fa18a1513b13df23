import Foundation
@testable import RingfenceKit
@testable import RingfenceCore

/// Results files recorded on real Debian kernels (Tests/Fixtures/results, see its README).
enum RecordedResults {
    static func load(_ name: String) throws -> RunReport {
        // Tests/RingfenceKitTests/RecordedResults.swift -> Tests/Fixtures/results/NAME.json
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/results/\(name).json")
        return try RunReport.read(path: url.path)
    }
}
