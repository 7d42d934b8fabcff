// swift-tools-version:6.1
import PackageDescription

/// The API group modules, generated from the OpenAPI spec. Each depends on APIMachinery and on the
/// groups whose types it embeds (most embed core/v1 pod templates or object references).
let apiGroups: [(name: String, deps: [String])] = [
    ("APICore", []),
    ("APIAdmission", ["APIAuthentication"]),
    ("APIAdmissionRegistration", []),
    ("APIAggregatedDiscovery", []),
    ("APIApps", ["APICore"]),
    ("APIAuthentication", []),
    ("APIAuthorization", []),
    ("APIAutoscaling", []),
    ("APIBatch", ["APICore"]),
    ("APICertificates", []),
    ("APICoordination", []),
    ("APIDiscovery", ["APICore"]),
    ("APIEvents", ["APICore"]),
    ("APIExtensions", []),
    ("APIFlowControl", []),
    ("APINetworking", ["APICore"]),
    ("APINode", ["APICore"]),
    ("APIPolicy", []),
    ("APIRBAC", []),
    ("APIRegistration", []),
    ("APIResource", ["APICore"]),
    ("APIScheduling", []),
    ("APIServerInternal", []),
    ("APIStorage", ["APICore"]),
    ("APIStorageMigration", []),
]

