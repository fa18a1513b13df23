import Foundation

/// A registration's program for each target: little- and big-endian, and
/// the instructions whose k carries an open flag whose value is per
/// architecture (#O_LARGEFILE, #O_DIRECTORY, …: SymbolicConstant.archOpenFlags),
/// with k without them per order and the C names to OR in; found by
/// assembling again with each such flag 0.
struct ProgramVariants {
    var little: [BPFInstruction]
    var big: [BPFInstruction]
    var arch: [Int: (little: UInt32, big: UInt32, names: [String])] = [:]

    init(little: [BPFInstruction], big: [BPFInstruction]) {
        self.little = little
        self.big = big
    }

    init(_ reg: FilterRegistration) throws {
        little = reg.program
        big = try reg.program(for: AsmTarget(byteOrder: .big))
        guard big.count == little.count else { throw AssemblyError(line: 1, message: "big-endian program length differs") }
        let upper = reg.programSource.uppercased()
        let used = SymbolicConstant.archOpenFlags.filter { upper.contains($0.name) }
        guard !used.isEmpty else { return }
        func without(_ names: [String], _ order: ByteOrder) throws -> [BPFInstruction] {
            var t = AsmTarget(byteOrder: order)
            for n in names { if n == "O_LARGEFILE" { t.oLargefile = 0 } else { t.openFlags[n] = 0 } }
            return try reg.program(for: t)
        }
        let l0 = try without(used.map(\.name), .little), b0 = try without(used.map(\.name), .big)
        for pc in little.indices where l0[pc].k != little[pc].k {
            var names: [String] = []
            for f in used where try without([f.name], .little)[pc].k != little[pc].k { names.append(f.c) }
            arch[pc] = (l0[pc].k, b0[pc].k, names)
        }
    }
}
