import XCTest
import CKernelABI
@testable import RingfenceKit
@testable import RingfenceCore

/// FilterABI's offsets against the C compiler's view of the kernel header.
final class ABILayoutTests: XCTestCase {
    private func kernel(_ name: String) -> Int {
        let v = kabi_value(name)
        XCTAssertNotEqual(v, -1, "unknown name \(name) in CKernelABI table")
        return v
    }

    func testSizes() {
        XCTAssertEqual(kernel("sizeof:io_uring_bpf"), FilterABI.Registration.size)
        XCTAssertEqual(kernel("sizeof:io_uring_bpf_filter"), FilterABI.Filter.size)
        XCTAssertEqual(kernel("sizeof:io_uring_bpf_ctx"), FilterABI.Context.size)
        XCTAssertEqual(kernel("sizeof:io_uring_task_restriction_7_3"), FilterABI.TaskRestriction.size)
        XCTAssertEqual(kernel("sizeof:io_uring_restriction_7_3"), FilterABI.Restriction.size)
        XCTAssertEqual(kernel("sizeof:socket"), FilterABI.Context.Socket.size)
        XCTAssertEqual(kernel("sizeof:open"), FilterABI.Context.Open.size)
        XCTAssertEqual(kernel("sizeof:connect"), FilterABI.Context.Connect.size)
    }

    func testRegistrationOffsets() {
        typealias R = FilterABI.Registration
        XCTAssertEqual(kernel("io_uring_bpf.cmd_type"), R.cmdType)
        XCTAssertEqual(kernel("io_uring_bpf.cmd_flags"), R.cmdFlags)
        XCTAssertEqual(kernel("io_uring_bpf.resv"), R.resv)
        XCTAssertEqual(kernel("io_uring_bpf.filter"), R.filter)
        typealias F = FilterABI.Filter
        XCTAssertEqual(kernel("io_uring_bpf_filter.opcode"), F.opcode)
        XCTAssertEqual(kernel("io_uring_bpf_filter.flags"), F.flags)
        XCTAssertEqual(kernel("io_uring_bpf_filter.filter_len"), F.filterLen)
        XCTAssertEqual(kernel("io_uring_bpf_filter.pdu_size"), F.pduSize)
        XCTAssertEqual(kernel("io_uring_bpf_filter.resv"), F.resv)
        XCTAssertEqual(kernel("io_uring_bpf_filter.filter_ptr"), F.filterPtr)
        XCTAssertEqual(kernel("io_uring_bpf_filter.resv2"), F.resv2)
    }

    func testContextOffsets() {
        typealias C = FilterABI.Context
        XCTAssertEqual(kernel("io_uring_bpf_ctx.user_data"), C.userData)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.opcode"), C.opcode)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.sqe_flags"), C.sqeFlags)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.pdu_size"), C.pduSize)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.pad"), C.pad)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.socket.family"), C.Socket.family)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.socket.type"), C.Socket.type)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.socket.protocol"), C.Socket.proto)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.open.flags"), C.Open.flags)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.open.mode"), C.Open.mode)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.open.resolve"), C.Open.resolve)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.connect.family"), C.Connect.family)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.connect.port"), C.Connect.port)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.connect.pad"), C.Connect.pad)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.connect.v4_addr"), C.Connect.v4Addr)
        XCTAssertEqual(kernel("io_uring_bpf_ctx.connect.v6_addr"), C.Connect.v6Addr)
    }

    func testRestrictionOffsetsAndConstants() {
        XCTAssertEqual(kernel("io_uring_task_restriction_7_3.flags"), FilterABI.TaskRestriction.flags)
        XCTAssertEqual(kernel("io_uring_task_restriction_7_3.nr_res"), FilterABI.TaskRestriction.nrRes)
        XCTAssertEqual(kernel("io_uring_task_restriction_7_3.resv"), FilterABI.TaskRestriction.resv)
        XCTAssertEqual(kernel("io_uring_restriction_7_3.opcode"), FilterABI.Restriction.opcode)
        XCTAssertEqual(kernel("io_uring_restriction_7_3.register_op"), FilterABI.Restriction.value)
        XCTAssertEqual(kernel("io_uring_restriction_7_3.resv"), FilterABI.Restriction.resv)
        XCTAssertEqual(kernel("IO_URING_BPF_FILTER_DENY_REST"), Int(FilterABI.Flag.denyRest.rawValue))
        XCTAssertEqual(kernel("IO_URING_BPF_FILTER_SZ_STRICT"), Int(FilterABI.Flag.sizeStrict.rawValue))
        XCTAssertEqual(kernel("IO_URING_BPF_CMD_FILTER"), Int(FilterABI.cmdFilter))
    }

    /// Every sub-word context field lives inside its aligned word.
    func testContextFieldsAreAlignedWords() {
        for f in ContextField.all {
            XCTAssertEqual(f.wordOffset % 4, 0, f.name)
            XCTAssertLessThan(Int(f.wordOffset), FilterABI.Context.size, f.name)
        }
    }
}
