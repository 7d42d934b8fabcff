#!/usr/bin/env bash
# Builds the container images the kubelet tests and `make run` use, from local parts only:
#   pause    a static binary built from hack/node-images/pause.c (the CRI sandbox image)
#   busybox  Debian's busybox-static with one symlink per applet
# as OCI images (umoci) in a cache directory, exported as oci-archive tarballs for
# `ctr -n k8s.io images import FILE` (the archives name their images). With --registry ADDR it also starts
# Debian's docker-registry on ADDR (plain http) unless something listens there already, and pushes
# both images to it. Idempotent: images are rebuilt only when their inputs change, and pushed only
# when the registry lacks that exact manifest.
#
# Usage: hack/node-images.sh [--registry ADDR] [--cache DIR] [--force]
#        hack/node-images.sh --stop-registry [--registry ADDR] [--cache DIR]
# Progress goes to stderr; stdout is only KEY=value lines, so a caller can
#   eval "$(hack/node-images.sh --registry 127.0.0.1:5000)"
# and gets PAUSE_IMAGE, PAUSE_TAR, BUSYBOX_IMAGE, BUSYBOX_TAR and, with a registry, REGISTRY,
# PAUSE_REGISTRY_IMAGE, BUSYBOX_REGISTRY_IMAGE.
# Cache directory: --cache, else $K8SWIFT_IMAGE_CACHE, else /var/cache/k8swift-images.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
pause_src="$here/node-images/pause.c"

# Kubernetes 1.36's pause image (kubeadm's PauseVersion; kubernetes#138199 moved every pinned
# reference to 3.10.2). containerd's `sandbox_image` must name it exactly.
PAUSE_IMAGE=registry.k8s.io/pause:3.10.2
PAUSE_REPO=pause            # path under --registry
BUSYBOX_NAME=k8swift.local/busybox
BUSYBOX_REPO=k8swift/busybox
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

cache=${K8SWIFT_IMAGE_CACHE:-/var/cache/k8swift-images}
registry=
stop=false
force=false
while [ $# -gt 0 ]; do
    case $1 in
        --registry) registry=${2:?--registry needs ADDR (host:port)}; shift 2 ;;
        --registry=*) registry=${1#*=}; shift ;;
        --cache) cache=${2:?--cache needs DIR}; shift 2 ;;
        --cache=*) cache=${1#*=}; shift ;;
        --stop-registry) stop=true; shift ;;
        --force) force=true; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "node-images: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { echo "node-images: $*" >&2; }
die() { log "error: $*"; exit 1; }

regdir_of() { echo "$cache/registry/${1//[^A-Za-z0-9._-]/_}"; }

# Kills the registry whose pid file is $1/registry.pid, if that process is still a docker-registry.
stop_registry_in() {
    local dir=$1 pid
    [ -f "$dir/registry.pid" ] || return 0
    pid=$(cat "$dir/registry.pid")
    if [ -n "$pid" ] && grep -qa docker-registry "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        log "stopped registry pid $pid ($dir)"
    fi
    rm -f "$dir/registry.pid"
}

if $stop; then
    if [ -n "$registry" ]; then
        stop_registry_in "$(regdir_of "$registry")"
    else
        for d in "$cache"/registry/*/; do
            [ -d "$d" ] && stop_registry_in "${d%/}"
        done
    fi
    exit 0
fi

pkgs=(busybox-static umoci skopeo libc6-dev)
command -v gcc >/dev/null || pkgs+=(build-essential)
[ -n "$registry" ] && pkgs+=(docker-registry)
"$here/install-deps.sh" "${pkgs[@]}"
dpkg -S /bin/busybox 2>/dev/null | grep -q '^busybox-static:' ||
    die "/bin/busybox is not the static busybox (install busybox-static)"

busybox_version=$(/bin/busybox | sed -n '1s/^BusyBox v\([0-9]*\.[0-9]*\).*/\1/p')
[ -n "$busybox_version" ] || die "cannot read the busybox version from '$(/bin/busybox | head -1)'"
BUSYBOX_IMAGE=$BUSYBOX_NAME:$busybox_version

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

layout=$cache/oci
PAUSE_TAR=$cache/pause.tar
BUSYBOX_TAR=$cache/busybox.tar
stamp=$cache/stamp
inputs=$({
    sha256sum "$self" "$pause_src" /bin/busybox
    dpkg-query -W -f='${Package} ${Version}\n' busybox-static umoci skopeo
    gcc --version | head -1
    echo "$PAUSE_IMAGE $BUSYBOX_IMAGE"
} | sed "s#  $here/#  #" | sha256sum | cut -d' ' -f1)

