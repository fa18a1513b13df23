import CRingfence
#if canImport(Glibc)
import Glibc
#endif

// One SQE through io_init_req() (io_uring/io_uring.c) and its opcode's prep, and
// what the operation itself then returns. The filter verdict sits between the two
// (io_submit_sqe runs the filters after io_init_req, i.e. after prep).
//
// Prep is modelled exactly for the opcodes ringfence's cases and the fuzzer use
// (NOP, SOCKET, OPENAT, OPENAT2, CONNECT, FSYNC, CLOSE); other opcodes pass prep.
// Operation results are exact for NOP (and FSYNC/CLOSE on bad fds); for SOCKET,
// OPENAT(2) and CONNECT they are predictions (see OperationOutcome).

/// A request that passed io_init_req.
public struct PreparedRequest: Equatable, Sendable {
    public var opcode: UInt32
    /// req->flags' low byte: the SQE flags plus bits init/prep set (REQ_F_FORCE_ASYNC...).
    public var flags: SQEFlags
    public var userData: UInt64
    public var payload: RequestPayload
    var action: Action

    enum Action: Equatable, Sendable {
        case nop(result: Int32, fileFD: Int32?, fixedFile: Bool, fixedBuffer: Bool)
        case socket(domain: Int32, type: Int32, proto: Int32, fileSlot: UInt32)
        case open(dfd: Int32, path: [UInt8], flags: UInt64, mode: UInt64, resolve: UInt64, fileSlot: UInt32)
        case connect(fd: Int32, address: [UInt8])
        case fsync(fd: Int32)
        case close(fd: Int32)
        /// TIMEOUT with no count: it fires and completes with -ETIME.
        case timeout
        /// URING_CMD, URING_CMD128: io_uring_cmd() fails a file without ->uring_cmd.
        case uringCmd(fd: Int32, fixedFile: Bool)
        /// An opcode the model does not execute: only a bad fd (def->needs_file) is predicted.
        case unmodelled(needsFile: Bool, fd: Int32, fixedFile: Bool)
    }
}

/// The ring state io_init_req reads and writes.
struct InitState {
    var opRestricted = false
    var restrictions = Restrictions()
    var drainActive = false, drainNext = false, drainDisabled = false
    var setupFlags: SetupFlags = []
    /// A link is being assembled (ctx->submit_state.link.head != NULL).
    var linkHeadPresent = false
    /// Set by io_init_drain on the head of the link being assembled.
    var headNeedsDrain = false
}

/// What the model knows of the submitting process's memory and files.
struct SQEMemory {
    /// Bytes at `addr` (nil: addr is 0 or points nowhere the model knows).
    var addrPayload: [UInt8]?
    var offPayload: [UInt8]?
    /// The fd the SQE carries (a created socket's fd when socketForFD was given).
    var fd: Int32
}

enum RequestModel {
    /// SQE_COMMON_FLAGS (io_uring/io_uring.c): the bits io_init_req() checks nothing more for.
    static let sqeCommonFlags: SQEFlags = [.fixedFile, .ioLink, .ioHardlink, .async]

