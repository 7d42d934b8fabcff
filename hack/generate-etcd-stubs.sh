#!/usr/bin/env bash
# Regenerates Sources/StorageEtcd/Generated from proto/etcd/*.proto (by hand; the output is
# committed), with the plugins hack/protoc-plugins.sh builds.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(hack/protoc-plugins.sh)
out=Sources/StorageEtcd/Generated
rm -f "$out"/*.swift
protoc --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    -I proto/etcd --swift_out=Visibility=Package:"$out" \
    --grpc-swift_out=Visibility=Package,Client=true,Server=false:"$out" proto/etcd/kv.proto proto/etcd/rpc.proto
rm -f "$out/kv.grpc.swift"  # kv.proto has no services
echo "regenerated $out"
