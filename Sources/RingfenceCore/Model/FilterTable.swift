// struct io_bpf_filters (io_uring/bpf_filter.c): one stack of filters per opcode,
// newest first, plus the dummy_filter that IO_URING_BPF_FILTER_DENY_REST puts in
// every empty slot.
//
// The kernel shares a filter set between a task and the rings (and children) that
// cloned it, and copies it on the first write (io_bpf_filter_clone / io_bpf_filter_cow;
// filters are only ever pushed on the front of a list, so sharing list tails is safe).
// Observably that is value semantics: whoever registers next sees its own copy and
// no one else's view changes. A Swift struct of arrays is exactly that.

/// One registered program (shared, immutable).
public final class InstalledFilter: @unchecked Sendable {
    public let id: Int
    /// The program after io_uring_check_cbpf_filter()'s rewrites.
    public let program: [BPFInstruction]
    init(id: Int, program: [BPFInstruction]) { self.id = id; self.program = program }
}

public struct FilterTable: Equatable {
    public struct Slot: Equatable {
        /// Newest first, as filter->next links them.
        public var filters: [InstalledFilter] = []
        /// The list ends in dummy_filter: the slot held the dummy when the first real filter
        /// was pushed on it (or holds only the dummy). Such a slot always denies.
        public var endsInDummy = false
        public var isEmpty: Bool { filters.isEmpty && !endsInDummy }

        public static func == (a: Slot, b: Slot) -> Bool {
            a.endsInDummy == b.endsInDummy && a.filters.map(\.id) == b.filters.map(\.id)
        }
    }

    public private(set) var slots: [UInt32: Slot] = [:]
    public init() {}

    public func slot(_ opcode: UInt32) -> Slot { slots[opcode] ?? Slot() }

    /// io_register_bpf_filter()'s insertion: push on the opcode's list; with DENY_REST
    /// fill every other empty slot below IORING_OP_LAST with the dummy.
    public mutating func install(_ filter: InstalledFilter, opcode: UInt32, denyRest: Bool, opcodeLast: UInt32) {
        var s = slot(opcode)
        s.filters.insert(filter, at: 0)
        slots[opcode] = s
        if denyRest {
            for op in 0..<opcodeLast where op != opcode && slot(op).isEmpty {
                slots[op] = Slot(filters: [], endsInDummy: true)
            }
        }
    }

    public enum Verdict: Equatable, Sendable {
        case allowed
        /// Denied; `ranFilters` says whether any program ran (false for a bare dummy).
        case denied(ranFilters: Int)
    }

    /// __io_uring_run_bpf_filters(): all filters must return non-zero; the dummy denies.
    /// `context` is built lazily: the kernel populates it only when a real filter runs.
    public func evaluate(opcode: UInt32, context: () -> [UInt8]) -> Verdict {
        let s = slot(opcode)
        if s.isEmpty { return .allowed }
        if s.filters.isEmpty { return .denied(ranFilters: 0) }
        let ctx = context()
        var ran = 0
        for f in s.filters {
            ran += 1
            let ret = (try? CBPFInterpreter.run(f.program, context: ctx)) ?? 0
            if ret == 0 { return .denied(ranFilters: ran) }
        }
        return s.endsInDummy ? .denied(ranFilters: ran) : .allowed
    }

    public var isEmpty: Bool { slots.values.allSatisfy(\.isEmpty) }
}

/// struct io_restriction: the legacy/task restriction sets plus the filter table.
public struct Restrictions: Equatable {
    public var registerOps: Set<UInt8> = []
    public var sqeOps: Set<UInt8> = []
    public var sqeFlagsAllowed: SQEFlags = []
    public var sqeFlagsRequired: SQEFlags = []
    public var opRegistered = false
    public var regRegistered = false
    /// res->bpf_filters; nil until the first filter.
    public var filters: FilterTable?
    public init() {}

    /// io_parse_restrictions(): the count parsed or -errno. On error `self` holds
    /// whatever was set before the bad entry (callers reset or discard it).
    mutating func parse(_ entries: [UInt8], count nrArgs: UInt32, semantics: KernelSemantics) -> Int32 {
        typealias R = FilterABI.Restriction
        for i in 0..<Int(nrArgs) {
            let img = ByteImage(bytes: Array(entries[(i * R.size)..<((i + 1) * R.size)]))
            let kind = img.load(UInt16.self, at: R.opcode)
            let value = img.load(UInt8.self, at: R.value)
            switch kind {
            case R.kindRegisterOp:
                if UInt32(value) >= ReferenceKernel.registerLast { return -Errno.EINVAL }
                registerOps.insert(value); regRegistered = true
            case R.kindSQEOp:
                if UInt32(value) >= semantics.opcodeLast { return -Errno.EINVAL }
                sqeOps.insert(value); opRegistered = true
            case R.kindSQEFlagsAllowed:
                sqeFlagsAllowed = SQEFlags(rawValue: value); opRegistered = true
            case R.kindSQEFlagsRequired:
                sqeFlagsRequired = SQEFlags(rawValue: value); opRegistered = true
            default:
                return -Errno.EINVAL
            }
        }
        if nrArgs == 0 { opRegistered = true; regRegistered = true }
        return Int32(nrArgs)
    }
}
