#!/usr/bin/env bash
# Regenerates Sources/CRI/Generated from proto/cri/api.proto (by hand; the output is committed), with
# the plugins hack/protoc-plugins.sh builds. Public visibility (the kubelet uses the types); server
# stubs too, for an in-process fake CRI.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(hack/protoc-plugins.sh)
out=Sources/CRI/Generated
mkdir -p "$out"
rm -f "$out"/*.swift
protoc --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    -I proto/cri --swift_out=Visibility=Public:"$out" \
    --grpc-swift_out=Visibility=Public,Client=true,Server=true:"$out" proto/cri/api.proto
echo "regenerated $out"
