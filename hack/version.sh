#!/usr/bin/env bash
# Build facts from git, as upstream's hack/lib/version.sh derives them.
#   hack/version.sh                 prints VERSION (k8swift's own version, used in release file names)
#   hack/version.sh --header FILE   writes the C header CBuildInfo compiles in, only when a fact other
#                                   than the build date changed (so a rebuild relinks only then);
#                                   --force rewrites it with a new build date (make release does).
# The build date is $SOURCE_DATE_EPOCH when set (reproducible builds), else now.
set -euo pipefail
cd "$(dirname "$0")/.."
# k8swift's release line; a commit tagged v<semver> is that release.
base=0.1.0

commit=$(git rev-parse HEAD 2>/dev/null || echo "")
if [ -z "$commit" ]; then
    version="$base-unknown"; tree=""
else
    if [ -z "$(git status --porcelain 2>/dev/null)" ]; then tree=clean; else tree=dirty; fi
    if tag=$(git describe --tags --exact-match --match 'v[0-9]*' HEAD 2>/dev/null); then
        version=${tag#v}
    else
        version="$base-dev.$(git rev-list --count HEAD).g$(git rev-parse --short=7 HEAD)"
    fi
    [ "$tree" = dirty ] && version="$version.dirty"
fi

if [ "${1:-}" != "--header" ]; then
    echo "$version"
    exit 0
fi
file=${2:?usage: hack/version.sh --header FILE [--force]}
force=${3:-}
swiftv=$(swift --version 2>/dev/null | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -1)
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
else
    date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi
facts="#define K8SWIFT_BUILD_VERSION \"$version\"
#define K8SWIFT_BUILD_GIT_COMMIT \"$commit\"
#define K8SWIFT_BUILD_GIT_TREE_STATE \"$tree\"
#define K8SWIFT_BUILD_SWIFT_VERSION \"$swiftv\""
if [ "$force" != --force ] && [ -f "$file" ] && [ "$(grep -v K8SWIFT_BUILD_DATE "$file" | grep '^#define')" = "$facts" ]; then
    exit 0
fi
printf '// Written by hack/version.sh. DO NOT EDIT; not committed.\n%s\n#define K8SWIFT_BUILD_DATE "%s"\n' "$facts" "$date" > "$file"
# The including file's mtime makes every build system notice, even one that compiled it before the
# header existed.
touch "$(dirname "$file")/buildinfo.c"
