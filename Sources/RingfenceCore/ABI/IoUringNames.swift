// Names case files may use for io_uring constants other than opcodes,
// taken from Linux 7.3's include/uapi/linux/io_uring.h; the flag names come
// from the OptionSets in IoUringFlags.swift.

public enum IoUringNames {
    /// IORING_SETUP_* bits, without the prefix (SetupFlags.names).
    public static let setupFlags: [String: SetupFlags] = Dictionary(uniqueKeysWithValues: SetupFlags.names)

    /// IOSQE_* bits, without the prefix (SQEFlags.names).
    public static let sqeFlags: [String: SQEFlags] = Dictionary(uniqueKeysWithValues: SQEFlags.names)

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

    /// A flag's bits by name from an OptionSet's table, as a case field stores them.
    public static func lookup<F: OptionSet>(_ name: String, in table: [String: F], prefix: String) -> F.RawValue? {
        let flag: F? = lookup(name, in: table, prefix: prefix)
        return flag?.rawValue
    }
}