    /// io_init_req() + def->prep(): the prepared request, or the errno and the req->flags at failure.
    static func initRequest(_ sqe: SQESpec, opcode: UInt32, memory: SQEMemory, state: inout InitState,
                            semantics: KernelSemantics) -> Result<PreparedRequest, InitFailure> {
        let sqeFlags = sqe.flags
        var flags = sqeFlags
        func fail(_ e: Int32) -> Result<PreparedRequest, InitFailure> { .failure(InitFailure(errno: e, flags: flags)) }
        guard opcode < semantics.opcodeLast else { return fail(Errno.EINVAL) }
        let def = OpcodeDef.of(opcode)
        if def.is128 && !state.setupFlags.contains(.sqe128) {
            return fail(Errno.EINVAL)   // SQE_MIXED rings are not modelled
        }
        if !sqeFlags.isSubset(of: sqeCommonFlags) {
            if !sqeFlags.isSubset(of: .valid) { return fail(Errno.EINVAL) }
            if sqeFlags.contains(.bufferSelect) && !def.bufferSelect { return fail(Errno.EOPNOTSUPP) }
            if sqeFlags.contains(.cqeSkipSuccess) { state.drainDisabled = true }
            if sqeFlags.contains(.ioDrain) {
                if state.drainDisabled { return fail(Errno.EOPNOTSUPP) }
                state.drainActive = true
                if state.linkHeadPresent { state.headNeedsDrain = true; state.drainNext = true }
            }
        }
        if state.opRestricted || state.drainActive || state.drainNext {
            if !allowedByRestrictions(opcode: opcode, sqeFlags: sqeFlags, state.restrictions, opRestricted: state.opRestricted) {
                return fail(Errno.EACCES)
            }
            if state.drainActive { flags.insert(.async) }
            if state.drainNext && !state.linkHeadPresent {
                state.drainNext = false
                state.drainActive = true
                flags.formUnion([.ioDrain, .async])
            }
        }
        if !def.ioprio && sqe.ioprio != 0 { return fail(Errno.EINVAL) }
        if !def.iopoll && state.setupFlags.contains(.iopoll) { return fail(Errno.EINVAL) }
        if sqe.personality != 0 { return fail(Errno.EINVAL) }   // no personalities are registered
        var prep = OpcodePrep(sqe: sqe, opcode: opcode, memory: memory, state: state, semantics: semantics, flags: flags)
        return prep.run()
    }

    struct InitFailure: Error { var errno: Int32; var flags: SQEFlags }

    /// io_check_restriction().
    static func allowedByRestrictions(opcode: UInt32, sqeFlags: SQEFlags, _ r: Restrictions, opRestricted: Bool) -> Bool {
        guard opRestricted else { return true }
        guard opcode < 256, r.sqeOps.contains(UInt8(opcode)) else { return false }
        let required = r.sqeFlagsRequired, allowed = r.sqeFlagsAllowed
        if !sqeFlags.isSuperset(of: required) { return false }
        if !sqeFlags.isSubset(of: allowed.union(required)) { return false }
        return true
    }

    /// VALID_OPEN_FLAGS (include/linux/fcntl.h).
    static let validOpenFlags: OpenFlags = [.accMode, .creat, .excl, .noctty, .trunc, .append, .nonblock, .dsync,
                                            .fasync, .direct, .largefile, .directory, .nofollow, .noatime, .cloexec,
                                            .sync, .path, .tmpfile, .emptyPath]
    /// O_PATH_FLAGS (fs/open.c).
    static let oPathFlags: OpenFlags = [.directory, .nofollow, .path, .cloexec, .emptyPath]
}

/// One request through its opcode's def->prep(), one method an opcode family;
/// `flags` is req->flags, which prep may add REQ_F_FORCE_ASYNC (IOSQE_ASYNC) or
/// REQ_F_FIXED_FILE to. Prep is modelled exactly for the opcodes ringfence's cases
/// and the fuzzer use; the others pass.
struct OpcodePrep {
    typealias Outcome = Result<PreparedRequest, RequestModel.InitFailure>
    let sqe: SQESpec
    let opcode: UInt32
    let memory: SQEMemory
    let state: InitState
    let semantics: KernelSemantics
    var flags: SQEFlags

    var addrNonZero: Bool { sqe.addr != 0 || memory.addrPayload != nil }
    var fixedFile: Bool { flags.contains(.fixedFile) }

    func fail(_ e: Int32) -> Outcome { .failure(RequestModel.InitFailure(errno: e, flags: flags)) }
    func ok(_ payload: RequestPayload, _ action: PreparedRequest.Action) -> Outcome {
        .success(PreparedRequest(opcode: opcode, flags: flags, userData: sqe.userData, payload: payload, action: action))
    }

    mutating func run() -> Outcome {
        switch Opcode.name(opcode) {
        case "NOP": return nop()
        case "SOCKET": return socket()
        case "OPENAT", "OPENAT2": return open()
        case "CONNECT": return connect()
        case "FSYNC": return fsync()
        case "CLOSE": return close()
        case "FADVISE": return fadvise()
        case "URING_CMD", "URING_CMD128": return uringCmd()
        case "TIMEOUT": return timeout()
        default:
            return ok(.none, .unmodelled(needsFile: OpcodeDef.of(opcode).needsFile, fd: memory.fd, fixedFile: fixedFile))
        }
    }

