#!/usr/bin/env bash
# make release: a k8swift with the Swift runtime, Foundation and SQLite linked in, packed as
#   _output/release/k8swift-<version>-linux-<arch>.tar.gz   (binary, component links, LICENSE, README,
#                                                          third-party licenses)
#   _output/release/k8swift-<version>-linux-<arch>.oci.tar  (OCI image archive, entrypoint k8swift)
#   _output/release/sha256sums.txt
# Only the C library, libstdc++, libgcc_s and zlib (all in Debian's base image) stay dynamic; the build
# fails if the binary needs anything else.
# linux/arm64 is not built: this toolchain has no aarch64 Swift runtime or SDK to link against.
#
# hack/release.sh --build PRODUCT... builds products with the same flags and nothing else (make all
# and make bench use it, so they measure the shipped build and share its objects with make release).
# CONFIG=debug packs an unoptimised build the same way: make test uses it, since the release suite
# checks the packing (static linking, archive, image), not the optimiser, and a cold optimised build
# of the whole tree costs CI about 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
CONFIG=${CONFIG:-release}
build_args=(-c "$CONFIG")
# A static build compiles against the static SDK (its objects autolink CoreFoundation and Foundation's C
# parts); sharing .build/debug with the ordinary dynamic build would leave objects of one kind to the
# other's link. The unoptimised static build keeps its own directory.
if [ "$CONFIG" = debug ]; then build_args+=(--scratch-path .build-static); fi

# SQLite from Debian's static archive: a search directory holding only libsqlite3.a comes before
# the system directories, so the linker takes the archive for -lsqlite3.
static_build() {
    local static=_output/staticlibs sqlite_a
    mkdir -p "$static"
    sqlite_a=$(gcc -print-file-name=libsqlite3.a)
    [ -f "$sqlite_a" ] || { echo "release: libsqlite3.a not found (Debian libsqlite3-dev)" >&2; exit 1; }
    ln -sf "$sqlite_a" "$static/libsqlite3.a"
    for product in "$@"; do
        $SWIFT build "${build_args[@]}" --product "$product" --static-swift-stdlib -Xlinker -L"$PWD/$static"
    done
}
if [ "${1:-}" = --build ]; then
    shift
    static_build "$@"
    exit 0
fi
out=_output/release
case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    *) echo "release: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
# One build date for the stamp, the archive entries and the image (reproducible when set outside).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date +%s)}
hack/version.sh --header Sources/CBuildInfo/buildinfo.generated.h --force
version=$(hack/version.sh)
name=k8swift-$version-linux-$arch

start=$(date +%s)
static_build k8swift
bin="$($SWIFT build "${build_args[@]}" --show-bin-path)/k8swift"
echo "release: built in $(( $(date +%s) - start )) s"

# What stays dynamic must be in Debian's base image.
allowed='^(libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libz\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libutil\.so\.1)$'
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
bad=$(echo "$needed" | grep -Ev "$allowed" || true)
if [ -n "$bad" ]; then
    echo "release: the binary needs libraries outside Debian's base image: $bad" >&2
    exit 1
fi
# SwiftPM's own $ORIGIN run path is harmless; one into the toolchain is not.
runpath=$(readelf -d "$bin" | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]/\1/p')
if [ -n "$runpath" ] && [ "$runpath" != '$ORIGIN' ]; then
    echo "release: the binary carries a run path: $runpath" >&2
    exit 1
fi

rm -rf "$out"
stage=$out/stage/$name
mkdir -p "$stage"
strip -o "$stage/k8swift" "$bin"
for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    ln -s k8swift "$stage/$c"
done
cp LICENSE "$stage/LICENSE"
sed "s/@VERSION@/$version/g; s/@ARCH@/$arch/g" hack/release/README.md > "$stage/README.md"
# The licenses of the packages linked into the binary.
mkdir -p "$stage/third-party-licenses"
for dir in .build/checkouts/*/; do
    pkg=$(basename "$dir")
    for f in "$dir"LICENSE* "$dir"COPYING* "$dir"NOTICE*; do
        [ -f "$f" ] && cp "$f" "$stage/third-party-licenses/$pkg-$(basename "$f")"
    done
done
swift_root=$(dirname "$(dirname "$(dirname "$(readlink -f "$(command -v "$SWIFT")")")")")
for f in "$swift_root"/usr/share/swift/LICENSE.txt "$swift_root"/usr/share/doc/swift/LICENSE.txt; do
    [ -f "$f" ] && cp "$f" "$stage/third-party-licenses/swift-LICENSE.txt" && break
done
[ -f /usr/share/doc/libsqlite3-dev/copyright ] && cp /usr/share/doc/libsqlite3-dev/copyright "$stage/third-party-licenses/sqlite-copyright"

tar_flags=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH")
tar "${tar_flags[@]}" -C "$out/stage" -czf "$out/$name.tar.gz" "$name"

# The OCI image: the binary, its links, and the few shared libraries it still loads, on an empty
# base (no Docker daemon: umoci builds the layout, skopeo writes the archive).
layout=$out/stage/oci
bundle=$out/stage/bundle
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci unpack --image "$layout:$version" "$bundle"
rootfs=$bundle/rootfs
mkdir -p "$rootfs/usr/local/bin" "$rootfs/tmp" "$rootfs/var/lib/k8swift" "$rootfs/etc" "$rootfs/usr/share/doc/k8swift"
chmod 1777 "$rootfs/tmp"
cp -a "$stage/k8swift" "$stage"/kube-* "$stage/kubelet" "$rootfs/usr/local/bin/"
cp -a "$stage/LICENSE" "$stage/README.md" "$stage/third-party-licenses" "$rootfs/usr/share/doc/k8swift/"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0:root:/root:/usr/local/bin/k8swift\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\n' > "$rootfs/etc/group"
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
umoci repack --image "$layout:$version" "$bundle"
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
umoci config --image "$layout:$version" --created "$created" --author k8swift \
    --architecture "$arch" --os linux \
    --config.entrypoint /usr/local/bin/k8swift --config.cmd server \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin \
    --config.workingdir / \
    --config.exposedports 6443/tcp \
    --config.volume /var/lib/k8swift \
    --config.label "org.opencontainers.image.title=k8swift" \
    --config.label "org.opencontainers.image.version=$version" \
    --config.label "org.opencontainers.image.revision=$(git rev-parse HEAD)" \
    --config.label "org.opencontainers.image.licenses=Apache-2.0"
umoci gc --layout "$layout"
skopeo copy --quiet "oci:$layout:$version" "oci-archive:$out/$name.oci.tar:k8swift/k8swift:$version"
rm -rf "$out/stage"

(cd "$out" && sha256sum "$name.tar.gz" "$name.oci.tar" > sha256sums.txt)
echo "release: $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1)), $out/$name.oci.tar ($(du -h "$out/$name.oci.tar" | cut -f1)), binary $(du -h "$bin" | cut -f1) unstripped, $(stat -c %s "$bin") bytes"
cat "$out/sha256sums.txt"
if [ "$arch" = amd64 ]; then
    echo "release: linux/arm64 not built (this toolchain has no aarch64 Swift runtime or SDK)"
fi
