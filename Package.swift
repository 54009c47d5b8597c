// swift-tools-version:6.0
// pvmh — a protected-VM lifecycle harness. No package dependencies: it must
// build on an offline board with only a Swift toolchain (6.2 or 6.3).
import PackageDescription

let package = Package(
    name: "pvmh",
    products: [
        .executable(name: "pvmh", targets: ["pvmh"]),
    ],
    targets: [
        // uapi definitions Debian 12's headers lack, non-variadic ioctl
        // wrappers returning -errno, and the few signal-handling pieces that
        // must be async-signal-safe C. One file per concern (abi, syscalls,
        // signals, spawn, probes); imported only by KVM and System.
        .target(name: "CKVM"),
        // Typed Swift over /dev/kvm.
        .target(name: "KVM", dependencies: ["CKVM"]),
        // The small Swift system layer the rest uses instead of the C shim:
        // one clock, one subprocess runner, signals, guarded host reads.
        .target(name: "System", dependencies: ["CKVM"]),
        // The range-based ownership ledger (pure Swift).
        .target(name: "Ownership"),
        // ELF64 loader and the built-in guest images (pure Swift).
        .target(name: "GuestImage"),
        // A64 instruction decoder and interpreter (pure Swift).
        .target(name: "A64"),
        // Platform protocol, lifecycle, teardown plans, journal.
        .target(name: "Lifecycle", dependencies: ["System", "Ownership", "GuestImage"]),
        // The pKVM model: a software EL2 with pKVM's ownership state machine
        // and the A64 interpreter as its vCPU, so arm64 guests run anywhere.
        .target(name: "PKVMModel", dependencies: ["A64", "Lifecycle", "Ownership", "GuestImage"]),
        // Platform implementations (real KVM).
        .target(name: "Platforms", dependencies: ["KVM", "System", "Lifecycle", "Ownership", "GuestImage"]),
        // A run seen over time, as further sinks of the lifecycle's event
        // stream: the Perfetto trace and the SVG map of page ownership.
        .target(name: "Timeline", dependencies: ["Lifecycle", "Ownership"]),
        // The teardown-ordering regression suite: scenarios, verdicts, KTAP.
        .target(name: "Checks", dependencies: ["Timeline", "Platforms", "PKVMModel", "Lifecycle", "KVM", "System", "Ownership", "GuestImage"]),
        // The command line: parsing, commands and everything formatted for humans.
        .target(name: "PVMHCommand", dependencies: ["Bench", "Checks", "Timeline", "Platforms", "PKVMModel", "Lifecycle", "KVM", "Ownership", "GuestImage"]),
        .executableTarget(name: "pvmh", dependencies: ["PVMHCommand"]),
        // The raw-ioctl baseline `pvmh bench` compares against (C, no VMM
        // logic); main.c is the same code as its own process, built by the
        // bench with the toolchain's clang.
        .target(name: "CBaseline", path: "Benchmarks/baseline", exclude: ["main.c"]),
        // `pvmh bench`: the measurements (the CLI only formats them).
        .target(name: "Bench", dependencies: ["CBaseline", "Platforms", "PKVMModel", "Lifecycle", "KVM", "System", "Ownership", "GuestImage"]),

        // Helpers shared by the test targets (ELF images made in memory, the KVM gate).
        .target(name: "PVMHTestSupport", dependencies: ["KVM", "Lifecycle"], path: "Tests/Support"),
        .testTarget(name: "KVMTests", dependencies: ["KVM", "CKVM", "PVMHTestSupport"]),
        .testTarget(name: "OwnershipTests", dependencies: ["Ownership"]),
        .testTarget(name: "GuestImageTests", dependencies: ["GuestImage"]),
        .testTarget(name: "A64Tests", dependencies: ["A64"]),
        .testTarget(name: "ModelTests", dependencies: ["PKVMModel", "A64", "Lifecycle", "Ownership", "GuestImage", "PVMHTestSupport"]),
        .testTarget(name: "ChecksTests", dependencies: ["Checks", "Platforms", "Lifecycle", "PVMHTestSupport"]),
        .testTarget(name: "LifecycleTests", dependencies: ["Lifecycle", "Timeline", "Platforms", "PKVMModel", "KVM", "System", "Ownership", "GuestImage", "PVMHTestSupport"]),
        .testTarget(name: "PVMHTests", dependencies: ["PVMHCommand", "pvmh", "PVMHTestSupport"]),
        // The bench's statistics, and its --quick path as a smoke test (values never asserted).
        .testTarget(name: "BenchTests", dependencies: ["Bench", "GuestImage", "Ownership", "pvmh"]),
        // Misbehaving guests on the model and x86 KVM (bad hypercalls, storms,
        // exception loops, wild writes) and the fuzzers' regressions. The
        // guests' assembly sources live in Guests/ (assembled by Guests/assemble).
        .testTarget(name: "BadInputTests", dependencies: ["PKVMModel", "Platforms", "KVM", "Lifecycle", "Ownership", "GuestImage", "A64", "PVMHTestSupport"],
                    exclude: ["Guests"]),
    ],
    swiftLanguageModes: [.v6]
)