    /// io_nop_prep (io_uring/nop.c).
    mutating func nop() -> Outcome {
        let nopFlags = NopFlags(rawValue: sqe.opFlags)
        if !nopFlags.isSubset(of: .valid) { return fail(Errno.EINVAL) }
        let result: Int32 = nopFlags.contains(.injectResult) ? Int32(bitPattern: sqe.len) : 0
        let fileFD: Int32? = nopFlags.contains(.file) ? memory.fd : nil
        let nopFixedFile = nopFlags.contains(.fixedFile)
        if nopFixedFile && semantics.nopFixedFileSetAtPrep { flags.insert(.fixedFile) }
        if nopFlags.contains(.cqe32) && state.setupFlags.isDisjoint(with: [.cqe32, .cqeMixed]) { return fail(Errno.EINVAL) }
        // Before the leak fix io_nop() chose the file table by its own flag, not REQ_F_FIXED_FILE.
        let fixed = semantics.nopFixedFileSetAtPrep ? fixedFile : nopFixedFile
        return ok(.none, .nop(result: result, fileFD: fileFD, fixedFile: fixed, fixedBuffer: nopFlags.contains(.fixedBuffer)))
    }

    /// io_socket_prep (io_uring/net.c).
    func socket() -> Outcome {
        if addrNonZero || sqe.opFlags != 0 || sqe.bufIndex != 0 { return fail(Errno.EINVAL) }
        let domain = memory.fd, type = Int32(truncatingIfNeeded: sqe.off), proto = Int32(bitPattern: sqe.len)
        let sockFlags = type & ~ContextBuilder.sockTypeMask
        let sockCloexec = Int32(SOCK_CLOEXEC.rawValue), sockNonblock = Int32(SOCK_NONBLOCK.rawValue)
        if sqe.fileIndex != 0 && sockFlags & sockCloexec != 0 { return fail(Errno.EINVAL) }
        if sockFlags & ~(sockCloexec | sockNonblock) != 0 { return fail(Errno.EINVAL) }
        return ok(.socket(domain: domain, type: type, proto: proto), .socket(domain: domain, type: type, proto: proto, fileSlot: sqe.fileIndex))
    }

    /// io_openat_prep / io_openat2_prep, then __io_openat_prep (io_uring/openclose.c).
    mutating func open() -> Outcome {
        let how: (flags: OpenFlags, mode: UInt64, resolve: UInt64)
        switch opcode == Opcode.openat ? .success(openHow()) : openat2How() {
        case .success(let h): how = h
        case .failure(let e): return fail(e.errno)
        }
        var openFlags = how.flags
        if sqe.bufIndex != 0 { return fail(Errno.EINVAL) }
        if fixedFile { return fail(Errno.EBADF) }
        if !openFlags.contains(.path) { openFlags.insert(.largefile) }   // force_o_largefile() on 64-bit
        guard let path = memory.addrPayload else { return fail(Errno.EFAULT) }
        let name = Array(path.prefix(while: { $0 != 0 }))
        // delayed_getname() passes no LOOKUP_EMPTY: an empty path is ENOENT even with O_EMPTYPATH
        if name.isEmpty { return fail(Errno.ENOENT) }
        if sqe.fileIndex != 0 && openFlags.contains(.cloexec) { return fail(Errno.EINVAL) }
        if !openFlags.isDisjoint(with: [.trunc, .creat, .tmpfile]) { flags.insert(.async) }
        let f = openFlags.rawValue
        return ok(.open(flags: f, mode: how.mode, resolve: how.resolve),
                  .open(dfd: memory.fd, path: name, flags: f, mode: how.mode, resolve: how.resolve, fileSlot: sqe.fileIndex))
    }

