// Errno values the model returns that Kernel/Errno.swift does not name (Linux x86-64/arm64).
extension Errno {
    static let EOPNOTSUPP: Int32 = 95, EBADFD: Int32 = 77, ENOTSOCK: Int32 = 88, ECONNREFUSED: Int32 = 111
    static let ENETUNREACH: Int32 = 101, EAFNOSUPPORT: Int32 = 97, ENOTDIR: Int32 = 20, EISDIR: Int32 = 21
    static let ETIME: Int32 = 62, EXDEV: Int32 = 18, ELOOP: Int32 = 40, EFTYPE: Int32 = 134, ENXIO: Int32 = 6, EAGAIN: Int32 = 11
}
