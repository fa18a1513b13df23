// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "ringfence",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ringfence", targets: ["ringfence"]),
        .executable(name: "ringfence-guest", targets: ["ringfence-guest"]),
        .library(name: "RingfenceKit", targets: ["RingfenceKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", exact: "2.0.1"),
    ],
    targets: [
        // Raw syscalls (syscall(2) is variadic and cannot be called from Swift),
        // liburing and libkmod headers, and the PID-1 bootstrap constructor.
        .target(
            name: "CRingfence",
            linkerSettings: [
                // Debian's liburing.a: the binary carries its own liburing, whatever the guest has.
                .linkedLibrary(":liburing.a"),
            ]
        ),
        // Everything the guest runs: cases, runner, reports, fuzzer, model.
        // Imports FoundationEssentials only (no ICU data) and no Yams, so
        // ringfence-guest stays small; see docs/guest-binary.md.
        .target(
            name: "RingfenceCore",
            dependencies: ["CRingfence"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // The host side: YAML, kernels, QEMU, builds. Re-exports RingfenceCore.
        .target(
            name: "RingfenceKit",
            dependencies: ["RingfenceCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // The subcommands both executables have (run, list, probe, fuzz, bench, asm, selftest-fault).
        .target(
            name: "RingfenceCLI",
            dependencies: ["RingfenceCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .executableTarget(
            name: "ringfence",
            dependencies: ["RingfenceKit", "RingfenceCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // The VM guest's /init: one static executable (glibc included), no
        // shared libraries in the initramfs.
        .executableTarget(
            name: "ringfence-guest",
            dependencies: ["RingfenceCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: [.swiftLanguageMode(.v5)],
            linkerSettings: [.unsafeFlags(["-static-executable"]), .linkedLibrary("_FoundationCollections"), .linkedLibrary("_FoundationCShims"), .linkedLibrary("swiftSynchronization")]
        ),
        // Offsets and encodings computed by the C compiler from kernel headers.
        .target(name: "CKernelABI", path: "Tests/CKernelABI"),
        .testTarget(
            name: "RingfenceKitTests",
            dependencies: ["RingfenceKit", "CKernelABI", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
