// Byte order in the case language (issue 26, docs/writing-cases.md "Byte
// order"). A case keeps its program text; `FilterRegistration.program(for:)`
// assembles it for another target (byte order, O_LARGEFILE) with the same
// padding, so the exporter can write each program for both byte orders. A
// case that cannot be byte-order neutral declares `byte_order:`; the Swift
// runner and the exported C program skip it on a machine of the other order.

/// A case's `byte_order: { order: little|big, reason: ... }`.
public struct DeclaredByteOrder: Sendable, Equatable, Codable {
    public var order: ByteOrder
    public var reason: String
    public init(order: ByteOrder, reason: String) { self.order = order; self.reason = reason }

    /// The skip reason on a machine of `host` order, or nil when the case runs there.
    public func skipReason(on host: ByteOrder) -> String? {
        host == order ? nil : "the case holds on \(order) machines only (byte_order: \(reason))"
    }
}

/// A raw `ld [k]` in a program, where the case file writes it.
public struct RawContextLoad: Sendable, Equatable, Codable {
    public var location: SourceLocation
    public var offset: UInt32
}

extension FilterRegistration {
    /// The program assembled for `target`: the same source and the same
    /// `padded_to` padding (both byte orders give as many instructions).
    public func program(for target: AsmTarget) throws -> [BPFInstruction] {
        if target == AsmTarget() { return program }
        let native = try Assembler.assemble(programSource)
        let other = try Assembler.assemble(programSource, target: target)
        guard other.count == native.count, program.count >= native.count else {
            throw AssemblyError(line: 1, message: "the program has \(other.count) instructions for \(target.byteOrder), \(native.count) for little-endian")
        }
        return Array(program.prefix(program.count - native.count)) + other
    }
}

extension CaseLint {
    /// Lint's byte-order rule: a raw `ld [k]` into a sub-word field or a u64
    /// half (user_data, the opcode/sqe_flags/pdu_size word, open_how's u64s
    /// for OPENAT/OPENAT2, connect's port word and address words for CONNECT)
    /// in a case whose filter runs (it submits) reads another field on a
    /// machine of the other byte order. Named fields are compiled for the
    /// target; a case that must depend on byte order declares `byte_order:`.
    public static func byteOrder(_ cases: [TestCase]) -> [CaseFileError] {
        var out: [CaseFileError] = []
        for c in cases where c.byteOrder == nil && submits(c.steps) {
            for (reg, opcode) in registrations(c.steps) {
                for load in reg.rawLoads {
                    guard let dep = ContextField.orderDependentWord(load.offset, opcode: opcode) else { continue }
                    out.append(CaseFileError(
                        file: load.location.file, line: load.location.line, field: "program",
                        message: "case '\(c.name)': ld [\(load.offset)] reads \(dep.what), which is another field on a machine "
                            + "of the other byte order; write \(dep.instead) (the assembler picks the word, shift and mask for "
                            + "the target), or declare the case's byte order: byte_order: { order: little, reason: \"...\" } "
                            + "(docs/writing-cases.md, \"Byte order\")"))
                }
            }
        }
        return out
    }

    static func submits(_ steps: [Step]) -> Bool {
        steps.contains { s in
            switch s {
            case .submit(_, let sqes, _, _): return !sqes.isEmpty
            case .fork(let inner, _), .thread(let inner, _): return submits(inner)
            case .exec(let e, _): return submits(e.before) || submits(e.steps)
            default: return false
            }
        }
    }

    /// Every registration with its opcode (nil: a sweep's variable or LAST).
    static func registrations(_ steps: [Step]) -> [(FilterRegistration, UInt32?)] {
        steps.flatMap { s -> [(FilterRegistration, UInt32?)] in
            switch s {
            case .register(let r, _, _), .sweep(_, let r, _, _):
                if case .sweep(let sw, _, _, _) = s, sw.opcodeFromVariable { return [(r, nil)] }
                if case .number(let n) = r.opcode { return [(r, n)] }
                return [(r, nil)]
            case .fork(let inner, _), .thread(let inner, _): return registrations(inner)
            case .exec(let e, _): return registrations(e.before) + registrations(e.steps)
            default: return []
            }
        }
    }
}
