import XCTest
import CKernelABI
@testable import RingfenceCore

/// The flag OptionSets in Sources/RingfenceCore/ABI/ and the codes beside them,
/// bit by bit and name by name, against the C compiler's reading of Linux 7.3's
/// UAPI headers (Tests/CKernelABI/flags.c and its uapi/ copies).
final class ABIFlagTests: XCTestCase {
    private static let c: [String: Int64] = {
        var n = 0
        let p = kabi_flags(&n)!
        return Dictionary(uniqueKeysWithValues: (0..<n).map { (String(cString: p[$0].name), Int64(p[$0].value)) })
    }()

    private func check(_ name: String, _ value: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        guard let v = Self.c[name] else { return XCTFail("\(name) is not in CKernelABI's flags table", file: file, line: line) }
        XCTAssertEqual(UInt64(bitPattern: v), value, name, file: file, line: line)
    }

    /// The `#define PREFIX…` names in the header copy, to see that no flag is missing on either side.
    private func headerNames(_ prefix: String) throws -> Set<String> {
        let header = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../CKernelABI/uapi/io_uring_7_3.h").standardizedFileURL
        let text = try String(contentsOf: header, encoding: .utf8)
        return Set(text.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 3, words[0] == "#define", words[1].hasPrefix(prefix) else { return nil }
            return String(words[1].dropFirst(prefix.count))
        })
    }

    func testSetupFlags() throws {
        for (name, flag) in SetupFlags.names { check("IORING_SETUP_" + name, UInt64(flag.rawValue)) }
        XCTAssertEqual(Set(SetupFlags.names.map(\.0)), try headerNames("IORING_SETUP_"))
        XCTAssertEqual(SetupFlags.known.rawValue.nonzeroBitCount, SetupFlags.names.count, "two names share a bit")
    }

    func testSQEFlags() throws {
        for (name, flag) in SQEFlags.names { check("IOSQE_" + name, UInt64(flag.rawValue)) }
        XCTAssertEqual(Set(SQEFlags.names.map(\.0)), try headerNames("IOSQE_").filter { !$0.hasSuffix("_BIT") })
        XCTAssertEqual(SQEFlags.valid.rawValue.nonzeroBitCount, SQEFlags.names.count, "two names share a bit")
    }

    func testOpcodeFlags() throws {
        let nop: [(String, NopFlags)] = [("INJECT_RESULT", .injectResult), ("FILE", .file), ("FIXED_FILE", .fixedFile),
                                         ("FIXED_BUFFER", .fixedBuffer), ("TW", .tw), ("CQE32", .cqe32)]
        for (name, flag) in nop { check("IORING_NOP_" + name, UInt64(flag.rawValue)) }
        XCTAssertEqual(Set(nop.map(\.0)), try headerNames("IORING_NOP_"))
        XCTAssertEqual(NopFlags(nop.map(\.1)), .valid)
        check("IORING_URING_CMD_FIXED", UInt64(UringCmdFlags.fixed.rawValue))
        check("IORING_URING_CMD_MULTISHOT", UInt64(UringCmdFlags.multishot.rawValue))
        check("IORING_URING_CMD_MASK", UInt64(UringCmdFlags.mask.rawValue))
        let timeout: [(String, TimeoutFlags)] = [
            ("IORING_TIMEOUT_ABS", .abs), ("IORING_TIMEOUT_UPDATE", .update), ("IORING_TIMEOUT_BOOTTIME", .boottime),
            ("IORING_TIMEOUT_REALTIME", .realtime), ("IORING_LINK_TIMEOUT_UPDATE", .linkTimeoutUpdate),
            ("IORING_TIMEOUT_ETIME_SUCCESS", .etimeSuccess), ("IORING_TIMEOUT_MULTISHOT", .multishot),
            ("IORING_TIMEOUT_IMMEDIATE_ARG", .immediateArg),
        ]
        for (name, flag) in timeout { check(name, UInt64(flag.rawValue)) }
        check("IORING_FSYNC_DATASYNC", UInt64(FsyncFlags.datasync.rawValue))
    }

    func testOpenAndResolveFlags() {
        let open: [(String, OpenFlags)] = [
            ("O_ACCMODE", .accMode), ("O_WRONLY", .writeOnly), ("O_RDWR", .readWrite), ("O_CREAT", .creat),
            ("O_EXCL", .excl), ("O_NOCTTY", .noctty), ("O_TRUNC", .trunc), ("O_APPEND", .append),
            ("O_NONBLOCK", .nonblock), ("O_DSYNC", .dsync), ("FASYNC", .fasync), ("O_DIRECT", .direct),
            ("O_LARGEFILE", .largefile), ("O_DIRECTORY", .directory), ("O_NOFOLLOW", .nofollow),
            ("O_NOATIME", .noatime), ("O_CLOEXEC", .cloexec), ("__O_SYNC", .sync), ("O_PATH", .path),
            ("__O_TMPFILE", .tmpfile), ("O_EMPTYPATH", .emptyPath), ("OPENAT2_REGULAR", .openat2Regular),
        ]
        for (name, flag) in open { check(name, flag.rawValue) }
        let resolve: [(String, ResolveFlags)] = [
            ("RESOLVE_NO_XDEV", .noXdev), ("RESOLVE_NO_MAGICLINKS", .noMagiclinks), ("RESOLVE_NO_SYMLINKS", .noSymlinks),
            ("RESOLVE_BENEATH", .beneath), ("RESOLVE_IN_ROOT", .inRoot), ("RESOLVE_CACHED", .cached),
        ]
        for (name, flag) in resolve { check(name, flag.rawValue) }
        XCTAssertEqual(ResolveFlags(resolve.map(\.1)), .valid)
    }

    func testRegisterOpcodesAndRestrictionKinds() {
        for (name, op) in IoUringNames.registerOps {
            let cName = Self.c["IORING_REGISTER_" + name] != nil ? "IORING_REGISTER_" + name : "IORING_" + name
            check(cName, UInt64(op))
        }
        let cOps = Self.c.keys.filter { ($0.hasPrefix("IORING_REGISTER_") || $0.hasPrefix("IORING_UNREGISTER_"))
            && $0 != "IORING_REGISTER_LAST" && $0 != "IORING_REGISTER_USE_REGISTERED_RING" }
        XCTAssertEqual(cOps.count, IoUringNames.registerOps.count)
        check("IORING_REGISTER_BPF_FILTER", UInt64(FilterABI.registerOpcode))
        check("IORING_REGISTER_RESTRICTIONS", UInt64(FilterABI.registerRestrictions))
        check("IORING_REGISTER_ENABLE_RINGS", UInt64(FilterABI.registerEnableRings))
        check("IORING_REGISTER_PROBE", UInt64(FilterABI.registerProbe))
        check("IORING_REGISTER_USE_REGISTERED_RING", UInt64(FilterABI.useRegisteredRing))
        check("IORING_REGISTER_LAST", UInt64(ReferenceKernel.registerLast))
        check("IORING_REGISTER_RING_FDS", UInt64(ReferenceKernel.registerRingFDs))
        typealias R = FilterABI.Restriction
        check("IORING_RESTRICTION_REGISTER_OP", UInt64(R.kindRegisterOp))
        check("IORING_RESTRICTION_SQE_OP", UInt64(R.kindSQEOp))
        check("IORING_RESTRICTION_SQE_FLAGS_ALLOWED", UInt64(R.kindSQEFlagsAllowed))
        check("IORING_RESTRICTION_SQE_FLAGS_REQUIRED", UInt64(R.kindSQEFlagsRequired))
    }

    /// The case language's names come from the OptionSets, with or without the prefix.
    func testCaseLanguageNames() {
        XCTAssertEqual(IoUringNames.lookup("IORING_SETUP_r_disabled", in: IoUringNames.setupFlags, prefix: "IORING_SETUP_"),
                       SetupFlags.rDisabled.rawValue)
        XCTAssertEqual(IoUringNames.lookup("IO_LINK", in: IoUringNames.sqeFlags, prefix: "IOSQE_"), SQEFlags.ioLink.rawValue)
        XCTAssertNil(IoUringNames.lookup("IOSQE_NOPE", in: IoUringNames.sqeFlags, prefix: "IOSQE_"))
    }
}
