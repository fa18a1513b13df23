import ArgumentParser
import RingfenceKit
import RingfenceCLI

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the cases as a C kselftest (KTAP, static, any architecture with a C cross compiler).",
        discussion: """
        Writes io_uring_bpf_filter.c (one function per case), ringfence_rt.h (raw
        io_uring syscalls, no liburing), io_uring_bpf_filter.h (the filter UAPI for
        headers older than 7.0), Makefile (CC / CROSS_COMPILE, static), config,
        settings and NOT-EXPORTED (cases the C form cannot express yet, with the
        reason). docs/architectures.md says how to build and boot it.
        """)

    @Option(name: .long, help: "Directory to write (new, empty, or an earlier export).")
    var kselftest: String

    @Option(name: .long, help: "Directory of case files, or one case file.")
    var cases = "cases"

    func run() throws {
        let all = try loadCases(cases)
        let export = KselftestExport(cases: all)
        do { try export.write(to: kselftest) } catch let e as ExportError {
            warn("ringfence export: \(e)")
            throw ExitCode(Exit.usage)
        } catch {
            warn("ringfence export: \(kselftest): cannot write (\(error.localizedDescription)); name a writable directory")
            throw ExitCode(Exit.usage)
        }
        let share = KselftestExport.standardShare(cases: all, export: export)
        let pct = share.total == 0 ? 0 : Double(share.exported) * 100 / Double(share.total)
        print("ringfence export: \(export.exported.count) of \(all.count) cases exported to \(kselftest) "
              + "(standard tier \(share.exported) of \(share.total), \(String(format: "%.1f", pct)) %); "
              + "\(export.notExported.count) listed in \(kselftest)/\(KselftestExport.notExportedFile)")
    }
}
