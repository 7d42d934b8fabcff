#!/usr/bin/env bash
# Builds protoc-gen-swift and protoc-gen-grpc-swift-2 (minutes on 2 cores) in a scratch package
# outside the repo, installs Debian's protobuf-compiler, and prints the directory holding the two
# plugins. Used by the hack/generate-*-stubs.sh scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh protobuf-compiler >&2
scratch=${SCRATCH:-/tmp/k8swift-protoc-plugins}
mkdir -p "$scratch/Dummy"
cat > "$scratch/Package.swift" <<'SWIFT'
// swift-tools-version:6.1
import PackageDescription
let package = Package(
    name: "plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
    ],
    targets: [.target(name: "Dummy", path: "Dummy")]
)
SWIFT
echo "" > "$scratch/Dummy/d.swift"
(cd "$scratch" && swift build -c release --product protoc-gen-swift >&2 && swift build -c release --product protoc-gen-grpc-swift-2 >&2)
cd "$scratch" && swift build -c release --show-bin-path
