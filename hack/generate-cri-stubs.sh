#!/usr/bin/env bash
# Regenerates Sources/CRI/Generated from proto/cri/api.proto (by hand; the output is committed).
# Same scratch plugins package as hack/generate-etcd-stubs.sh (protoc-gen-swift and
# protoc-gen-grpc-swift-2 take minutes to build); needs Debian's protobuf-compiler.
# Public visibility (the kubelet uses the types); server stubs too, for the in-process fake CRI.
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
out=Sources/CRI/Generated
mkdir -p "$out"
rm -f "$out"/*.swift
protoc --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    -I proto/cri --swift_out=Visibility=Public:"$out" \
    --grpc-swift_out=Visibility=Public,Client=true,Server=true:"$out" proto/cri/api.proto
echo "regenerated $out"
