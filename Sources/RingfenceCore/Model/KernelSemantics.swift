// The kernel flavour the reference model follows. Every place where kernels
// that have IORING_REGISTER_BPF_FILTER are known to differ is a named switch
// here, with the source line it comes from, so a difference between kernels
// is a setting, not a hack. `.upstream` is Linux 7.3.4.

public struct KernelSemantics: Sendable, Equatable, CustomStringConvertible {
    /// IORING_OP_LAST of the modelled kernel (enum io_uring_op in include/uapi/linux/io_uring.h).
    public var opcodeLast: UInt32 = Opcode.lastKnown

    /// io_uring/net.c io_socket_bpf_populate(): `bctx->socket.type = sock->type & SOCK_TYPE_MASK;`
    /// (7.3.2+). Older 7.x kernels copy sock->type as is, SOCK_CLOEXEC/SOCK_NONBLOCK included.
    public var socketTypeMasked = true

    /// io_uring/register.c io_uring_register_blind(): a task's IORING_RESTRICTION_REGISTER_OP
    /// set applies to fd == -1 registrations too (7.3.2+). Before, blind opcodes ignored it.
    public var blindRegisterHonoursTaskRestrictions = true

    /// io_uring/register.c __io_uring_register(): register restrictions inherited from the
    /// task (IO_RING_F_RESTRICT_INHERITED) apply even while the ring is still R_DISABLED.
    /// Without it, a disabled ring is exempt from every register restriction.
    public var inheritedRegisterRestrictionsBindDisabledRings = true
    /// `io_uring/cancel.c` `io_uring_cancel_generic()`: at exec a task that used io_uring
    /// frees only its task context (`io_uring_free_tctx()`), keeping `io_uring_restrict`
    /// (Debian 7.1.8+; 7.0.4 .. 7.1.7 lose the restrictions and filters).
    public var execKeepsTaskRestrictions = true

    /// io_uring/opdef.c [IORING_OP_CONNECT].filter_pdu_size = sizeof_field(struct
    /// io_uring_bpf_ctx, connect) with io_connect_bpf_populate() (net.c). Without it,
    /// CONNECT filters see pdu_size 0 and no address.
    public var connectHasContext = true

    /// io_uring/nop.c io_nop_prep(): IORING_NOP_FIXED_FILE sets REQ_F_FIXED_FILE at prep, so
    /// the filter sees IOSQE_FIXED_FILE ("io_uring/nop: fix file reference leak with
    /// IOSQE_FIXED_FILE", in 7.1.7 and 7.2). Before, io_nop() set it only at issue.
    public var nopFixedFileSetAtPrep = true

    /// io_uring/io_uring.c __io_submit_flush_completions(): a drain request that was started
    /// from the defer list ends the drain (IO_RING_F_DRAIN_ACTIVE) as its CQE is posted
    /// ("io_uring: keep the drain active when a deferred drain request is started", 7.3.2).
    /// Before, the flag stayed set until the next request was queued, so that request's
    /// filter saw IOSQE_ASYNC.
    public var completedDrainEndsTheDrain = true

    /// io_uring/bpf_filter.c io_bpf_filter_clone(): `src->bpf_filters_cow = true` (in 7.3~rc7,
    /// not in 7.2.13), so the task copies its filter set on its next registration. Before, a
    /// ring created while the task had filters shared the task's set, and the task's later
    /// filters reached it.
    public var taskFiltersCopyOnWrite = true

    public init() {}

    /// Linux 7.3.4, the source this model was written from.
    public static let upstream = KernelSemantics()

    /// 7.3.1, the last release before the 7.3.2 fixes: socket type unmasked, blind
    /// registrations unrestricted, the drain outlives its request.
    public static var before732: KernelSemantics { .of(kernel: KernelVersion("7.3.1")!) }

    /// The flavour of an upstream version: each switch is off before the release that
    /// brought it (stable releases included; the evidence is in cases/known-bugs.yaml).
    public static func of(kernel v: KernelVersion) -> KernelSemantics {
        func since(_ text: String) -> Bool { v >= KernelVersion(text)! }
        var s = KernelSemantics()
        s.socketTypeMasked = since("7.3.2")
        s.blindRegisterHonoursTaskRestrictions = since("7.3.2")
        s.inheritedRegisterRestrictionsBindDisabledRings = since("7.2.11")
        s.execKeepsTaskRestrictions = since("7.1.8")
        s.connectHasContext = since("7.2")
        s.nopFixedFileSetAtPrep = since("7.1.7")
        s.completedDrainEndsTheDrain = since("7.3.2")
        s.taskFiltersCopyOnWrite = since("7.3-rc7")   // the first kernel measured with it
        return s
    }

    /// def->filter_pdu_size for an opcode under this flavour.
    public func contextSize(opcode: UInt32) -> UInt8 {
        guard opcode < opcodeLast else { return 0 }
        switch Opcode.name(opcode) {
        case "CONNECT": return connectHasContext ? UInt8(FilterABI.Context.Connect.size) : 0
        case "OPENAT", "OPENAT2": return UInt8(FilterABI.Context.Open.size)
        case "SOCKET": return UInt8(FilterABI.Context.Socket.size)
        default: return 0
        }
    }

