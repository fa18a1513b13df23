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
            let p = placement == .normal ? UserMemory.reusedPages(pages) : rf_map_pages(pages, 0)!
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
        guard let base else { return }
        UserMemory.live -= 1
        if placement == .normal, UserMemory.spare[mappedLength / UserMemory.pageSize, default: []].count < UserMemory.spareLimit {
            UserMemory.spare[mappedLength / UserMemory.pageSize, default: []].append(base)
        } else {
            munmap(base, mappedLength)
        }
    }

    /// Released `.normal` mappings by page count, for reuse: a case that
    /// registers a thousand filters no longer pays a thousand mmap/munmap
    /// pairs (and their TLB flushes, dear under TCG). Reused pages are zeroed
    /// in full, so the kernel sees exactly what a fresh mapping would hold.
    nonisolated(unsafe) private static var spare: [Int: [UnsafeMutableRawPointer]] = [:]
    private static let spareLimit = 4

    private static func reusedPages(_ pages: Int) -> UnsafeMutableRawPointer {
        if let p = spare[pages]?.popLast() {
            memset(p, 0, pages * pageSize)
            return p
        }
        return rf_map_pages(pages, 0)!
    }
}
