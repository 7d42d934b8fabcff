#!/usr/bin/env bash
# Replaces the committed upstream facts (api/) and test data (testdata/upstream/) with those of an
# upstream spec directory laid out as openapi/{swagger.json,v3/}, protobuf-fields.json, discovery/,
# testdata/{HEAD,v1.*}/ and responses/. Moving to a new Kubernetes release:
#   hack/import-upstream.sh /path/to/kubernetes-v1.37 && make generate
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?usage: hack/import-upstream.sh UPSTREAM_SPEC_DIR}
swift build --product k8swift-codegen
"$(swift build --show-bin-path)/k8swift-codegen" import --from "$src" --to api
dst=testdata/upstream
rm -rf "$dst"
mkdir -p "$dst"
cp -r "$src/testdata" "$dst/fixtures"
cp -r "$src/discovery" "$src/responses" "$dst/"
# Table column descriptions are upstream's prose, not behaviour: keep the shape, drop the text.
python3 - "$dst/responses" <<'PY'
import json, os, sys
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    if not name.endswith(".json"):
        continue
    path = os.path.join(d, name)
    rec = json.load(open(path))
    body = (rec.get("response") or {}).get("body")
    if not isinstance(body, str) or '"columnDefinitions"' not in body:
        continue
    doc = json.loads(body)
    for col in doc.get("columnDefinitions", []):
        if col.get("description"):
            col["description"] = ""
    rec["response"]["body"] = json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + ("\n" if body.endswith("\n") else "")
    with open(path, "w") as f:
        json.dump(rec, f, indent=1, ensure_ascii=False)
        f.write("\n")
PY
echo "imported $src into api/ and $dst/"
