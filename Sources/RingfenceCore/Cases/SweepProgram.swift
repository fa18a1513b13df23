/// The programs of a sweep (`for: { n: "1..1000" }` on a register step),
/// one per value, without assembling the text once per value: under TCG one
/// assembly costs about 150 µs, as much as the registration it feeds, and the
/// default suite sweeps about 1,700 values.
///
/// The template is assembled with two probe values. Where the two programs
/// agree, a field is constant; where each holds its probe value, the field
/// is the variable itself, and every other value is patched in. Anything
/// else (the variable inside an expression such as `$n|1`, changing the
/// program's length, a probe the assembler refuses, a value too wide for a
/// 16-bit code or 8-bit jump field) falls back to assembling the substituted
/// text, so the program for each value is always the one `Assembler.assemble`
/// gives (WorkerTests checks it for every sweep in cases/).
public struct SweepProgram {
    private enum Field { case code, jt, jf, k }
    private let sweep: Sweep
    private let source: String
    /// The assembled template and the fields that carry the variable; nil: assemble per value.
    private let template: (program: [BPFInstruction], slots: [(Int, Field)])?

    /// Two values no sweep in cases/ starts from, small enough for every field
    /// and a multiple of 4 (`ld [$off]` stays an aligned context load).
    static let probes: (UInt32, UInt32) = (0x24, 0x38)

    public init(sweep: Sweep, source: String) {
        self.sweep = sweep
        self.source = source
        template = Self.analyse(sweep: sweep, source: source)
    }

    private static func analyse(sweep: Sweep, source: String) -> (program: [BPFInstruction], slots: [(Int, Field)])? {
        guard source.contains("$" + sweep.variable) else {
            guard let p = try? Assembler.assemble(source) else { return nil }
            return (p, [])
        }
        let (v1, v2) = probes
        guard let a = try? Assembler.assemble(sweep.substitute(source, v1)),
              let b = try? Assembler.assemble(sweep.substitute(source, v2)), a.count == b.count else { return nil }
        var slots: [(Int, Field)] = []
        for i in a.indices {
            let pairs: [(Field, UInt32, UInt32)] = [(.code, UInt32(a[i].code), UInt32(b[i].code)), (.jt, UInt32(a[i].jt), UInt32(b[i].jt)),
                                                    (.jf, UInt32(a[i].jf), UInt32(b[i].jf)), (.k, a[i].k, b[i].k)]
            for (field, x, y) in pairs where x != y {
                guard x == v1 && y == v2 else { return nil }
                slots.append((i, field))
            }
        }
        return (a, slots)
    }

    /// The program for `value`, or nil when its text does not assemble.
    public func program(for value: UInt32) -> [BPFInstruction]? {
        if let (program, slots) = template {
            var p = program
            var fits = true
            for (i, field) in slots {
                switch field {
                case .code: if value <= 0xffff { p[i].code = UInt16(value) } else { fits = false }
                case .jt: if value <= 0xff { p[i].jt = UInt8(value) } else { fits = false }
                case .jf: if value <= 0xff { p[i].jf = UInt8(value) } else { fits = false }
                case .k: p[i].k = value
                }
            }
            if fits { return p }
        }
        return try? Assembler.assemble(sweep.substitute(source, value))
    }
}