    /// io_openat_prep: build_open_how(int flags, umode_t mode).
    func openHow() -> (flags: OpenFlags, mode: UInt64, resolve: UInt64) {
        let f = OpenFlags(rawValue: UInt64(UInt32(truncatingIfNeeded: sqe.opFlags))).intersection(RequestModel.validOpenFlags)
        var h = (flags: f, mode: UInt64(UInt16(truncatingIfNeeded: sqe.len)) & 0o7777, resolve: UInt64(0))
        if h.flags.contains(.path) { h.flags.formIntersection(RequestModel.oPathFlags) }
        if h.flags.isDisjoint(with: [.creat, .tmpfile]) { h.mode = 0 }
        return h
    }

    struct PrepError: Error { var errno: Int32 }

    /// io_openat2_prep: copy_struct_from_user(&how, 24, addr2, len).
    func openat2How() -> Result<(flags: OpenFlags, mode: UInt64, resolve: UInt64), PrepError> {
        let len = Int(sqe.len)
        if len < 24 { return .failure(PrepError(errno: Errno.EINVAL)) }
        guard var bytes = memory.offPayload else { return .failure(PrepError(errno: Errno.EFAULT)) }
        if len > 24 {
            // trailing bytes must be zero; the model's memory past the payload reads as zero
            if bytes.count > 24, bytes[24..<min(len, bytes.count)].contains(where: { $0 != 0 }) { return .failure(PrepError(errno: Errno.E2BIG)) }
        }
        bytes += Array(repeating: 0, count: max(0, 24 - bytes.count))
        let img = ByteImage(bytes: bytes)
        return .success((OpenFlags(rawValue: img.load(UInt64.self, at: 0)), img.load(UInt64.self, at: 8), img.load(UInt64.self, at: 16)))
    }

    /// io_connect_prep (io_uring/net.c) + move_addr_to_kernel.
    func connect() -> Outcome {
        if sqe.len != 0 || sqe.bufIndex != 0 || sqe.opFlags != 0 || sqe.fileIndex != 0 { return fail(Errno.EINVAL) }
        let addrLen = Int32(truncatingIfNeeded: sqe.off)
        if addrLen < 0 || addrLen > 128 { return fail(Errno.EINVAL) }
        var address: [UInt8] = []
        if addrLen > 0 {
            guard let p = memory.addrPayload else { return fail(Errno.EFAULT) }
            address = Array(p.prefix(Int(addrLen))) + Array(repeating: 0, count: max(0, Int(addrLen) - p.count))
        }
        return ok(.connect(addrLen: addrLen, address: address), .connect(fd: memory.fd, address: address))
    }

    /// io_fsync_prep (io_uring/sync.c).
    mutating func fsync() -> Outcome {
        if addrNonZero || sqe.bufIndex != 0 || sqe.fileIndex != 0 { return fail(Errno.EINVAL) }
        if !FsyncFlags(rawValue: sqe.opFlags).isSubset(of: .datasync) { return fail(Errno.EINVAL) }
        if Int64(bitPattern: sqe.off) < 0 { return fail(Errno.EINVAL) }
        flags.insert(.async)
        return ok(.none, .fsync(fd: memory.fd))
    }

    /// io_close_prep (io_uring/openclose.c).
    func close() -> Outcome {
        if sqe.off != 0 || addrNonZero || sqe.len != 0 || sqe.opFlags != 0 || sqe.bufIndex != 0 { return fail(Errno.EINVAL) }
        if fixedFile { return fail(Errno.EBADF) }
        if sqe.fileIndex != 0 && memory.fd != 0 { return fail(Errno.EINVAL) }
        return ok(.none, .close(fd: memory.fd))
    }

    /// io_fadvise_prep (io_uring/advise.c).
    mutating func fadvise() -> Outcome {
        if sqe.bufIndex != 0 || sqe.fileIndex != 0 { return fail(Errno.EINVAL) }
        // POSIX_FADV_NORMAL/RANDOM/SEQUENTIAL run inline, other advice is forced async
        if sqe.opFlags > 2 { flags.insert(.async) }
        return ok(.none, .unmodelled(needsFile: true, fd: memory.fd, fixedFile: fixedFile))
    }

