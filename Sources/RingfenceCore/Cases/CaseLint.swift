/// What `ringfence lint` asks of a case beyond loading and assembling (issue 24):
/// a `why:` line naming the kernel function, and its file, that decides the
/// case's outcome, so a failure points a reader at the code to read.
/// Only lint asks it: `run`, `vm` and the fuzzer load cases without a `why:`
/// (a case written on the fly, e.g. by ci/faults-cli.sh, runs as it is).
/// A case that has other errors is reported for those first.
public enum CaseLint {
    /// One error per case whose `why:` is missing or blank, at the case's `- name:` line.
    public static func missingWhy(_ cases: [TestCase]) -> [CaseFileError] {
        cases.filter { ($0.why ?? "").trimmingBlanks().isEmpty }.map { c in
            CaseFileError(
                file: c.location.file, line: c.location.line, field: "why",
                message: "case '\(c.name)' has no why:; add one line 'why: ...' right after its name "
                    + "naming the kernel function and file that decide its outcome, e.g. "
                    + "'why: io_bpf_filter_import() (io_uring/bpf_filter.c) rejects flags outside DENY_REST | SZ_STRICT' "
                    + "(docs/writing-cases.md)")
        }
    }
}
