import XCTest
@testable import RingfenceKit

/// The exported kselftest carries a copy of Linux 7.3's
/// include/uapi/linux/io_uring/bpf_filter.h for UAPI headers older than 7.0
/// (`KselftestRuntime.uapiHeader`); Tests/CKernelABI/include holds the same
/// header as the kernel ships it, which the ABI layout tests compile. The
/// copy must not drift: every struct and enum block of the kernel's header
/// stands in the exported one, token for token (comments and white space
/// aside: the copy drops the kernel's longer comments).
final class ExportUAPIHeaderTests: XCTestCase {
    static let kernelHeader = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("CKernelABI/include/io_uring_bpf_filter_7_3.h")

    /// `struct x {` / `enum {` at the start of a line up to its `};` line.
    static func blocks(_ text: String) -> [String] {
        var out: [String] = [], current: [Substring]? = nil
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.hasPrefix("struct ") || line.hasPrefix("enum "), line.hasSuffix("{") {
                current = [line]
            } else if current != nil {
                current!.append(line)
                if line == "};" { out.append(current!.joined(separator: "\n")); current = nil }
            }
        }
        return out
    }

    /// C without comments, white space folded to one space.
    static func tokens(_ c: String) -> String {
        var s = c
        while let open = s.range(of: "/*"), let close = s.range(of: "*/", range: open.upperBound..<s.endIndex) {
            s.replaceSubrange(open.lowerBound..<close.upperBound, with: " ")
        }
        return s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
    }

    func testTheExportedUAPIHeaderHasTheKernelsDefinitions() throws {
        let kernel = try String(contentsOf: Self.kernelHeader, encoding: .utf8)
        let blocks = Self.blocks(kernel)
        XCTAssertEqual(blocks.count, 5, "struct io_uring_bpf_ctx, io_uring_bpf_filter, io_uring_bpf and two enums")
        for b in blocks {
            XCTAssertTrue(Self.tokens(KselftestRuntime.uapiHeader).contains(Self.tokens(b)),
                          "the exported header lacks, or has a different copy of:\n\(b)")
        }
    }
}
