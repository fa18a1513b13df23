import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RingfenceCore

public struct AsmCommand: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "asm",
        abstract: "Assemble a filter program (bpf_asm syntax plus named context fields) or disassemble one.",
        discussion: """
        Examples:
          ringfence asm 'ld [opcode]; jeq #IORING_OP_NOP, ok; ret #0; ok: ret #1'
          echo '{ 0x20, 0, 0, 0x00000008 }' | ringfence asm --disassemble
          ringfence asm --byte-order big 'ld [sqe_flags]; ret a'   # as s390x loads it
        """)

    @Argument(help: "Program text; read from standard input when omitted or '-'.")
    var program: String?

    @Flag(name: .long, help: "Treat the input as instructions ({ code, jt, jf, k } lines) and print the listing.")
    var disassemble = false

    @Option(name: .long, help: ArgumentHelp("Assemble for this byte order: little (x86_64, arm64) or big (s390x); default: this machine's. Sub-word context fields, u64 halves, #htons, #ipv4 and #ipv6 depend on it (docs/architectures.md).", valueName: "ORDER"))
    var byteOrder: ByteOrder = .host

    public func run() throws {
        let text: String
        if let program, program != "-" {
            text = program
        } else {
            text = String(decoding: readStandardInput(), as: UTF8.self)
        }
        let insns: [BPFInstruction]
        do { insns = try Assembler.assemble(text, byteOrder: byteOrder) } catch let e as AssemblyError {
            warn("ringfence asm: line \(e.line): \(e.message)")
            throw ExitCode(Exit.usage)
        }
        print(Disassembler.listing(insns))
        if !disassemble {
            for i in insns {
                print(cFormat("{ 0x%02x, %d, %d, 0x%08x },", i.code, i.jt, i.jf, i.k))
            }
        }
    }
}

extension ByteOrder: ExpressibleByArgument {}
