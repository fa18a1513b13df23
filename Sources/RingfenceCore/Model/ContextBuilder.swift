// io_uring_populate_bpf_ctx() (io_uring/bpf_filter.c) and the per-opcode populate
// hooks: what a filter's loads see for a request that passed io_init_req().
//
//   user_data  = req->cqe.user_data
//   opcode     = req->opcode
//   sqe_flags  = req->flags & SQE_VALID_FLAGS  (so bits io_init_req/prep set show:
//                IOSQE_ASYNC from REQ_F_FORCE_ASYNC, IOSQE_IO_DRAIN, IOSQE_FIXED_FILE)
//   pdu_size.. = zeroed, then def->filter_pdu_size and def->filter_populate():
//     SOCKET   io_socket_bpf_populate   family, type [& SOCK_TYPE_MASK], protocol
//     OPENAT/2 io_openat_bpf_populate   open_how flags, mode, resolve (u64 each)
//     CONNECT  io_connect_bpf_populate  family if addr_len >= 2; port+v4 if AF_INET and
//                                       addr_len >= 16; port+v6 if AF_INET6 and addr_len >= 24

/// What prep left in the request that the context shows.
public enum RequestPayload: Equatable, Sendable {
    case none
    case socket(domain: Int32, type: Int32, proto: Int32)
    case open(flags: UInt64, mode: UInt64, resolve: UInt64)
    /// The sockaddr bytes move_addr_to_kernel() copied (addr_len of them).
    case connect(addrLen: Int32, address: [UInt8])
}

public enum ContextBuilder {
    static let sockTypeMask: Int32 = 0xf
    static let afInet: UInt16 = 2, afInet6: UInt16 = 10
    /// SIN6_LEN_RFC2133: the IPv6 stack accepts this short sockaddr_in6.
    static let sin6LenRFC2133: Int32 = 24

    public static func build(opcode: UInt32, requestFlags: SQEFlags, userData: UInt64, payload: RequestPayload,
                             semantics: KernelSemantics) -> [UInt8] {
        typealias C = FilterABI.Context
        var img = ByteImage(size: C.size)
        img.store(userData, at: C.userData)
        img.store(UInt8(truncatingIfNeeded: opcode), at: C.opcode)
        img.store(requestFlags.intersection(.valid).rawValue, at: C.sqeFlags)
        let pdu = semantics.contextSize(opcode: opcode)
        guard pdu > 0 else { return img.bytes }
        img.store(pdu, at: C.pduSize)
        switch payload {
        case .socket(let domain, let type, let proto):
            img.store(domain, at: C.Socket.family)
            img.store(semantics.socketTypeMasked ? type & sockTypeMask : type, at: C.Socket.type)
            img.store(proto, at: C.Socket.proto)
        case .open(let flags, let mode, let resolve):
            img.store(flags, at: C.Open.flags)
            img.store(mode, at: C.Open.mode)
            img.store(resolve, at: C.Open.resolve)
        case .connect(let addrLen, let addr):
            guard addrLen >= 2, addr.count >= 2 else { break }
            let a = ByteImage(bytes: addr + Array(repeating: 0, count: max(0, 28 - addr.count)))
            let family = a.load(UInt16.self, at: 0)
            img.store(UInt32(family), at: C.Connect.family)
            if family == afInet, addrLen >= 16 {
                img.store(a.load(UInt16.self, at: 2), at: C.Connect.port)
                for i in 0..<4 { img.store(a.bytes[4 + i], at: C.Connect.v4Addr + i) }
            } else if family == afInet6, addrLen >= sin6LenRFC2133 {
                img.store(a.load(UInt16.self, at: 2), at: C.Connect.port)
                for i in 0..<16 { img.store(a.bytes[8 + i], at: C.Connect.v6Addr + i) }
            }
        case .none:
            break
        }
        return img.bytes
    }
}
