#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
/// `connect:` targets in case files: "127.0.0.1:80", "[::1]:443", "unix:/run/x.sock".
/// Produces the sockaddr bytes CONNECT points at and the socket to connect from.
enum SocketAddress {
    static let afUnix: Int32 = 1, afInet: Int32 = 2, afInet6: Int32 = 10, sockStream: Int32 = 1

    static func parse(_ text: String, field: YAMLField) throws -> (SocketSpec, [UInt8]) {
        if text.hasPrefix("unix:") {
            let path = Array(text.dropFirst(5).utf8)
            guard path.count < 108 else { throw field.error("unix socket path longer than 107 bytes") }
            var img = ByteImage(size: 2 + path.count + 1)
            img.store(UInt16(afUnix), at: 0)
            for (i, b) in path.enumerated() { img.store(b, at: 2 + i) }
            return (SocketSpec(domain: afUnix, type: sockStream, proto: 0), img.bytes)
        }
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw field.error("expected ADDRESS:PORT, [IPV6]:PORT or unix:PATH")
        }
        let host = String(text[..<colon])
        let portBE = port.bigEndian
        if host.hasPrefix("[") && host.hasSuffix("]") {
            guard let addr = parseIPv6(String(host.dropFirst().dropLast())) else { throw field.error("bad IPv6 address '\(host)'") }
            var img = ByteImage(size: 28)   // sockaddr_in6
            img.store(UInt16(afInet6), at: 0)
            img.store(portBE, at: 2)
            for (i, b) in addr.enumerated() { img.store(b, at: 8 + i) }
            return (SocketSpec(domain: afInet6, type: sockStream, proto: 0), img.bytes)
        }
        guard let addr = parseIPv4(host) else { throw field.error("bad IPv4 address '\(host)'") }
        var img = ByteImage(size: 16)   // sockaddr_in
        img.store(UInt16(afInet), at: 0)
        img.store(portBE, at: 2)
        for (i, b) in addr.enumerated() { img.store(b, at: 4 + i) }
        return (SocketSpec(domain: afInet, type: sockStream, proto: 0), img.bytes)
    }

    static func parseIPv4(_ s: String) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }

    static func parseIPv6(_ s: String) -> [UInt8]? {
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            part.isEmpty ? [] : part.split(separator: ":", omittingEmptySubsequences: false).map { UInt16($0, radix: 16) }.reduce([UInt16]()) { acc, g in g.map { acc + [$0] } ?? acc }
        }
        guard let head = groups(halves[0]) else { return nil }
        let tail = halves.count == 2 ? (groups(halves[1]) ?? []) : []
        let fill = 8 - head.count - tail.count
        guard fill >= 0, halves.count == 2 || fill == 0 else { return nil }
        let all = head + Array(repeating: 0, count: fill) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }
}