var targets: [Target] = [
    .target(
        name: "APIMachinery",
        dependencies: ["CBuildInfo", .product(name: "Yams", package: "Yams")],
        path: "Sources/APIMachinery"
    ),
    .target(name: "CBuildInfo", path: "Sources/CBuildInfo"),
    .target(name: "CEL", path: "Sources/CEL"),
    .target(name: "CodeGen", path: "Sources/CodeGen"),
    .executableTarget(name: "k8swift-codegen", dependencies: ["CodeGen"], path: "Sources/k8swift-codegen"),
    .executableTarget(
        name: "k8swift",
        dependencies: [
            "KubernetesAPI", "APIServer", "KubeClient", "ControllerRuntime", "Controllers", "Scheduler", "Kubelet",
            "Proxy", "ClusterDNS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Crypto", package: "swift-crypto"),
        ],
        path: "Sources/k8swift"
    ),
    .target(
        name: "KubernetesAPI",
        dependencies: ["APIMachinery"] + apiGroups.map { .target(name: $0.name) },
        path: "Sources/KubernetesAPI"
    ),
    .executableTarget(
        name: "k8swift-bench", dependencies: ["KubernetesAPI", "CEL", "Scheduler"], path: "Benchmarks/k8swift-bench"),
    .executableTarget(
        name: "k8swift-etcd-bench", dependencies: ["StorageEtcd", "StorageTesting"],
        path: "Benchmarks/k8swift-etcd-bench"),
    .target(name: "APITesting", dependencies: ["APIMachinery"], path: "Sources/APITesting"),
    .target(name: "Storage", path: "Sources/Storage"),
    .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
    .target(name: "StorageSQLite", dependencies: ["Storage", "CSQLite"], path: "Sources/StorageSQLite"),
    .target(name: "StorageTesting", dependencies: ["Storage"], path: "Sources/StorageTesting"),
    .target(
        name: "StorageEtcd",
        dependencies: [
            "Storage",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "NIOHPACK", package: "swift-nio-http2"),
        ],
        path: "Sources/StorageEtcd"
    ),
    .target(
        name: "HTTPServing",
        dependencies: [
            "CZlib",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ],
        path: "Sources/HTTPServing",
        swiftSettings: [.swiftLanguageMode(.v5)]
    ),
    .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
    .testTarget(
        name: "HTTPServingTests",
        dependencies: [
            "HTTPServing", "CZlib",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ],
        path: "Tests/HTTPServingTests"),
    .target(
        name: "APIServer",
        dependencies: [
            "KubernetesAPI", "Storage", "StorageSQLite", "StorageEtcd", "CEL", "HTTPServing",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ],
        path: "Sources/APIServer",
        swiftSettings: [.swiftLanguageMode(.v5)]
    ),
    .target(
        name: "KubeClient",
        dependencies: [
            "KubernetesAPI",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "NIOHPACK", package: "swift-nio-http2"),
        ],
        path: "Sources/KubeClient"
    ),
    .target(name: "ControllerRuntime", dependencies: ["KubeClient"], path: "Sources/ControllerRuntime"),
    .target(
        name: "Controllers",
        dependencies: [
            "ControllerRuntime",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ],
        path: "Sources/Controllers"),
    .target(name: "Scheduler", dependencies: ["ControllerRuntime"], path: "Sources/Scheduler"),
    .target(
        name: "Proxy",
        dependencies: [
            "ControllerRuntime", "HTTPServing",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ],
        path: "Sources/Proxy"),
    .testTarget(name: "ProxyTests", dependencies: ["Proxy"], path: "Tests/ProxyTests"),
    .target(
        name: "ClusterDNS",
        dependencies: [
            "ControllerRuntime", "HTTPServing",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ],
        path: "Sources/ClusterDNS"),
    .testTarget(name: "ClusterDNSTests", dependencies: ["ClusterDNS"], path: "Tests/ClusterDNSTests"),
    .target(
        name: "CRI",
        dependencies: [
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ],
        path: "Sources/CRI"),
    .target(
        name: "Kubelet",
        dependencies: [
            "ControllerRuntime", "CRI", "HTTPServing",
            .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ],
        path: "Sources/Kubelet"),
    .testTarget(
        name: "KubeletTests",
        dependencies: [
            "Kubelet",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        ],
        path: "Tests/KubeletTests"),
    .testTarget(name: "SchedulerTests", dependencies: ["Scheduler"], path: "Tests/SchedulerTests"),
    .testTarget(
        name: "KubeClientTests",
        dependencies: [
            "KubeClient",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
        ],
        path: "Tests/KubeClientTests"),
    .testTarget(
        name: "ControllerRuntimeTests", dependencies: ["ControllerRuntime"], path: "Tests/ControllerRuntimeTests"),
    .testTarget(name: "ControllersTests", dependencies: ["Controllers"], path: "Tests/ControllersTests"),
    .testTarget(name: "APIServerTests", dependencies: ["APIServer"], path: "Tests/APIServerTests"),
    .testTarget(
        name: "E2ETests", dependencies: ["StorageTesting", "APIMachinery", "APICore", "APIApps", "Kubelet", "CRI"],
        path: "Tests/E2ETests", exclude: ["python"]),
    .testTarget(
        name: "StorageSQLiteTests", dependencies: ["StorageSQLite", "StorageTesting"], path: "Tests/StorageSQLiteTests"),
    .testTarget(
        name: "StorageEtcdTests",
        dependencies: ["StorageEtcd", "StorageTesting", .product(name: "NIOEmbedded", package: "swift-nio")],
        path: "Tests/StorageEtcdTests"),
    .testTarget(name: "APITestingTests", dependencies: ["APITesting"], path: "Tests/APITestingTests"),
    .testTarget(name: "APIMachineryTests", dependencies: ["APIMachinery"], path: "Tests/APIMachineryTests"),
    .testTarget(name: "KubernetesAPITests", dependencies: ["KubernetesAPI"], path: "Tests/KubernetesAPITests"),
    .testTarget(name: "CodeGenTests", dependencies: ["CodeGen"], path: "Tests/CodeGenTests"),
    .testTarget(name: "CELTests", dependencies: ["CEL"], path: "Tests/CELTests", exclude: ["Fixtures"]),
]
for g in apiGroups {
    targets.append(
        .target(
            name: g.name,
            dependencies: ["APIMachinery"] + g.deps.map { .target(name: $0) },
            path: "Sources/\(g.name)"
        )
    )
}

let package = Package(
    name: "k8swift",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "k8swift", targets: ["k8swift"]),
        .executable(name: "k8swift-codegen", targets: ["k8swift-codegen"]),
        .executable(name: "k8swift-bench", targets: ["k8swift-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.3.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.0"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: targets
)
