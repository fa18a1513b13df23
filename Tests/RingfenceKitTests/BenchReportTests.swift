import XCTest
@testable import RingfenceKit
@testable import RingfenceCore

final class BenchReportTests: XCTestCase {
    /// Synthetic samples with a known per-filter cost: the fit must recover it.
    func testSlopeRatioAndLinearity() {
        let configs = BenchConfig.stackDepths.map { BenchConfig(kind: .ringFilters, filters: $0) }
        let samples = configs.map { c in [[300 + 100 * Double(c.filters), 310 + 100 * Double(c.filters), 290 + 100 * Double(c.filters)]] }
        let r = BenchReport(opcode: "NOP", batches: [32], repetitions: 3, configs: configs, samples: samples, errors: [:])
        XCTAssertEqual(r.scaling.count, 1)
        XCTAssertEqual(r.scaling[0].slopeNsPerFilter, 100, accuracy: 0.01)
        XCTAssertTrue(r.scaling[0].linear)
        let top = r.rows.first { $0.filters == 64 }!
        XCTAssertEqual(top.medianNs, 6700)
        XCTAssertEqual(top.ratioToBaseline, 6700.0 / 300.0, accuracy: 1e-9)
        XCTAssertEqual(top.spread, 20.0 / 6700.0, accuracy: 1e-9)
        XCTAssertTrue(BenchPlot.svg(r).hasPrefix("<svg"))
        XCTAssertTrue(r.table().contains("100.0 ns per extra filter"))
    }

    func testQuadraticGrowthIsFlagged() {
        let configs = BenchConfig.stackDepths.map { BenchConfig(kind: .ringFilters, filters: $0) }
        let samples = configs.map { c in [[300 + 5 * Double(c.filters * c.filters)]] }
        let r = BenchReport(opcode: "NOP", batches: [1], repetitions: 1, configs: configs, samples: samples, errors: [:])
        XCTAssertFalse(r.scaling[0].linear)
        XCTAssertTrue(r.table().contains("NON-LINEAR"))
    }
}