    /// io_uring_cmd_prep (io_uring/uring_cmd.c).
    func uringCmd() -> Outcome {
        if sqe.off >> 32 != 0 { return fail(Errno.EINVAL) }   // sqe->__pad1, beside cmd_op
        let cmdFlags = UringCmdFlags(rawValue: sqe.opFlags)   // sqe->uring_cmd_flags
        if !cmdFlags.isSubset(of: .mask) { return fail(Errno.EINVAL) }
        if cmdFlags.contains(.fixed) && cmdFlags.contains(.multishot) { return fail(Errno.EINVAL) }
        if cmdFlags.contains(.multishot) != flags.contains(.bufferSelect) { return fail(Errno.EINVAL) }
        return ok(.none, .uringCmd(fd: memory.fd, fixedFile: fixedFile))
    }

    /// __io_timeout_prep (io_uring/timeout.c), IORING_TIMEOUT_* flags not modelled.
    func timeout() -> Outcome {
        if sqe.addr3 != 0 { return fail(Errno.EINVAL) }
        if sqe.bufIndex != 0 || sqe.len != 1 || sqe.fileIndex != 0 { return fail(Errno.EINVAL) }
        let accepted: TimeoutFlags = [.abs, .boottime, .realtime, .etimeSuccess, .multishot, .immediateArg]
        if !TimeoutFlags(rawValue: sqe.opFlags).isSubset(of: accepted) { return fail(Errno.EINVAL) }
        guard let ts = memory.addrPayload, ts.count >= 16 else { return fail(Errno.EFAULT) }
        let t = ByteImage(bytes: ts)
        let sec = Int64(bitPattern: t.load(UInt64.self, at: 0)), nsec = Int64(bitPattern: t.load(UInt64.self, at: 8))
        if sec < 0 || nsec < 0 || nsec >= 1_000_000_000 { return fail(Errno.EINVAL) }
        return ok(.none, .timeout)
    }
}

/// What an allowed operation returns. Exact where the kernel's answer depends only on
/// the request (NOP, bad fds); a prediction for SOCKET (the host's socket(2) answer),
/// OPENAT/OPENAT2 (a stat of the path: ENOENT/ENOTDIR/EISDIR or success) and CONNECT
/// (the guest has only loopback and nothing listening: ECONNREFUSED on loopback,
/// ENETUNREACH elsewhere, ENOENT for a missing unix socket path).
enum OperationOutcome {
    /// Whether the request ends with REQ_F_FAIL, which breaks a link and defeats
    /// CQE_SKIP_SUCCESS. Every modelled opcode calls req_set_fail() on a negative result
    /// except io_socket() when installing into a fixed slot fails (io_uring/net.c): that
    /// -ENXIO completes without REQ_F_FAIL, so the link goes on and the CQE can be skipped.
    static func setsFail(_ action: PreparedRequest.Action, res: Int32) -> Bool {
        if case .socket(_, _, _, let slot) = action, slot != 0, res == -Errno.ENXIO { return false }
        return res < 0
    }