    public var description: String {
        var parts: [String] = ["opcodeLast=\(opcodeLast)"]
        if !socketTypeMasked { parts.append("socket type unmasked") }
        if !blindRegisterHonoursTaskRestrictions { parts.append("blind register unrestricted") }
        if !inheritedRegisterRestrictionsBindDisabledRings { parts.append("disabled rings exempt from inherited register restrictions") }
        if !connectHasContext { parts.append("CONNECT without context") }
        if !execKeepsTaskRestrictions { parts.append("exec after using io_uring drops task restrictions") }
        if !nopFixedFileSetAtPrep { parts.append("NOP fixed file set at issue") }
        if !completedDrainEndsTheDrain { parts.append("drain stays active after its request") }
        if !taskFiltersCopyOnWrite { parts.append("later task filters reach existing rings") }
        return parts.count == 1 ? "upstream 7.3.4 (\(parts[0]))" : parts.joined(separator: ", ")
    }
}

/// The per-opcode properties of io_uring/opdef.c io_issue_defs[] that io_init_req() checks
/// before an opcode's prep (buffer_select, ioprio, iopoll, is_128) and needs_file, which
/// decides -EBADF at issue for a bad fd.
struct OpcodeDef {
    var bufferSelect = false, ioprio = false, iopoll = false, is128 = false, needsFile = false

    /// Extracted from Linux 7.3 io_uring/opdef.c, index = opcode.
    static let table: [OpcodeDef] = {
        // name bufferSelect ioprio iopoll is128 needsFile
        let rows = "NOP 0 0 1 0 0;READV 1 1 1 0 1;WRITEV 0 1 1 0 1;FSYNC 0 0 0 0 1;READ_FIXED 0 1 1 0 1;WRITE_FIXED 0 1 1 0 1;POLL_ADD 0 0 0 0 1;POLL_REMOVE 0 0 0 0 0;SYNC_FILE_RANGE 0 0 0 0 1;SENDMSG 0 1 0 0 1;RECVMSG 1 1 0 0 1;TIMEOUT 0 0 0 0 0;TIMEOUT_REMOVE 0 0 0 0 0;ACCEPT 0 1 0 0 1;ASYNC_CANCEL 0 0 0 0 0;LINK_TIMEOUT 0 0 0 0 0;CONNECT 0 0 0 0 1;FALLOCATE 0 0 0 0 1;OPENAT 0 0 0 0 0;CLOSE 0 0 0 0 0;FILES_UPDATE 0 0 1 0 0;STATX 0 0 0 0 0;READ 1 1 1 0 1;WRITE 0 1 1 0 1;FADVISE 0 0 0 0 1;MADVISE 0 0 0 0 0;SEND 1 1 0 0 1;RECV 1 1 0 0 1;OPENAT2 0 0 0 0 0;EPOLL_CTL 0 0 0 0 0;SPLICE 0 0 0 0 1;PROVIDE_BUFFERS 0 0 1 0 0;REMOVE_BUFFERS 0 0 1 0 0;TEE 0 0 0 0 1;SHUTDOWN 0 0 0 0 1;RENAMEAT 0 0 0 0 0;UNLINKAT 0 0 0 0 0;MKDIRAT 0 0 0 0 0;SYMLINKAT 0 0 0 0 0;LINKAT 0 0 0 0 0;MSG_RING 0 0 1 0 1;FSETXATTR 0 0 0 0 1;SETXATTR 0 0 0 0 0;FGETXATTR 0 0 0 0 1;GETXATTR 0 0 0 0 0;SOCKET 0 0 0 0 0;URING_CMD 1 0 1 0 1;SEND_ZC 0 1 0 0 1;SENDMSG_ZC 0 1 0 0 1;READ_MULTISHOT 1 0 0 0 1;WAITID 0 0 0 0 0;FUTEX_WAIT 0 0 0 0 0;FUTEX_WAKE 0 0 0 0 0;FUTEX_WAITV 0 0 0 0 0;FIXED_FD_INSTALL 0 0 0 0 1;FTRUNCATE 0 0 0 0 1;BIND 0 0 0 0 1;LISTEN 0 0 0 0 1;RECV_ZC 0 1 0 0 1;EPOLL_WAIT 0 0 0 0 1;READV_FIXED 0 1 1 0 1;WRITEV_FIXED 0 1 1 0 1;PIPE 0 0 0 0 0;NOP128 0 0 1 1 0;URING_CMD128 1 0 1 1 1"
        return rows.split(separator: ";").map { row in
            let f = row.split(separator: " ").dropFirst().map { $0 == "1" }
            return OpcodeDef(bufferSelect: f[0], ioprio: f[1], iopoll: f[2], is128: f[3], needsFile: f[4])
        }
    }()

    static func of(_ opcode: UInt32) -> OpcodeDef {
        opcode < table.count ? table[Int(opcode)] : OpcodeDef()
    }
}
