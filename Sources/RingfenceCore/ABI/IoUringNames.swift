// Names case files may use for io_uring constants other than opcodes,
// taken from Linux 7.3's include/uapi/linux/io_uring.h.

public enum IoUringNames {
    /// IORING_SETUP_* bits, without the prefix.
    public static let setupFlags: [String: UInt32] = [
        "IOPOLL": 1 << 0,
        "SQPOLL": 1 << 1,
        "SQ_AFF": 1 << 2,
        "CQSIZE": 1 << 3,
        "CLAMP": 1 << 4,
        "ATTACH_WQ": 1 << 5,
        "R_DISABLED": 1 << 6,
        "SUBMIT_ALL": 1 << 7,
        "COOP_TASKRUN": 1 << 8,
        "TASKRUN_FLAG": 1 << 9,
        "SQE128": 1 << 10,
        "CQE32": 1 << 11,
        "SINGLE_ISSUER": 1 << 12,
        "DEFER_TASKRUN": 1 << 13,
        "NO_MMAP": 1 << 14,
        "REGISTERED_FD_ONLY": 1 << 15,
        "NO_SQARRAY": 1 << 16,
        "HYBRID_IOPOLL": 1 << 17,
        "CQE_MIXED": 1 << 18,
        "SQE_MIXED": 1 << 19,
        "SQ_REWIND": 1 << 20,
    ]

    /// IOSQE_* bits, without the prefix.
    public static let sqeFlags: [String: UInt8] = [
        "FIXED_FILE": 1 << 0, "IO_DRAIN": 1 << 1, "IO_LINK": 1 << 2, "IO_HARDLINK": 1 << 3,
        "ASYNC": 1 << 4, "BUFFER_SELECT": 1 << 5, "CQE_SKIP_SUCCESS": 1 << 6,
    ]

    /// io_uring_register(2) opcodes, without the IORING_REGISTER_ / IORING_ prefix.
    public static let registerOps: [String: UInt32] = [
        "BUFFERS": 0,
        "UNREGISTER_BUFFERS": 1,
        "FILES": 2,
        "UNREGISTER_FILES": 3,
        "EVENTFD": 4,
        "UNREGISTER_EVENTFD": 5,
        "FILES_UPDATE": 6,
        "EVENTFD_ASYNC": 7,
        "PROBE": 8,
        "PERSONALITY": 9,
        "UNREGISTER_PERSONALITY": 10,
        "RESTRICTIONS": 11,
        "ENABLE_RINGS": 12,
        "FILES2": 13,
        "FILES_UPDATE2": 14,
        "BUFFERS2": 15,
        "BUFFERS_UPDATE": 16,
        "IOWQ_AFF": 17,
        "UNREGISTER_IOWQ_AFF": 18,
        "IOWQ_MAX_WORKERS": 19,
        "RING_FDS": 20,
        "UNREGISTER_RING_FDS": 21,
        "PBUF_RING": 22,
        "UNREGISTER_PBUF_RING": 23,
        "SYNC_CANCEL": 24,
        "FILE_ALLOC_RANGE": 25,
        "PBUF_STATUS": 26,
        "NAPI": 27,
        "UNREGISTER_NAPI": 28,
        "CLOCK": 29,
        "CLONE_BUFFERS": 30,
        "SEND_MSG_RING": 31,
        "ZCRX_IFQ": 32,
        "RESIZE_RINGS": 33,
        "MEM_REGION": 34,
        "QUERY": 35,
        "ZCRX_CTRL": 36,
        "BPF_FILTER": 37,
    ]

    /// A name from `table`, accepting the given prefix too ("IOSQE_IO_LINK" or "IO_LINK").
    public static func lookup<T>(_ name: String, in table: [String: T], prefix: String) -> T? {
        let bare = name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
        return table[bare.uppercased()]
    }
}
