#!/usr/bin/env bash
# Module import rules (see ../shared/ARCHITECTURE.md): API group modules import only APIMachinery
# and other API group modules; APIMachinery imports only CBuildInfo, CodeGen no project module.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
project_modules=$(ls Sources)
check() {  # dir allowed-regex
    local dir=$1 allowed=$2
    while IFS= read -r line; do
        mod=$(echo "$line" | sed -E 's/.*import[[:space:]]+([A-Za-z0-9_]+).*/\1/')
        if echo "$project_modules" | grep -qx "$mod" && ! echo "$mod" | grep -Eqx "$allowed"; then
            echo "forbidden import: $line"
            fail=1
        fi
    done < <(grep -rHE '^(@_exported )?import ' "$dir" --include='*.swift' || true)
}
for d in Sources/API*; do
    [ "$d" = Sources/APIMachinery ] && continue
    [ "$d" = Sources/APITesting ] && continue
    [ "$d" = Sources/APIServer ] && continue
    check "$d" 'APIMachinery|API[A-Za-z]+'
done
# APIMachinery may read the build facts (a C module with no project dependency).
check Sources/APIMachinery 'Foundation|CBuildInfo'
# The API server sits on the API types and the storage contract.
check Sources/APIServer 'APIMachinery|API[A-Za-z]+|KubernetesAPI|Storage|StorageSQLite|StorageEtcd|CEL|HTTPServing'
# HTTP serving, upgrades and stream protocols (WebSocket, SPDY) know nothing of the API.
check Sources/HTTPServing 'CZlib'
# The expression language stands alone.
check Sources/CEL 'Foundation'
# Storage speaks bytes and revisions only: no API types below the API server.
for d in Sources/Storage*; do
    check "$d" 'Storage|StorageTesting|CSQLite'
done
check Sources/CodeGen 'Foundation'
# Components speak to the API only through the client: never the API server or storage.
check Sources/KubeClient 'APIMachinery|API[A-Za-z]+|KubernetesAPI'
check Sources/ControllerRuntime 'APIMachinery|API[A-Za-z]+|KubernetesAPI|KubeClient'
check Sources/Controllers 'APIMachinery|API[A-Za-z]+|KubernetesAPI|KubeClient|ControllerRuntime'
check Sources/Scheduler 'APIMachinery|API[A-Za-z]+|KubernetesAPI|KubeClient|ControllerRuntime'
check Sources/Kubelet 'APIMachinery|API[A-Za-z]+|KubernetesAPI|KubeClient|ControllerRuntime|CRI|HTTPServing'
check Sources/ClusterDNS 'APIMachinery|API[A-Za-z]+|KubernetesAPI|KubeClient|ControllerRuntime|HTTPServing'
check Sources/Proxy 'APIMachinery|API[A-Za-z]+|KubernetesAPI|KubeClient|ControllerRuntime|HTTPServing'
# The CRI stubs are generated from proto/cri and import no project module.
check Sources/CRI 'Foundation'
for d in Sources/KubeClient Sources/ControllerRuntime Sources/Controllers Sources/Scheduler Sources/Kubelet Sources/ClusterDNS Sources/Proxy; do
    if grep -rHE '^(@_exported )?import (APIServer|Storage[A-Za-z]*)$' "$d" --include='*.swift'; then
        echo "forbidden import above: components reach the API only through KubeClient"
        fail=1
    fi
done
exit $fail