    /// `isOpen`: whether the process has this descriptor (stdio, rings, model sockets).
    static func result(of action: PreparedRequest.Action, sockets: [Int32: SocketSpec], isOpen: (Int32) -> Bool,
                       nextFD: () -> Int32) -> (res: Int32, exact: Bool) {
        switch action {
        case .nop(let result, let fileFD, let fixedFile, let fixedBuffer):
            if let fd = fileFD, fixedFile || !isOpen(fd) { return (-Errno.EBADF, true) }
            if fixedBuffer { return (-Errno.EFAULT, true) }
            return (result, true)
        case .fsync(let fd):
            if !isOpen(fd) { return (-Errno.EBADF, true) }
            return (-Errno.EINVAL, false)
        case .close(let fd):
            if !isOpen(fd) { return (-Errno.EBADF, true) }
            return (0, false)
        case .socket(let domain, let type, let proto, let slot):
            let fd = Glibc.socket(domain, type, proto)
            if fd < 0 { return (-errno, false) }
            Glibc.close(fd)
            // io_fixed_fd_install(): no file table is registered
            return (slot != 0 ? -Errno.ENXIO : nextFD(), false)
        case .open(let dfd, let path, let flags, let mode, let resolve, let slot):
            let r = openResult(dfd: dfd, path: path, flags: flags, mode: mode, resolve: resolve, nextFD: nextFD)
            return (r >= 0 && slot != 0 ? -Errno.ENXIO : r, false)
        case .connect(let fd, let address):
            guard let sock = sockets[fd] else { return (isOpen(fd) ? -Errno.ENOTSOCK : -Errno.EBADF, true) }
            return (connectResult(sock, address), false)
        case .timeout:
            return (-Errno.ETIME, false)
        case .uringCmd(let fd, let fixedFile):
            if fixedFile || !isOpen(fd) { return (-Errno.EBADF, true) }
            // Sockets have ->uring_cmd (io_uring_cmd_sock: SIOCINQ, SIOCOUTQ, sockopts), not
            // modelled; every other file the model opens (stdio, pipes, rings, files) lacks it.
            if sockets[fd] != nil { return (0, false) }
            return (-Errno.EOPNOTSUPP, false)
        case .unmodelled(let needsFile, let fd, let fixedFile):
            if needsFile && (fixedFile || !isOpen(fd)) { return (-Errno.EBADF, true) }
            return (0, false)
        }
    }

    /// build_open_flags() (fs/open.c), then a prediction of the lookup from the
    /// filesystem the model runs on (the guest's, when fuzzing in the VM).
    static func openResult(dfd: Int32, path: [UInt8], flags how: UInt64, mode: UInt64, resolve: UInt64,
                           nextFD: () -> Int32) -> Int32 {
        let flags = OpenFlags(rawValue: how).subtracting(.cloexec)
        let resolve = ResolveFlags(rawValue: resolve)
        if !flags.isSubset(of: RequestModel.validOpenFlags.union(.openat2Regular)) { return -Errno.EINVAL }
        if !resolve.isSubset(of: .valid) { return -Errno.EINVAL }
        if resolve.isSuperset(of: [.beneath, .inRoot]) { return -Errno.EINVAL }
        let creates = !flags.isDisjoint(with: [.creat, .tmpfile])
        if creates ? mode & ~0o7777 != 0 : mode != 0 { return -Errno.EINVAL }
        if flags.isSuperset(of: [.directory, .creat]) { return -Errno.EINVAL }
        let access = flags.intersection(.accMode)
        let accWrite = access == .writeOnly || access == .readWrite || flags.contains(.trunc)
        if flags.contains(.tmpfile) && (!flags.contains(.directory) || access.isEmpty) { return -Errno.EINVAL }
        if flags.isSuperset(of: [.directory, .openat2Regular]) { return -Errno.EINVAL }
        if flags.contains(.path) && !flags.isSubset(of: RequestModel.oPathFlags) { return -Errno.EINVAL }

        let p = String(decoding: path, as: UTF8.self)
        if !p.hasPrefix("/") && dfd != -100 { return dfd < 0 ? -Errno.EBADF : -Errno.ENOTDIR }
        if resolve.contains(.beneath) && p.hasPrefix("/") { return -Errno.EXDEV }
        var st = stat()
        let exists = stat(p, &st) == 0
        let isDir = exists && (st.st_mode & S_IFMT) == S_IFDIR
        var lst = stat()
        let isLink = lstat(p, &lst) == 0 && (lst.st_mode & S_IFMT) == S_IFLNK
        // RESOLVE_NO_SYMLINKS: only a link that would be followed (O_NOFOLLOW is handled below)
        if resolve.contains(.noSymlinks) && isLink && !flags.contains(.nofollow) { return -Errno.ELOOP }
        // RESOLVE_CACHED: LOOKUP_CACHED gives up (-EAGAIN, not retried) on what RCU walk cannot
        // finish; assumed: following a symlink or anything on procfs
        if resolve.contains(.cached) && (isLink || p.hasPrefix("/proc/")) && !flags.isSuperset(of: [.nofollow, .path]) {
            return -Errno.EAGAIN
        }
        var root = stat()
        if resolve.contains(.noXdev), exists, stat("/", &root) == 0, root.st_dev != st.st_dev { return -Errno.EXDEV }
        if flags.contains(.nofollow) && isLink && !flags.contains(.creat) {
            // the last component is the link itself: only O_PATH opens it
            if !flags.contains(.path) { return -Errno.ELOOP }
            return flags.contains(.directory) ? -Errno.ENOTDIR : nextFD()
        }
        if flags.contains(.tmpfile) {
            if !exists { return -Errno.ENOENT }
            return isDir ? nextFD() : -Errno.ENOTDIR
        }
        if flags.contains(.creat) {
            if exists {
                if flags.contains(.excl) { return -Errno.EEXIST }
                if isDir { return -Errno.EISDIR }
                return nextFD()
            }
            let parent = p.hasSuffix("/") ? p : String(p[..<(p.lastIndex(of: "/") ?? p.startIndex)])
            var pst = stat()
            if p.hasSuffix("/") { return -Errno.EISDIR }
            if stat(parent.isEmpty ? (p.hasPrefix("/") ? "/" : ".") : parent, &pst) != 0 { return -Errno.ENOENT }
            return (pst.st_mode & S_IFMT) == S_IFDIR ? nextFD() : -Errno.ENOTDIR
        }
        if !exists { return -Errno.ENOENT }
        if flags.contains(.directory) && !isDir { return -Errno.ENOTDIR }
        if isDir && accWrite && !flags.contains(.path) { return -Errno.EISDIR }
        if flags.contains(.openat2Regular) && (st.st_mode & S_IFMT) != S_IFREG && !flags.contains(.path) { return -Errno.EFTYPE }
        // do_dentry_open(): O_DIRECT needs FMODE_CAN_ODIRECT, which only regular files of
        // some filesystems set (assumed: every regular file; never directories, devices, procfs)
        if flags.contains(.direct) && !flags.contains(.path) && ((st.st_mode & S_IFMT) != S_IFREG || p.hasPrefix("/proc/")) {
            return -Errno.EINVAL
        }
        return nextFD()
    }