build() {
    local work=$cache/build.$$
    rm -rf "$work" "$cache"/build.*
    mkdir -p "$work"
    trap "rm -rf '$work'" EXIT
    local L=$work/oci

    log "building pause from ${pause_src#"$here/"}"
    gcc -Os -static -Wall -Wextra -Werror -DPAUSE_VERSION="\"$inputs\"" -o "$work/pause" "$pause_src"
    strip "$work/pause"

    local rootless=()
    [ "$(id -u)" -eq 0 ] || rootless=(--rootless)
    umoci init --layout "$L"

    # pause: the binary alone.
    umoci new --image "$L:pause"
    umoci unpack "${rootless[@]}" --image "$L:pause" "$work/pause-bundle" >/dev/null
    install -m 0755 "$work/pause" "$work/pause-bundle/rootfs/pause"
    umoci repack --image "$L:pause" --history.created_by "hack/node-images.sh: pause" "$work/pause-bundle"
    umoci config --image "$L:pause" --config.entrypoint /pause --clear=config.cmd \
        --config.user 65535:65535 --config.workingdir / --author k8swift

    # busybox: /bin/busybox, a symlink per applet at the path busybox gives it, root and nobody.
    log "building busybox $busybox_version"
    umoci new --image "$L:busybox"
    umoci unpack "${rootless[@]}" --image "$L:busybox" "$work/busybox-bundle" >/dev/null
    local r=$work/busybox-bundle/rootfs
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var,proc,sys,dev,home}
    chmod 1777 "$r/tmp"
    chmod 0700 "$r/root"
    install -m 0755 /bin/busybox "$r/bin/busybox"
    /bin/busybox --list-full | while read -r applet; do
        [ "$applet" = bin/busybox ] && continue
        ln -sf /bin/busybox "$r/$applet"
    done
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
        'nobody:x:65534:65534:nobody:/home:/bin/false' >"$r/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nobody:x:65534:' >"$r/etc/group"
    umoci repack --image "$L:busybox" --history.created_by "hack/node-images.sh: busybox $busybox_version" \
        "$work/busybox-bundle"
    umoci config --image "$L:busybox" --config.cmd sh --config.env "PATH=$IMAGE_PATH" \
        --config.workingdir / --author k8swift
    umoci gc --layout "$L"

    skopeo copy -q "oci:$L:pause" "oci-archive:$work/pause.tar:$PAUSE_IMAGE" >&2
    skopeo copy -q "oci:$L:busybox" "oci-archive:$work/busybox.tar:$BUSYBOX_IMAGE" >&2

    rm -rf "$layout"
    mv "$L" "$layout"
    mv "$work/pause.tar" "$PAUSE_TAR"
    mv "$work/busybox.tar" "$BUSYBOX_TAR"
    install -m 0755 "$work/pause" "$cache/pause"
    echo "$inputs" >"$stamp"
    rm -rf "$work"
    trap - EXIT
}

if ! $force && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ] &&
    [ -f "$PAUSE_TAR" ] && [ -f "$BUSYBOX_TAR" ] && [ -f "$layout/index.json" ]; then
    log "images up to date in $cache"
else
    build
fi

listening() { # host port
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

if [ -n "$registry" ]; then
    host=${registry%:*}
    port=${registry##*:}
    [ "$host" != "$registry" ] && [ -n "$port" ] || die "--registry wants host:port, got '$registry'"
    [ -n "$host" ] || host=127.0.0.1
    if listening "$host" "$port"; then
        log "something listens on $registry already; using it"
    else
        dir=$(regdir_of "$registry")
        mkdir -p "$dir/data"
        cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $registry
EOF
        # Own session, no inherited lock fd or caller's stdout: it outlives this script.
        setsid docker-registry serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 9>&- &
        echo $! >"$dir/registry.pid"
        for _ in $(seq 100); do
            listening "$host" "$port" && break
            kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null ||
                die "docker-registry exited: $(tail -5 "$dir/registry.log")"
            sleep 0.1
        done
        listening "$host" "$port" || die "docker-registry does not listen on $registry (log: $dir/registry.log)"
        log "started docker-registry on $registry, pid $(cat "$dir/registry.pid") ($dir)"
    fi
    for img in pause:"$PAUSE_REPO:${PAUSE_IMAGE##*:}" busybox:"$BUSYBOX_REPO:$busybox_version"; do
        tag=${img%%:*}
        dest=docker://$registry/${img#*:}
        want=$(skopeo inspect --format '{{.Digest}}' "oci:$layout:$tag")
        have=$({ skopeo inspect --tls-verify=false --raw "$dest" 2>/dev/null || :; } | sha256sum | cut -d' ' -f1)
        if [ "sha256:$have" = "$want" ]; then
            log "$registry/${img#*:} is up to date"
        else
            skopeo copy -q --dest-tls-verify=false "oci:$layout:$tag" "$dest" >&2
            log "pushed $registry/${img#*:}"
        fi
    done
fi

echo "PAUSE_IMAGE=$PAUSE_IMAGE"
echo "PAUSE_TAR=$PAUSE_TAR"
echo "BUSYBOX_IMAGE=$BUSYBOX_IMAGE"
echo "BUSYBOX_TAR=$BUSYBOX_TAR"
if [ -n "$registry" ]; then
    echo "REGISTRY=$registry"
    echo "PAUSE_REGISTRY_IMAGE=$registry/$PAUSE_REPO:${PAUSE_IMAGE##*:}"
    echo "BUSYBOX_REGISTRY_IMAGE=$registry/$BUSYBOX_REPO:$busybox_version"
fi
