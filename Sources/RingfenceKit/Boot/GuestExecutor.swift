/// What runs the cases in the guest (`ringfence vm --executor`): the Swift
/// guest (`ringfence-guest` as /init, x86_64 only: it is built for the host),
/// or the cases exported as C (`ringfence export --kselftest`), compiled
/// statically for the guest's architecture and booted as the only /init
/// (`VMRunner.runExported`). arm64 and s390x always run the C program;
/// on x86_64 it is how `ci/kselftest-agree.sh` checks that the two agree.
public enum GuestExecutor: String, CaseIterable, Sendable {
    case swift, kselftest

    /// The executor a run gets when --executor is not given.
    public static func `default`(for arch: GuestArch) -> GuestExecutor { arch == .x86_64 ? .swift : .kselftest }
}