    static func connectResult(_ sock: SocketSpec, _ addr: [UInt8]) -> Int32 {
        guard addr.count >= 2 else { return -Errno.EINVAL }
        let family = Int32(ByteImage(bytes: addr).load(UInt16.self, at: 0))
        if family != sock.domain { return sock.domain == 1 ? -Errno.EINVAL : -Errno.EAFNOSUPPORT }
        switch family {
        case 1:
            // unix_validate_addr(): more than the family, at most sizeof(struct sockaddr_un)
            if addr.count <= 2 || addr.count > 110 { return -Errno.EINVAL }
            let path = String(decoding: addr.dropFirst(2).prefix(while: { $0 != 0 }), as: UTF8.self)
            return access(path, F_OK) == 0 ? -Errno.ECONNREFUSED : -Errno.ENOENT
        case 2:
            if addr.count < 16 { return -Errno.EINVAL }
            return addr[4] == 127 && loopbackUp(2) ? -Errno.ECONNREFUSED : -Errno.ENETUNREACH
        case 10:
            if addr.count < 24 { return -Errno.EINVAL }
            let loopback = addr[8..<23].allSatisfy { $0 == 0 } && addr[23] == 1
            return loopback && loopbackUp(10) ? -Errno.ECONNREFUSED : -Errno.ENETUNREACH
        default:
            return -Errno.EAFNOSUPPORT
        }
    }

    /// Whether this machine can reach its loopback address: a UDP connect() sends nothing
    /// and fails with ENETUNREACH when `lo` is down (as in a bare VM guest).
    static func loopbackUp(_ family: Int32) -> Bool {
        let fd = Glibc.socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var r: Int32
        if family == 2 {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = UInt16(9).bigEndian
            a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        } else {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = UInt16(9).bigEndian
            a.sin6_addr.__in6_u.__u6_addr8.15 = 1
            r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        return r == 0
    }
}
