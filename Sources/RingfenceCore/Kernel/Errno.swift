import CRingfence

/// Errno names come from glibc's strerrorname_np(3), not a hand-made table.
public enum Errno {
    public static let EPERM: Int32 = 1, ENOENT: Int32 = 2, EBADF: Int32 = 9, EFAULT: Int32 = 14
    public static let EBUSY: Int32 = 16, EINVAL: Int32 = 22, EACCES: Int32 = 13, EMSGSIZE: Int32 = 90
    public static let E2BIG: Int32 = 7, ENOMEM: Int32 = 12, EEXIST: Int32 = 17, ECANCELED: Int32 = 125, ENOTCONN: Int32 = 107

    public static func name(_ err: Int32) -> String {
        if let c = rf_errno_name(err) { return String(cString: c) }
        return "errno \(err)"
    }

    private static let byName: [String: Int32] = {
        var table: [String: Int32] = [:]
        for e in Int32(1)...Int32(4095) {
            if let c = rf_errno_name(e) { table[String(cString: c)] = e }
        }
        return table
    }()

    public static func number(_ name: String) -> Int32? { byName[name] }

    /// "-EACCES" for -13, "0" for 0, "5" for 5.
    public static func describe(result: Int32) -> String {
        result < 0 ? "-" + name(-result) : String(result)
    }
}
