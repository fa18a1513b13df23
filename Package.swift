// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "ringfence",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ringfence", targets: ["ringfence"]),
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
                .linkedLibrary("kmod"),
            ]
        ),
        .target(
            name: "RingfenceKit",
            dependencies: ["CRingfence", .product(name: "Yams", package: "Yams")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .executableTarget(
            name: "ringfence",
            dependencies: ["RingfenceKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: [.swiftLanguageMode(.v5)]
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
