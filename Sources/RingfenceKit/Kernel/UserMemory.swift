import CRingfence
#if canImport(Glibc)
import Glibc
#endif

/// User memory laid out as a Placement asks, for pointers handed to the kernel.
/// Freed by `release()`; the fault placements never map what they point at.
struct UserMemory {
    let address: UInt64
    private let base: UnsafeMutableRawPointer?
    private let mappedLength: Int
    let placement: Placement
    let size: Int

    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    /// Placements mapped and not yet released (a shared worker checks it is 0 after each case).
    nonisolated(unsafe) static var live = 0

    init(bytes: [UInt8], placement: Placement) {
        self.placement = placement
        size = bytes.count
        let ps = UserMemory.pageSize
        switch placement {
        case .null:
            address = 0; base = nil; mappedLength = 0
        case .unmapped:
            address = UInt64(UInt(bitPattern: rf_unmapped_address())); base = nil; mappedLength = 0
        case .normal, .readOnly:
            let pages = max(1, (bytes.count + ps - 1) / ps)
            let p = rf_map_pages(pages, 0)!
            p.copyMemory(from: bytes, byteCount: bytes.count)
            if placement == .readOnly { _ = rf_protect_readonly(p, pages * ps) }
            address = UInt64(UInt(bitPattern: p)); base = p; mappedLength = pages * ps
        case .truncated(let n):
            let mapped = max(0, min(n, bytes.count, ps))
            let p = rf_tail_of_mapping(mapped)!
            p.copyMemory(from: bytes, byteCount: mapped)
            address = UInt64(UInt(bitPattern: p))
            base = p - (ps - mapped); mappedLength = 2 * ps   // data page + guard page
        }
        if base != nil { UserMemory.live += 1 }
    }

    /// The bytes as they are now (the kernel may have written into them).
    func read() -> [UInt8]? {
        guard case .normal = placement, let p = UnsafeRawPointer(bitPattern: UInt(address)) else {
            if case .readOnly = placement, let p = UnsafeRawPointer(bitPattern: UInt(address)) {
                return Array(UnsafeRawBufferPointer(start: p, count: size))
            }
            return nil
        }
        return Array(UnsafeRawBufferPointer(start: p, count: size))
    }

    func release() {
        if let base {
            munmap(base, mappedLength)
            UserMemory.live -= 1
        }
    }
}
