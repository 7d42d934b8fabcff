#!/usr/bin/env bash
# Regenerates Sources/StorageEtcd/Generated from proto/etcd/*.proto (by hand; the output is
# committed). Builds protoc-gen-swift and protoc-gen-grpc-swift-2 in a scratch package outside the
# repo, since the plugins take minutes to build; needs Debian's protobuf-compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh protobuf-compiler
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
(cd "$scratch" && swift build -c release --product protoc-gen-swift && swift build -c release --product protoc-gen-grpc-swift-2)
bin=$(cd "$scratch" && swift build -c release --show-bin-path)
out=Sources/StorageEtcd/Generated
rm -f "$out"/*.swift
protoc --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    -I proto/etcd --swift_out=Visibility=Package:"$out" \
    --grpc-swift_out=Visibility=Package,Client=true,Server=false:"$out" proto/etcd/kv.proto proto/etcd/rpc.proto
rm -f "$out/kv.grpc.swift"  # kv.proto has no services
echo "regenerated $out"
