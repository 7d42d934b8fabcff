"""End-to-end checks of k8swift with Python: the official client, raw HTTP replays of upstream's
recorded exchanges, and random bad input. Run by Tests/E2ETests (Swift) against a live server.

usage: e2e.py client|custom|operator|recorded|fuzz N  --kubeconfig KC --data-dir DIR --testdata DIR
Exits non-zero with a list of failures."""
import argparse, base64, json, os, random, ssl, sys, threading, time, http.client, uuid

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


class Raw:
    """HTTPS to the server with the admin client certificate from the data dir."""

    def __init__(self, data_dir, port):
        self.ctx = ssl.create_default_context(cafile=os.path.join(data_dir, "tls", "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(data_dir, "tls", "admin.crt"), os.path.join(data_dir, "tls", "admin.key"))
        self.anon = ssl.create_default_context(cafile=os.path.join(data_dir, "tls", "ca.crt"))
        self.port = port

    def do(self, method, path, body=None, headers=None, anonymous=False, token=None, timeout=30):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.anon if anonymous or token else self.ctx, timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, dict(r.getheaders()), data


def port_of(kubeconfig):
    for line in open(kubeconfig):
        if "server:" in line:
            return int(line.rsplit(":", 1)[1])
    raise SystemExit("no server in kubeconfig")


def recorded(args):
    """Replays upstream's recorded exchanges and compares code, reason, message and shape."""
    raw = Raw(args.data_dir, port_of(args.kubeconfig))
    rdir = os.path.join(args.testdata, "responses")
    ns = "golden-" + uuid.uuid4().hex[:6]
    st, _, _ = raw.do("POST", "/api/v1/namespaces", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                      {"Content-Type": "application/json"})
    check(st == 201, f"create namespace: {st}")
    cases = ["create-configmap", "create-configmap-already-exists", "get-configmap-not-found", "create-configmap-invalid-name",
             "create-in-missing-namespace", "get-configmap", "create-bad-json", "create-unsupported-media-type",
             "get-not-acceptable", "create-strict-unknown-field", "create-warn-unknown-field", "create-too-large",
             "method-not-allowed", "create-deployment-selector-mismatch", "patch-json-invalid-path", "list-field-selector-bad",
             "create-service-defaults", "create-deployment-defaults", "patch-strategic-deployment", "version", "healthz", "livez",
             "delete-configmap"]
    for name in cases:
        rec = json.load(open(os.path.join(rdir, name + ".json")))
        req, want = rec["request"], rec["response"]
        path = req["path"].replace("/namespaces/golden/", f"/namespaces/{ns}/")
        body = req.get("body")
        st, headers, data = raw.do(req["method"], path, body, req.get("headers"))
        check(st == want["status"], f"{name}: status {st}, upstream {want['status']}: {data[:300]!r}")
        ct_want = want["headers"].get("Content-Type", "")
        check(headers.get("Content-Type", "").split(";")[0] == ct_want.split(";")[0], f"{name}: content type {headers.get('Content-Type')} vs {ct_want}")
        if "Warning" in want["headers"]:
            check(headers.get("Warning") == want["headers"]["Warning"], f"{name}: warning {headers.get('Warning')!r}")
        if not want["body"].strip().startswith("{"):
            check(data.decode().strip() == want["body"].strip() or name == "version", f"{name}: body {data[:100]!r}")
            continue
        try:
            got, exp = json.loads(data), json.loads(want["body"])
        except ValueError:
            failures.append(f"{name}: body is not JSON: {data[:200]!r}")
            continue
        if exp.get("kind") == "Status":
            for k in ("status", "reason", "code"):
                check(got.get(k) == exp.get(k), f"{name}: {k} {got.get(k)!r} vs {exp.get(k)!r}")
            check((got.get("message") or "").replace(ns, "golden") == (exp.get("message") or ""),
                  f"{name}: message {got.get('message')!r} vs {exp.get('message')!r}")
            gd, ed = got.get("details") or {}, exp.get("details") or {}
            for k in ("name", "group", "kind"):
                check(str(gd.get(k, "")).replace(ns, "golden") == str(ed.get(k, "")), f"{name}: details.{k} {gd.get(k)!r} vs {ed.get(k)!r}")
            check([(c.get("field"), c.get("message"), c.get("reason")) for c in gd.get("causes", [])] ==
                  [(c.get("field"), c.get("message"), c.get("reason")) for c in ed.get("causes", [])], f"{name}: causes {gd.get('causes')} vs {ed.get('causes')}")
        elif name == "version":
            check(got.get("major") == "1" and got.get("minor") == "36", f"version: {got}")
        else:
            # Objects: compare everything but server-assigned identity and the times of managedFields
            # (whose managers, operations and FieldsV1 sets are upstream's, as recorded).
            def strip(o):
                o = json.loads(json.dumps(o))
                md = o.get("metadata", {})
                for k in ("uid", "resourceVersion", "creationTimestamp", "namespace"):
                    md.pop(k, None)
                for m in md.get("managedFields", []):
                    m.pop("time", None)
                spec = o.get("spec", {})
                for k in ("clusterIP", "clusterIPs"):
                    spec.pop(k, None)
                return o
            check(strip(got) == strip(exp), f"{name}: object differs:\n ours {json.dumps(strip(got), sort_keys=True)}\n upstream {json.dumps(strip(exp), sort_keys=True)}")
    # Anonymous and bad-token answers (recorded anonymous-healthz, anonymous-list-forbidden, bad-token).
    st, _, data = raw.do("GET", "/healthz", anonymous=True)
    check(st == 200 and data == b"ok", f"anonymous healthz: {st} {data!r}")
    st, _, data = raw.do("GET", "/api/v1/namespaces", anonymous=True)
    exp = json.loads(json.load(open(os.path.join(rdir, "anonymous-list-forbidden.json")))["response"]["body"])
    check(st == 403 and json.loads(data).get("message") == exp["message"], f"anonymous list: {st} {data!r}")
    st, _, data = raw.do("GET", "/api/v1/namespaces", token="wrong-token")
    check(st == 401 and json.loads(data).get("reason") == "Unauthorized", f"bad token: {st} {data!r}")
    # Pagination: limit/continue over a consistent snapshot and 410 for a token at a compacted revision.
    for i in range(7):
        raw.do("POST", f"/api/v1/namespaces/{ns}/configmaps", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"page-{i}", "labels": {"page": "yes"}}}), {"Content-Type": "application/json"})
    seen, cont = [], ""
    while True:
        q = f"/api/v1/namespaces/{ns}/configmaps?labelSelector=page%3Dyes&limit=3" + (f"&continue={cont}" if cont else "")
        st, _, data = raw.do("GET", q)
        page = json.loads(data)
        check(st == 200, f"page: {st} {data[:200]!r}")
        seen += [i["metadata"]["name"] for i in page["items"]]
        check(all("kind" not in i for i in page["items"]), "list items carry kind")
        cont = page["metadata"].get("continue", "")
        if not cont:
            break
        if len(seen) == 3:
            # A write between pages must not appear in later pages of the same list.
            raw.do("POST", f"/api/v1/namespaces/{ns}/configmaps", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "page-4a", "labels": {"page": "yes"}}}), {"Content-Type": "application/json"})
    check(seen == [f"page-{i}" for i in range(7)], f"pages: {seen}")
    # An idle watch (nothing matches) still answers its headers at once.
    conn = http.client.HTTPSConnection("127.0.0.1", raw.port, context=raw.ctx, timeout=3)
    t0 = time.monotonic()
    conn.request("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=1&labelSelector=nothing%3Dmatches&timeoutSeconds=10")
    try:
        r = conn.getresponse()
        check(r.status == 200 and time.monotonic() - t0 < 2, f"idle watch headers: {r.status} after {time.monotonic() - t0:.1f}s")
    except Exception as e:
        failures.append(f"idle watch sent no headers: {e!r}")
    conn.close()
    # Watch-list: initial ADDED events, then a bookmark marking their end.
    st, _, data = raw.do("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
    evs = [json.loads(l) for l in data.decode().splitlines() if l.strip()]
    adds = [e for e in evs if e["type"] == "ADDED"]
    ends = [e for e in evs if e["type"] == "BOOKMARK" and e["object"]["metadata"].get("annotations", {}).get("k8s.io/initial-events-end") == "true"]
    check(len(adds) >= 8 and len(ends) == 1 and evs.index(ends[0]) == len(adds), f"watch-list: {[e['type'] for e in evs]}")
    # Table and PartialObjectMetadata negotiation.
    st, _, data = raw.do("GET", f"/api/v1/namespaces/{ns}/configmaps", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    t = json.loads(data)
    check(t.get("kind") == "Table" and [c["name"] for c in t["columnDefinitions"]] == ["Name", "Data", "Age"], f"table: {data[:200]!r}")
    st, _, data = raw.do("GET", f"/api/v1/namespaces/{ns}/configmaps", headers={"Accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"})
    p = json.loads(data)
    check(p.get("kind") == "PartialObjectMetadataList" and all(i.get("kind") == "PartialObjectMetadata" and "data" not in i for i in p["items"]), f"pom: {data[:200]!r}")
    # Aggregated discovery with ETag and Vary.
    st, h, data = raw.do("GET", "/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"})
    check(st == 200 and h.get("Vary") == "Accept" and h.get("ETag"), f"aggregated discovery headers: {h}")
    d = json.loads(data)
    want = json.load(open(os.path.join(args.testdata, "discovery", "aggregated-apis.json")))
    check([g["metadata"]["name"] for g in d["items"]] == [g["metadata"]["name"] for g in want["items"]], "aggregated group order")
    st2, _, _ = raw.do("GET", "/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", "If-None-Match": h.get("ETag", "")})
    check(st2 == 304, f"etag revalidation: {st2}")


def client(args):
    """The official Python client: CRUD, patch and watch on several kinds."""
    from kubernetes import client as k, config, watch
    config.load_kube_config(args.kubeconfig)
    core, apps, batch = k.CoreV1Api(), k.AppsV1Api(), k.BatchV1Api()
    ns = "py-" + uuid.uuid4().hex[:6]
    core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns)))
    cm = core.create_namespaced_config_map(ns, k.V1ConfigMap(metadata=k.V1ObjectMeta(name="c1", labels={"a": "b"}), data={"x": "1"}))
    check(cm.metadata.resource_version and cm.data == {"x": "1"}, f"configmap create: {cm}")
    got = core.read_namespaced_config_map("c1", ns)
    check(got.metadata.uid == cm.metadata.uid, "read")
    got.data["y"] = "2"
    upd = core.replace_namespaced_config_map("c1", ns, got)
    check(int(upd.metadata.resource_version) > int(cm.metadata.resource_version), "resourceVersion did not advance")
    try:
        core.replace_namespaced_config_map("c1", ns, got)
        check(False, "stale replace succeeded")
    except k.ApiException as e:
        check(e.status == 409, f"stale replace: {e.status}")
    pat = core.patch_namespaced_config_map("c1", ns, {"data": {"z": "3"}})
    check(pat.data == {"x": "1", "y": "2", "z": "3"}, f"patch: {pat.data}")
    lst = core.list_namespaced_config_map(ns, label_selector="a=b")
    check([i.metadata.name for i in lst.items] == ["c1"], "label selector list")
    dep = apps.create_namespaced_deployment(ns, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    check(dep.spec.strategy.type == "RollingUpdate", "deployment defaults")
    sc = apps.patch_namespaced_deployment_scale("d", ns, {"spec": {"replicas": 5}})
    check(sc.spec.replicas == 5, f"scale: {sc.spec.replicas}")
    check(apps.read_namespaced_deployment("d", ns).spec.replicas == 5, "scale applied")
    st = apps.read_namespaced_deployment_status("d", ns)
    check(st.metadata.name == "d", "status read")
    job = batch.create_namespaced_job(ns, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
    check(job.spec.completions == 1 and job.spec.parallelism == 1, "job defaults")
    # Without manualSelector the server ties the pods to the job: selector on the uid label.
    uid_key, name_key = "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name"
    check(job.spec.manual_selector is False, f"manualSelector: {job.spec.manual_selector}")
    check(job.spec.selector.match_labels == {uid_key: job.metadata.uid}, f"job selector: {job.spec.selector}")
    tl = job.spec.template.metadata.labels or {}
    check(tl.get(uid_key) == job.metadata.uid and tl.get("controller-uid") == job.metadata.uid
          and tl.get(name_key) == "j" and tl.get("job-name") == "j", f"job template labels: {tl}")
    # Watch: events after a resourceVersion arrive once each, in order.
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    events = []
    def watcher():
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=5):
            events.append((ev["type"], ev["object"].metadata.name, int(ev["object"].metadata.resource_version)))
            if len(events) >= 3:
                w.stop()
    t = threading.Thread(target=watcher)
    t.start()
    time.sleep(0.5)
    core.create_namespaced_config_map(ns, k.V1ConfigMap(metadata=k.V1ObjectMeta(name="w1")))
    core.patch_namespaced_config_map("w1", ns, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("w1", ns)
    t.join()
    check([e[0] for e in events] == ["ADDED", "MODIFIED", "DELETED"], f"watch events: {events}")
    check([e[2] for e in events] == sorted(e[2] for e in events), "watch order")
    st = core.delete_namespaced_config_map("c1", ns)
    st_status = st.get("status") if isinstance(st, dict) else st.status
    check(st_status == "Success", f"configmap delete answers a Status: {st}")
    # Services, service accounts and unscheduled pods answer with the deleted object (upstream's
    # ReturnDeletedObject); the client parses the answer as that kind.
    core.create_namespaced_service(ns, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}})
    svc = core.delete_namespaced_service("s", ns)
    check(isinstance(svc, k.V1Service) and svc.metadata.name == "s" and svc.spec.ports[0].port == 80,
          f"service delete answers the Service: {svc}")
    core.create_namespaced_service_account(ns, {"metadata": {"name": "sa"}})
    sa = core.delete_namespaced_service_account("sa", ns)
    check(isinstance(sa, k.V1ServiceAccount) and sa.metadata.name == "sa", f"serviceaccount delete: {sa}")
    core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    pod = core.delete_namespaced_pod("p", ns)
    check(isinstance(pod, k.V1Pod) and pod.metadata.name == "p", f"pod delete: {pod}")
    try:
        core.read_namespaced_config_map("c1", ns)
        check(False, "deleted configmap still readable")
    except k.ApiException as e:
        check(e.status == 404, f"read after delete: {e.status}")
    core.delete_namespace(ns)


def controllers(args):
    """The official Python client against the controller manager: a Deployment gets its pods, and
    deletion with each propagation policy does what upstream documents."""
    from kubernetes import client as k, config
    config.load_kube_config(args.kubeconfig)
    core, apps = k.CoreV1Api(), k.AppsV1Api()
    ns = "pyc-" + uuid.uuid4().hex[:6]
    core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns)))

    def wait(what, cond, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return
            time.sleep(0.1)
        check(False, "timed out waiting for " + what)

    def deployment(name, replicas):
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}

    def pods(app):
        return core.list_namespaced_pod(ns, label_selector="app=" + app).items

    for name in ("fg", "bg", "or"):
        apps.create_namespaced_deployment(ns, deployment(name, 2))
    wait("6 pods", lambda: all(len(pods(n)) == 2 for n in ("fg", "bg", "or")))
    rs = apps.list_namespaced_replica_set(ns, label_selector="app=fg").items
    check(len(rs) == 1 and rs[0].metadata.owner_references[0].kind == "Deployment", f"replica set: {rs}")
    apps.delete_namespaced_deployment("fg", ns, propagation_policy="Foreground")
    apps.delete_namespaced_deployment("bg", ns, propagation_policy="Background")
    apps.delete_namespaced_deployment("or", ns, propagation_policy="Orphan")
    wait("foreground and background dependents gone", lambda: not pods("fg") and not pods("bg"))
    wait("the foreground owner gone", lambda: not any(d.metadata.name == "fg" for d in apps.list_namespaced_deployment(ns).items))
    orphans = apps.list_namespaced_replica_set(ns, label_selector="app=or").items
    check(len(orphans) == 1 and not orphans[0].metadata.owner_references, f"orphaned replica set: {orphans}")
    check(len(pods("or")) == 2, "orphaned pods kept")
    core.delete_namespace(ns)
    wait("the namespace gone", lambda: not any(n.metadata.name == ns for n in core.list_namespace().items))


def fuzz(args):
    """Random mutations of valid requests: each gets a 4xx (or a success), the server stays up,
    and objects created before are intact afterwards."""
    raw = Raw(args.data_dir, port_of(args.kubeconfig))
    rnd = random.Random(args.seed)
    ns = "fz-" + uuid.uuid4().hex[:6]
    raw.do("POST", "/api/v1/namespaces", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}), {"Content-Type": "application/json"})
    keep = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep"}, "data": {"k": "v"}}
    st, _, data = raw.do("POST", f"/api/v1/namespaces/{ns}/configmaps", json.dumps(keep), {"Content-Type": "application/json"})
    check(st == 201, f"seed object: {st}")
    kept = json.loads(data)
    bases = [
        ("POST", f"/api/v1/namespaces/{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}),
        ("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        ("POST", f"/api/v1/namespaces/{ns}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}}),
        ("PUT", f"/api/v1/namespaces/{ns}/configmaps/keep", None),
        ("PATCH", f"/api/v1/namespaces/{ns}/configmaps/keep", {"data": {"n": "1"}}),
    ]
    junk = [None, True, False, 0, -1, 2**70, 1.5, "", "x" * 300, "Bad_Name!", [], {}, [1, "a"], {"a": None}, "\u0000", "💥"]
    def mutate(v, depth=0):
        if isinstance(v, dict) and v and rnd.random() < 0.7:
            k2 = rnd.choice(list(v.keys()))
            v = dict(v)
            r = rnd.random()
            if r < 0.2:
                del v[k2]
            elif r < 0.6:
                v[k2] = mutate(v[k2], depth + 1)
            elif r < 0.8:
                v[k2] = rnd.choice(junk)
            else:
                v["bogus" + str(rnd.randint(0, 9))] = rnd.choice(junk)
            return v
        if isinstance(v, list) and v and rnd.random() < 0.7:
            v = list(v)
            i = rnd.randrange(len(v))
            v[i] = mutate(v[i], depth + 1)
            return v
        return rnd.choice(junk)
    codes = {}
    for i in range(args.count):
        method, path, body = rnd.choice(bases)
        if body is None:
            body = dict(kept)
        body = mutate(body)
        text = json.dumps(body)
        r = rnd.random()
        if r < 0.1:
            text = text[: rnd.randrange(len(text) + 1)]
        elif r < 0.15:
            b = bytearray(text.encode())
            if b:
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            text = bytes(b)
        ctype = rnd.choice(["application/json"] * 6 + ["application/yaml", "application/vnd.kubernetes.protobuf", "text/plain",
                            "application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json"])
        if method == "PATCH" and ctype == "application/json":
            ctype = "application/merge-patch+json"
        q = rnd.choice(["", "?fieldValidation=Strict", "?dryRun=All", "?fieldValidation=Bogus"])
        try:
            st, _, data = raw.do(method, path + q, text, {"Content-Type": ctype})
        except Exception as e:
            failures.append(f"request {i} failed at the transport: {e}")
            break
        codes[st] = codes.get(st, 0) + 1
        check(st < 500, f"request {i}: {method} {path}{q} {ctype} {text[:200]!r} -> {st} {data[:200]!r}")
        if st >= 400:
            try:
                s = json.loads(data)
                check(s.get("kind") == "Status" and s.get("code") == st, f"request {i}: error body {data[:200]!r}")
            except Exception:
                failures.append(f"request {i}: non-JSON error body {data[:200]!r}")
        # Clean up successful creates so later ones hit the same paths.
        if method == "POST" and st == 201:
            name = json.loads(data)["metadata"]["name"]
            raw.do("DELETE", path + "/" + name)
    st, _, data = raw.do("GET", f"/api/v1/namespaces/{ns}/configmaps/keep")
    check(st == 200, f"seed object lost: {st}")
    print("status codes:", dict(sorted(codes.items())))
    st, _, data = raw.do("GET", "/readyz")
    check(st == 200, "server not ready after fuzzing")


def writer(args):
    """Creates ConfigMaps from 8 threads until killed; appends each acknowledged (201) name to a
    file, flushed, so a crash test knows exactly which writes were acknowledged."""
    raw = Raw(args.data_dir, port_of(args.kubeconfig))
    out = open(args.acked, "a", buffering=1)
    lock = threading.Lock()
    def loop(t):
        i = 0
        while True:
            name = f"w-{t}-{i}-{uuid.uuid4().hex[:4]}"
            try:
                st, _, _ = raw.do("POST", f"/api/v1/namespaces/{args.namespace}/configmaps",
                                  json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"i": str(i)}}),
                                  {"Content-Type": "application/json"})
            except Exception:
                return
            if st == 201:
                with lock:
                    out.write(name + "\n")
                    out.flush()
            i += 1
    ts = [threading.Thread(target=loop, args=(t,), daemon=True) for t in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def custom(args):
    """Custom resources through the official client: a CRD created with the typed API, its objects
    driven with the dynamic client (discovery, CRUD, merge patch, status, scale, watch)."""
    from kubernetes import client as k, config, dynamic, watch
    config.load_kube_config(args.kubeconfig)
    ext = k.ApiextensionsV1Api()
    group = "py-" + uuid.uuid4().hex[:6] + ".example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gizmos.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo", "shortNames": ["gz"]},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}},
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 2, "maximum": 9},
                                                                             "color": {"type": "string"}}},
                                   "status": {"type": "object", "properties": {"size": {"type": "integer"}, "ready": {"type": "boolean"}}}}}}}]}}
    ext.create_custom_resource_definition(crd)
    deadline = time.time() + 20
    while time.time() < deadline:
        got = ext.read_custom_resource_definition(f"gizmos.{group}")
        conds = {c.type: c.status for c in (got.status.conditions or [])}
        if conds.get("Established") == "True":
            break
        time.sleep(0.2)
    check(conds.get("Established") == "True" and conds.get("NamesAccepted") == "True", f"crd conditions: {conds}")
    # A discovery cache of its own: the client keeps one per server address in /tmp otherwise.
    dyn = dynamic.DynamicClient(k.ApiClient(), cache_file=os.path.join(args.data_dir, f"discovery-{group}.json"))
    res = dyn.resources.get(api_version=f"{group}/v1", kind="Gizmo")
    check(res.namespaced and res.name == "gizmos" and "gz" in (res.short_names or []), f"discovered: {res.name} {res.short_names}")
    ns = "pyc-" + uuid.uuid4().hex[:6]
    k.CoreV1Api().create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns)))
    events = []

    def watcher():
        w = watch.Watch()
        for e in w.stream(k.CustomObjectsApi().list_namespaced_custom_object, group, "v1", ns, "gizmos", timeout_seconds=10):
            events.append((e["type"], e["object"]["metadata"]["name"], e["object"].get("spec", {}).get("size")))
            if e["type"] == "DELETED":
                w.stop()
    t = threading.Thread(target=watcher)
    t.start()
    time.sleep(0.5)
    g = res.create(body={"apiVersion": f"{group}/v1", "kind": "Gizmo", "metadata": {"name": "g1"}, "spec": {"color": "red"}}, namespace=ns)
    check(g.spec.size == 2 and g.metadata.generation == 1, f"defaulted on create: {g.spec}")
    g = res.patch(name="g1", namespace=ns, body={"spec": {"size": 4}}, content_type="application/merge-patch+json")
    check(g.spec.size == 4 and g.metadata.generation == 2, f"merge patch: {g.spec} gen {g.metadata.generation}")
    try:
        res.patch(name="g1", namespace=ns, body={"spec": {"size": 99}}, content_type="application/merge-patch+json")
        check(False, "size above maximum accepted")
    except Exception as e:
        check(getattr(e, "status", 0) == 422 and "spec.size in body should be less than or equal to 9" in str(getattr(e, "body", "")), f"invalid patch: {e}")
    st = res.status.patch(name="g1", namespace=ns, body={"status": {"size": 4, "ready": True}, "spec": {"size": 1}},
                          content_type="application/merge-patch+json")
    check(st.status.ready is True and st.spec.size == 4 and st.metadata.generation == 2, f"status patch: {st.status} {st.spec}")
    sc = k.CustomObjectsApi().patch_namespaced_custom_object_scale(group, "v1", ns, "gizmos", "g1", {"spec": {"replicas": 6}})
    check(sc["spec"]["replicas"] == 6 and sc["status"]["replicas"] == 4, f"scale: {sc}")
    lst = res.get(namespace=ns)
    check([i.metadata.name for i in lst.items] == ["g1"] and lst.items[0].kind == "Gizmo", f"list: {lst}")
    res.delete(name="g1", namespace=ns)
    t.join(15)
    check([e[0] for e in events] == ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED"] and events[2][2] == 4,
          f"watch: {events}")
    ext.delete_custom_resource_definition(f"gizmos.{group}")


def make_serving_cert(d, names):
    """A CA and a serving certificate for `names` (DNS names and 127.0.0.1), with openssl, in a
    directory of their own under `d`: tests sharing a cluster run at once and must not overwrite
    each other's key while the other loads its certificate."""
    import subprocess, tempfile
    d = tempfile.mkdtemp(prefix="certs-", dir=d)
    ca_key, ca_crt, key, csr, crt, ext = (os.path.join(d, n) for n in ("wh-ca.key", "wh-ca.crt", "wh.key", "wh.csr", "wh.crt", "wh.ext"))
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "1", "-subj", "/CN=webhook-ca")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=webhook")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join([f"DNS:{n}" for n in names] + ["IP:127.0.0.1"]) + "\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt, "-days", "1", "-extfile", ext)
    return open(ca_crt, "rb").read(), crt, key


def serve_https(cert, key, handle, client_ca=None):
    """An HTTPS server on a free loopback port answering GETs and POSTs with handle(request),
    which returns (status, JSON-able or bytes); with client_ca it requires a client certificate."""
    import http.server
    from socketserver import ThreadingMixIn

    class H(http.server.BaseHTTPRequestHandler):
        def answer(self):
            status, out = handle(self)
            data = out if isinstance(out, bytes) else json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = answer

        def log_message(self, *a):
            pass

    class S(ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    srv = S(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_ca)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def serve_webhook(cert, key, handler_for_path):
    """A webhook server: POSTs of a JSON review answered with handler_for_path(path, review)."""
    def handle(h):
        body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        return handler_for_path(h.path, json.loads(body))
    return serve_https(cert, key, handle)


def conversion(args):
    """Webhook conversion: a CRD with v1 (stored) and v2 whose field names differ, converted by a
    webhook this test serves over TLS, reached by URL and through a Service; a webhook that
    answers garbage or hangs gives a clear error and the server keeps serving."""
    from kubernetes import client as k, config
    config.load_kube_config(args.kubeconfig)
    ext, core, co = k.ApiextensionsV1Api(), k.CoreV1Api(), k.CustomObjectsApi()
    raw = Raw(args.data_dir, port_of(args.kubeconfig))
    ns = "conv-" + uuid.uuid4().hex[:6]
    core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns)))
    ca, crt, key = make_serving_cert(args.data_dir, [f"conv.{ns}.svc"])
    calls = []

    def convert(obj, to):
        o = json.loads(json.dumps(obj))
        spec = o.get("spec", {})
        if to.endswith("/v2") and "cronSpec" in spec:
            spec["schedule"] = spec.pop("cronSpec")
        if to.endswith("/v1") and "schedule" in spec:
            spec["cronSpec"] = spec.pop("schedule")
        o["apiVersion"] = to
        o.setdefault("metadata", {}).setdefault("labels", {})["converted-to"] = to.split("/")[1]
        return o

    def handle(path, review):
        req = review["request"]
        calls.append((path, req["desiredAPIVersion"], len(req["objects"])))
        if path.startswith("/garbage"):
            return 200, b"{not json"
        if path.startswith("/hang"):
            time.sleep(45)
        if path.startswith("/fail"):
            return 200, {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                         "response": {"uid": req["uid"], "result": {"status": "Failure", "message": "cannot convert today"}}}
        return 200, {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                     "response": {"uid": req["uid"], "result": {"status": "Success"},
                                  "convertedObjects": [convert(o, req["desiredAPIVersion"]) for o in req["objects"]]}}
    srv, port = serve_webhook(crt, key, handle)
    group = "conv-" + uuid.uuid4().hex[:6] + ".example.com"
    name = f"crontabs.{group}"

    def schema(field):
        return {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {field: {"type": "string"}}}}}}

    def client_config(url=None, service=None):
        # A merge patch: the other way of reaching the webhook is removed (exactly one is allowed).
        c = {"caBundle": base64.b64encode(ca).decode(), "url": url, "service": service}
        return {"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"], "clientConfig": c}}
    ext.create_custom_resource_definition({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name},
        "spec": {"group": group, "scope": "Namespaced", "names": {"plural": "crontabs", "kind": "CronTab"},
                 "conversion": client_config(url=f"https://127.0.0.1:{port}/convert"),
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema("cronSpec")},
                              {"name": "v2", "served": True, "storage": False, "schema": schema("schedule"),
                               "deprecated": True}]}})
    end = time.time() + 20
    while time.time() < end:
        conds = {c.type: c.status for c in (ext.read_custom_resource_definition(name).status.conditions or [])}
        if conds.get("Established") == "True":
            break
        time.sleep(0.2)
    created = co.create_namespaced_custom_object(group, "v2", ns, "crontabs",
                                                 {"apiVersion": f"{group}/v2", "kind": "CronTab", "metadata": {"name": "c"}, "spec": {"schedule": "* * * * *"}})
    check(created["apiVersion"] == f"{group}/v2" and created["spec"] == {"schedule": "* * * * *"}, f"created via v2: {created}")
    v1 = co.get_namespaced_custom_object(group, "v1", ns, "crontabs", "c")
    check(v1["spec"] == {"cronSpec": "* * * * *"} and v1["metadata"]["labels"] == {"converted-to": "v1"}, f"stored as v1: {v1}")
    st, h, data = raw.do("GET", f"/apis/{group}/v2/namespaces/{ns}/crontabs")
    lst = json.loads(data)
    check(st == 200 and [i["spec"] for i in lst["items"]] == [{"schedule": "* * * * *"}], f"list via v2: {st} {data[:300]!r}")
    check(f"{group}/v2 CronTab is deprecated" in h.get("Warning", ""), f"deprecation warning: {h.get('Warning')}")
    check(any(c[1] == f"{group}/v1" for c in calls) and any(c[1] == f"{group}/v2" for c in calls), f"webhook calls: {calls}")
    # A merge patch in v2 goes through both conversions.
    p = co.patch_namespaced_custom_object(group, "v2", ns, "crontabs", "c", {"spec": {"schedule": "0 * * * *"}})
    check(p["spec"] == {"schedule": "0 * * * *"}, f"patch via v2: {p}")
    check(co.get_namespaced_custom_object(group, "v1", ns, "crontabs", "c")["spec"] == {"cronSpec": "0 * * * *"}, "patched in storage")
    # The same webhook through a Service with no selector and hand-made Endpoints.
    core.create_namespaced_service(ns, {"metadata": {"name": "conv"}, "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]}})
    core.create_namespaced_endpoints(ns, {"metadata": {"name": "conv"}, "subsets": [
        {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": port}]}]})
    ext.patch_custom_resource_definition(name, {"spec": {"conversion": client_config(service={"namespace": ns, "name": "conv", "path": "/convert", "port": 443})}})
    time.sleep(1)
    got = co.get_namespaced_custom_object(group, "v2", ns, "crontabs", "c")
    check(got["spec"] == {"schedule": "0 * * * *"}, f"via service: {got}")

    def expect_failure(path, text):
        ext.patch_custom_resource_definition(name, {"spec": {"conversion": client_config(url=f"https://127.0.0.1:{port}{path}")}})
        time.sleep(1)
        st, _, data = raw.do("GET", f"/apis/{group}/v2/namespaces/{ns}/crontabs/c", timeout=60)
        body = json.loads(data) if data.startswith(b"{") else {}
        check(st == 500 and "conversion webhook for" in body.get("message", "") and text in body.get("message", ""),
              f"{path}: {st} {data[:300]!r}")
        # Everything else still works: the stored version and other kinds.
        st1, _, _ = raw.do("GET", f"/apis/{group}/v1/namespaces/{ns}/crontabs/c")
        st2, _, _ = raw.do("GET", f"/api/v1/namespaces/{ns}")
        check(st1 == 200 and st2 == 200, f"after {path}: v1 {st1}, namespace {st2}")
    expect_failure("/garbage", "invalid JSON")
    expect_failure("/fail", "cannot convert today")
    start = time.time()
    expect_failure("/hang", "context deadline exceeded")
    check(time.time() - start < 40, "a hanging webhook is given up on after its timeout")
    check(co.get_namespaced_custom_object(group, "v1", ns, "crontabs", "c")["spec"] == {"cronSpec": "0 * * * *"}, "nothing lost")
    ext.delete_custom_resource_definition(name)
    srv.shutdown()


def admission(args):
    """Admission webhooks served by this test over TLS: a mutating webhook's JSON patch lands, a
    validating webhook refuses with its message and code, match conditions and selectors decide
    who is called, warnings reach the client, dry runs need side-effect-free webhooks, and a
    webhook that is down fails closed or open as its failurePolicy says."""
    from kubernetes import client as k, config
    config.load_kube_config(args.kubeconfig)
    core, adm = k.CoreV1Api(), k.AdmissionregistrationV1Api()
    raw = Raw(args.data_dir, port_of(args.kubeconfig))
    ns = "adm-" + uuid.uuid4().hex[:6]
    core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns, labels={"webhooks": ns})))
    other = ns + "-off"
    core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=other)))
    ca, crt, key = make_serving_cert(args.data_dir, [f"hooks.{ns}.svc"])
    seen = []

    def handle(path, review):
        req = review["request"]
        obj = req.get("object") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        seen.append((path, req["operation"], req.get("name", ""), req.get("namespace"), req["kind"]["kind"],
                     req["userInfo"]["username"], req.get("dryRun"), labels.get("mutated")))
        resp = {"uid": req["uid"], "allowed": True}
        if path.startswith("/mutate"):
            patch = [{"op": "add", "path": "/metadata/labels", "value": dict(labels, mutated="yes")}]
            resp.update(patchType="JSONPatch", patch=base64.b64encode(json.dumps(patch).encode()).decode(),
                        warnings=["mutated by the test webhook"])
        if path.startswith("/validate") and labels.get("deny") == "yes":
            resp = {"uid": req["uid"], "allowed": False, "status": {"code": 403, "message": "label deny=yes is not allowed"}}
        if path.startswith("/validate") and labels.get("deny") == "quiet":
            resp = {"uid": req["uid"], "allowed": False}
        if path.startswith("/wronguid"):
            resp["uid"] = "not-the-uid"
        return 200, {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}
    srv, port = serve_webhook(crt, key, handle)
    cab = base64.b64encode(ca).decode()
    cm_rule = [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}]
    sel = {"matchLabels": {"webhooks": ns}}

    def hook(name, path, **extra):
        h = {"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None", "rules": cm_rule,
             "namespaceSelector": sel, "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": cab},
             "timeoutSeconds": 5}
        h.update(extra)
        return h
    mname, vname = "mutate-" + ns, "validate-" + ns
    adm.create_mutating_webhook_configuration({"metadata": {"name": mname}, "webhooks": [hook("mutate.test.k8swift.io", "/mutate")]})
    adm.create_validating_webhook_configuration({"metadata": {"name": vname}, "webhooks": [
        hook("validate.test.k8swift.io", "/validate", matchConditions=[
            {"name": "not-skipped", "expression": "!has(object.metadata.annotations) || !('skip' in object.metadata.annotations)"}])]})
    # Created: mutated by the webhook (the label it adds), with its warning.
    st, h, data = raw.do("POST", f"/api/v1/namespaces/{ns}/configmaps",
                         json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}}}),
                         {"Content-Type": "application/json"})
    got = json.loads(data)
    check(st == 201 and got["metadata"]["labels"] == {"x": "1", "mutated": "yes"}, f"mutated create: {st} {data[:300]!r}")
    check("mutated by the test webhook" in h.get("Warning", ""), f"webhook warning: {h.get('Warning')}")
    check(core.read_namespaced_config_map("a", ns).metadata.labels.get("mutated") == "yes", "the mutation is stored")
    # The validating webhook saw the mutated object, after the mutating one.
    v = [s for s in seen if s[0].startswith("/validate") and s[2] == "a"]
    check(v and v[0][7] == "yes" and v[0][1] == "CREATE" and v[0][4] == "ConfigMap" and v[0][3] == ns,
          f"validating webhook saw: {seen}")
    # Refused, with the webhook's message and code.
    st, _, data = raw.do("POST", f"/api/v1/namespaces/{ns}/configmaps",
                         json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "labels": {"deny": "yes"}}}),
                         {"Content-Type": "application/json"})
    m = json.loads(data)
    check(st == 403 and m.get("message") == 'admission webhook "validate.test.k8swift.io" denied the request: label deny=yes is not allowed',
          f"denied: {st} {data[:300]!r}")
    st, _, data = raw.do("POST", f"/api/v1/namespaces/{ns}/configmaps",
                         json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "labels": {"deny": "quiet"}}}),
                         {"Content-Type": "application/json"})
    check(st == 400 and json.loads(data).get("message") == 'admission webhook "validate.test.k8swift.io" denied the request without explanation',
          f"denied without explanation: {st} {data[:300]!r}")
    check(raw.do("GET", f"/api/v1/namespaces/{ns}/configmaps/b")[0] == 404, "a refused object is not stored")
    # A match condition that is false leaves the webhook out.
    core.create_namespaced_config_map(ns, {"metadata": {"name": "c", "labels": {"deny": "yes"}, "annotations": {"skip": "1"}}})
    # The namespace selector: nothing is called for the other namespace.
    before = len(seen)
    core.create_namespaced_config_map(other, {"metadata": {"name": "d", "labels": {"deny": "yes"}}})
    check(len(seen) == before and core.read_namespaced_config_map("d", other).metadata.labels == {"deny": "yes"},
          f"namespace selector: {seen[before:]}")
    # Updates are admitted too, with the old object.
    try:
        core.patch_namespaced_config_map("a", ns, {"metadata": {"labels": {"deny": "yes"}}})
        check(False, "an update to deny=yes was accepted")
    except k.ApiException as e:
        check(e.status == 403, f"update refused: {e.status} {e.body}")
    # Dry run: side-effect-free webhooks are called with dryRun set; nothing is stored.
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}}, dry_run="All")
    check(any(s[2] == "dry" and s[6] is True for s in seen), f"dry run reached the webhooks: {seen[-3:]}")
    check(raw.do("GET", f"/api/v1/namespaces/{ns}/configmaps/dry")[0] == 404, "dry run stored nothing")
    # A webhook that answers for another request fails closed.
    adm.patch_validating_webhook_configuration(vname, [
        {"op": "replace", "path": "/webhooks/0/clientConfig/url", "value": f"https://127.0.0.1:{port}/wronguid"}])
    st, _, data = raw.do("POST", f"/api/v1/namespaces/{ns}/configmaps",
                         json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "e"}}), {"Content-Type": "application/json"})
    msg = json.loads(data).get("message", "")
    check(st == 500 and msg.startswith('Internal error occurred: failed calling webhook "validate.test.k8swift.io"') and "uid" in msg,
          f"wrong uid: {st} {data[:300]!r}")
    # A webhook that is down: Fail refuses, Ignore lets the write through.
    srv.shutdown()
    srv.server_close()
    adm.patch_validating_webhook_configuration(vname, [
        {"op": "replace", "path": "/webhooks/0/clientConfig/url", "value": f"https://127.0.0.1:{port}/validate"}])
    adm.delete_mutating_webhook_configuration(mname)
    st, _, data = raw.do("POST", f"/api/v1/namespaces/{ns}/configmaps",
                         json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f"}}), {"Content-Type": "application/json"})
    check(st == 500 and 'failed calling webhook "validate.test.k8swift.io": failed to call webhook' in json.loads(data).get("message", ""),
          f"webhook down, Fail: {st} {data[:300]!r}")
    adm.patch_validating_webhook_configuration(vname, [{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}])
    st, _, data = raw.do("POST", f"/api/v1/namespaces/{ns}/configmaps",
                         json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f"}}), {"Content-Type": "application/json"})
    check(st == 201, f"webhook down, Ignore: {st} {data[:300]!r}")
    # Bad configurations are refused with upstream's messages.
    try:
        adm.create_validating_webhook_configuration({"metadata": {"name": "bad-" + ns}, "webhooks": [
            {"name": "short", "admissionReviewVersions": ["v1"], "sideEffects": "Some",
             "clientConfig": {"url": "http://127.0.0.1/x"}, "matchConditions": [{"name": "c", "expression": "object.("}]}]})
        check(False, "a bad webhook configuration was accepted")
    except k.ApiException as e:
        body = json.loads(e.body).get("message", "")
        for text in ['webhooks[0].name: Invalid value: "short": should be a domain with at least three segments separated by dots',
                     "webhooks[0].clientConfig.url: Invalid value: \"http://127.0.0.1/x\": 'https' is the only allowed URL scheme",
                     'webhooks[0].sideEffects: Unsupported value: "Some": supported values: "None", "NoneOnDryRun"',
                     "webhooks[0].matchConditions[0].expression: Invalid value: \"object.(\": compilation failed: ERROR: <input>:1:8"]:
            check(e.status == 422 and text in body, f"bad configuration: missing {text!r} in {body}")
    adm.delete_validating_webhook_configuration(vname)
    core.delete_namespace(ns)
    core.delete_namespace(other)


def aggregation(args):
    """API aggregation: a small metrics.k8s.io/v1beta1 extension server of the test's own, over TLS,
    trusting the front proxy's client certificate from kube-system/extension-apiserver-authentication
    as real extension servers do; its APIService turns Available, discovery lists its resources,
    requests are proxied with the user in X-Remote-User/X-Remote-Group, `kubectl top` works, and
    when it goes away the APIService says why and requests get 503."""
    import subprocess
    from kubernetes import client as k, config
    config.load_kube_config(args.kubeconfig)
    core, reg = k.CoreV1Api(), k.ApiregistrationV1Api()
    raw = Raw(args.data_dir, port_of(args.kubeconfig))
    ns = "agg-" + uuid.uuid4().hex[:6]
    core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns)))
    auth = core.read_namespaced_config_map("extension-apiserver-authentication", "kube-system").data
    allowed = json.loads(auth["requestheader-allowed-names"])
    check(json.loads(auth["requestheader-username-headers"]) == ["X-Remote-User"] and
          json.loads(auth["requestheader-group-headers"]) == ["X-Remote-Group"] and allowed == ["front-proxy-client"],
          f"extension-apiserver-authentication: {auth.keys()}")
    ca, crt, key = make_serving_cert(args.data_dir, [f"metrics.{ns}.svc"])
    nodes = [f"{ns}-node-{i}" for i in (1, 2)]
    for n in nodes:
        core.create_node({"metadata": {"name": n}})
        core.patch_node_status(n, {"status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                                              "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}})
    core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    seen = []
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def node_metrics(i, n):
        return {"metadata": {"name": n, "creationTimestamp": now}, "timestamp": now, "window": "10s",
                "usage": {"cpu": f"{(i + 1) * 250}m", "memory": f"{(i + 1) * 512}Mi"}}

    def handle(h):
        cert = h.connection.getpeercert()
        cn = dict(x[0] for x in cert.get("subject", ())).get("commonName") if cert else None
        if cn not in allowed:
            return 401, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 401, "message": "not the front proxy"}
        seen.append((h.path, h.headers.get("X-Remote-User"), h.headers.get_all("X-Remote-Group") or []))
        base = "/apis/metrics.k8s.io/v1beta1"
        path = h.path.split("?")[0]
        if path == base:
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.k8s.io/v1beta1", "resources": [
                {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
                {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]}]}
        if path == base + "/nodes":
            return 200, {"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
                         "items": [node_metrics(i, n) for i, n in enumerate(nodes)]}
        if path.startswith(base + "/nodes/"):
            n = path.rsplit("/", 1)[1]
            if n in nodes:
                return 200, dict(node_metrics(nodes.index(n), n), kind="NodeMetrics", apiVersion="metrics.k8s.io/v1beta1")
            return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound",
                         "message": f'nodemetrics.metrics.k8s.io "{n}" not found'}
        if path == f"{base}/namespaces/{ns}/pods":
            return 200, {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [
                {"metadata": {"name": "p", "namespace": ns, "creationTimestamp": now}, "timestamp": now, "window": "10s",
                 "containers": [{"name": "c", "usage": {"cpu": "5m", "memory": "7Mi"}}]}]}
        return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "message": "not found"}

    srv, port = serve_https(crt, key, handle, client_ca=auth["requestheader-client-ca-file"])
    name = "v1beta1.metrics.k8s.io"

    def available(want, timeout=20):
        end = time.time() + timeout
        cond = None
        while time.time() < end:
            conds = reg.read_api_service(name).status.conditions or []
            cond = next((c for c in conds if c.type == "Available"), None)
            if cond and want(cond):
                return cond
            time.sleep(0.2)
        return cond
    # A misnamed APIService is refused as upstream refuses it.
    try:
        reg.create_api_service({"metadata": {"name": "wrong.metrics.k8s.io"}, "spec": {
            "group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
            "service": {"namespace": ns, "name": "metrics", "port": 443}}})
        check(False, "a misnamed APIService was accepted")
    except k.ApiException as e:
        msg = json.loads(e.body).get("message", "")
        check(e.status == 422 and 'metadata.name: Invalid value: "wrong.metrics.k8s.io": must be `spec.version+"."+spec.group`' in msg,
              f"misnamed APIService: {e.status} {msg}")
    reg.create_api_service({"metadata": {"name": name}, "spec": {
        "group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
        "caBundle": base64.b64encode(ca).decode(), "service": {"namespace": ns, "name": "metrics", "port": 443}}})
    try:
        c = available(lambda c: c.reason == "ServiceNotFound")
        check(c and c.status == "False" and c.message == f'service/metrics in "{ns}" is not present', f"no service: {c}")
        st, _, data = raw.do("GET", "/apis/metrics.k8s.io/v1beta1/nodes")
        check(st == 503, f"unavailable: {st} {data[:200]!r}")
        core.create_namespaced_service(ns, {"metadata": {"name": "metrics"}, "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]}})
        c = available(lambda c: c.reason == "EndpointsNotFound")
        check(c and c.message == f'cannot find endpoints for service/metrics in "{ns}"', f"no endpoints: {c}")
        core.create_namespaced_endpoints(ns, {"metadata": {"name": "metrics"}, "subsets": [
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": port}]}]})
        c = available(lambda c: c.status == "True")
        check(c and c.reason == "Passed" and c.message == "all checks passed", f"available: {c}")
        # Discovery lists the group and its resources, legacy and aggregated.
        groups = json.loads(raw.do("GET", "/apis")[2])
        check(any(g["name"] == "metrics.k8s.io" and g["preferredVersion"]["groupVersion"] == "metrics.k8s.io/v1beta1"
                  for g in groups["groups"]), "legacy /apis lists metrics.k8s.io")
        agg = json.loads(raw.do("GET", "/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})[2])
        mg = [g for g in agg["items"] if g["metadata"]["name"] == "metrics.k8s.io"]
        check(mg and sorted(r["resource"] for r in mg[0]["versions"][0]["resources"]) == ["nodes", "pods"], f"aggregated discovery: {mg}")
        ar = subprocess.run(["kubectl", "--kubeconfig", args.kubeconfig, "api-resources", "--api-group=metrics.k8s.io", "-o", "name"],
                            capture_output=True, text=True)
        check(sorted(ar.stdout.split()) == ["nodes.metrics.k8s.io", "pods.metrics.k8s.io"], f"api-resources: {ar.stdout} {ar.stderr}")
        # Proxied, with who asked.
        st, _, data = raw.do("GET", f"/apis/metrics.k8s.io/v1beta1/nodes/{nodes[1]}")
        check(st == 200 and json.loads(data)["usage"] == {"cpu": "500m", "memory": "1024Mi"}, f"proxied get: {st} {data[:300]!r}")
        last = seen[-1]
        check(last[1] == "kubernetes-admin" and "system:masters" in last[2], f"identity headers: {last}")
        st, _, data = raw.do("GET", "/apis/metrics.k8s.io/v1beta1/nodes/missing")
        check(st == 404 and "not found" in json.loads(data).get("message", ""), f"extension's 404 passed through: {st} {data[:200]!r}")
        # kubectl top, as users run it.
        top = subprocess.run(["kubectl", "--kubeconfig", args.kubeconfig, "top", "node", nodes[0]], capture_output=True, text=True)
        row = top.stdout.splitlines()[-1].split() if top.stdout.strip() else []
        check(top.returncode == 0 and row == [nodes[0], "250m", "6%", "512Mi", "6%"], f"kubectl top node: {top.stdout} {top.stderr}")
        tp = subprocess.run(["kubectl", "--kubeconfig", args.kubeconfig, "-n", ns, "top", "pod"], capture_output=True, text=True)
        check(tp.returncode == 0 and tp.stdout.splitlines()[-1].split() == ["p", "5m", "7Mi"], f"kubectl top pod: {tp.stdout} {tp.stderr}")
        # The extension server goes away: unavailable, with the reason, and 503 for its requests.
        srv.shutdown()
        srv.server_close()
        c = available(lambda c: c.status == "False", timeout=45)
        check(c and c.reason == "FailedDiscoveryCheck" and c.message.startswith(f"failing or missing response from https://127.0.0.1:{port}/apis/metrics.k8s.io/v1beta1"),
              f"after shutdown: {c}")
        st, _, data = raw.do("GET", "/apis/metrics.k8s.io/v1beta1/nodes")
        check(st == 503, f"after shutdown: {st} {data[:200]!r}")
        check(raw.do("GET", "/api/v1/namespaces")[0] == 200, "everything else keeps serving")
    finally:
        reg.delete_api_service(name)
        for n in nodes:
            core.delete_node(n)
        core.delete_namespace(ns)


def apply_checks(args):
    """Server-side apply through raw HTTP and the Python client: upstream's errors for bad apply
    requests, create by apply (201), and the dynamic client's server_side_apply."""
    from kubernetes import client as k, config, dynamic
    raw = Raw(args.data_dir, port_of(args.kubeconfig))
    ns = "ssa-" + uuid.uuid4().hex[:6]
    raw.do("POST", "/api/v1/namespaces", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
           {"Content-Type": "application/json"})
    path = f"/api/v1/namespaces/{ns}/configmaps/c"
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}})
    apply_ct = {"Content-Type": "application/apply-patch+yaml"}
    st, _, data = raw.do("PATCH", path, body, apply_ct)
    m = json.loads(data)
    check(st == 422 and m.get("message") == 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
          f"no manager: {st} {data!r}")
    st, _, data = raw.do("PATCH", path + "?fieldManager=m", json.dumps({"metadata": {"name": "c"}}), apply_ct)
    check(st == 400 and json.loads(data).get("message") == "invalid object type: /, Kind=", f"no kind: {st} {data!r}")
    st, _, data = raw.do("PATCH", path + "?fieldManager=m",
                         json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": []}}), apply_ct)
    check(st == 400 and json.loads(data).get("message") == "metadata.managedFields must be nil", f"managedFields: {st} {data!r}")
    st, _, data = raw.do("PATCH", path + "?fieldManager=m", body, apply_ct)
    created = json.loads(data)
    mf = created["metadata"].get("managedFields", [])
    check(st == 201 and [(e["manager"], e["operation"]) for e in mf] == [("m", "Apply")]
          and mf[0]["fieldsV1"] == {"f:data": {"f:a": {}}}, f"create by apply: {st} {mf}")
    st, _, data = raw.do("PATCH", path + "?fieldManager=m", body, apply_ct)
    check(st == 200 and json.loads(data)["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"],
          f"a repeated apply changes nothing: {st}")
    st, _, data = raw.do("PATCH", path + "?force=true", json.dumps({"data": {"a": "2"}}), {"Content-Type": "application/merge-patch+json"})
    check(st == 422 and "force: Forbidden: may not be specified for non-apply patch" in json.loads(data).get("message", ""),
          f"force on merge patch: {st} {data!r}")
    st, _, data = raw.do("PATCH", path + "?fieldManager=other", json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}}), apply_ct)
    status = json.loads(data)
    causes = status.get("details", {}).get("causes", [])
    check(st == 409 and status.get("reason") == "Conflict"
          and status.get("message") == 'Apply failed with 1 conflict: conflict with "m": .data.a'
          and causes == [{"reason": "FieldManagerConflict", "message": 'conflict with "m"', "field": ".data.a"}],
          f"conflict: {st} {data!r}")
    # The Python client's dynamic client applies server-side too.
    config.load_kube_config(args.kubeconfig)
    dyn = dynamic.DynamicClient(k.ApiClient(), cache_file=os.path.join(args.data_dir, f"discovery-{ns}.json"))
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    out = cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "py"}, "data": {"x": "1"}},
                                namespace=ns, field_manager="py")
    check(out.data.x == "1", f"python server_side_apply: {out}")
    out = cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "5"}},
                                namespace=ns, field_manager="py", force_conflicts=True)
    check(out.data.a == "5", f"python forced apply: {out}")


def operator(args):
    """Runs the small kopf operator of operator_app.py against the server: a Greeting gets a
    ConfigMap it owns and a status; an edit updates both; deleting it lets the finalizer go."""
    from kubernetes import client as k, config
    import subprocess
    config.load_kube_config(args.kubeconfig)
    ext, core, co = k.ApiextensionsV1Api(), k.CoreV1Api(), k.CustomObjectsApi()
    group = "kopf.example.com"
    try:
        ext.create_custom_resource_definition({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"greetings.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "greetings", "singular": "greeting", "kind": "Greeting"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                       "spec": {"type": "object", "properties": {"name": {"type": "string"}}},
                                       "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}})
    except k.ApiException as e:
        check(e.status == 409, f"crd: {e}")
    time.sleep(1)
    ns = "kopf-" + uuid.uuid4().hex[:6]
    core.create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns)))
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, KUBECONFIG=args.kubeconfig)
    proc = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", ns,
                             os.path.join(here, "operator_app.py")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        co.create_namespaced_custom_object(group, "v1", ns, "greetings",
                                           {"apiVersion": f"{group}/v1", "kind": "Greeting", "metadata": {"name": "hi"}, "spec": {"name": "world"}})

        def wait(what, cond, timeout=40):
            end = time.time() + timeout
            last = None
            while time.time() < end:
                try:
                    last = cond()
                    if last:
                        return last
                except k.ApiException:
                    pass
                time.sleep(0.3)
            check(False, f"timed out waiting for {what} (last: {last})")
        cm = wait("configmap", lambda: core.read_namespaced_config_map("hi-greeting", ns))
        if cm:
            check(cm.data == {"message": "hello, world"}, f"configmap data: {cm.data}")
            owners = cm.metadata.owner_references or []
            check(len(owners) == 1 and owners[0].kind == "Greeting" and owners[0].name == "hi", f"owner: {owners}")
        wait("status", lambda: (co.get_namespaced_custom_object_status(group, "v1", ns, "greetings", "hi").get("status") or {})
             .get("create_greeting", {}).get("message") == "hello, world")
        co.patch_namespaced_custom_object(group, "v1", ns, "greetings", "hi", {"spec": {"name": "swift"}})
        wait("updated configmap", lambda: core.read_namespaced_config_map("hi-greeting", ns).data == {"message": "hello, swift"})
        co.delete_namespaced_custom_object(group, "v1", ns, "greetings", "hi")
        wait("greeting gone", lambda: not [i for i in co.list_namespaced_custom_object(group, "v1", ns, "greetings")["items"]])
    finally:
        proc.terminate()
        try:
            out = proc.communicate(timeout=10)[0].decode(errors="replace")
        except Exception:
            proc.kill()
            out = ""
        if failures:
            print(out[-4000:])


def streams(args):
    """The official client's exec (WebSocket, channel protocol) and port-forward against a running
    pod `web` that serves `hello-from-pod` on 8080 in the given namespace."""
    from kubernetes import client as k, config
    from kubernetes.stream import stream, portforward
    config.load_kube_config(args.kubeconfig)
    core = k.CoreV1Api()
    ns = args.namespace
    out = stream(core.connect_get_namespaced_pod_exec, "web", ns, command=["sh", "-c", "echo py-out; echo py-err >&2"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    check(out == "py-out\npy-err\n", f"exec output: {out!r}")
    resp = stream(core.connect_get_namespaced_pod_exec, "web", ns, command=["sh", "-c", "read x; echo got-$x; exit 7"],
                  stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
    resp.write_stdin("abc\n")
    got = ""
    deadline = time.time() + 20
    while resp.is_open() and time.time() < deadline:
        resp.update(timeout=1)
        got += resp.read_stdout()
    check(got.strip() == "got-abc", f"exec with stdin: {got!r}")
    check(resp.returncode == 7, f"exit code {resp.returncode}")
    pf = portforward(core.connect_get_namespaced_pod_portforward, "web", ns, ports="8080")
    sock = pf.socket(8080)
    sock.setblocking(True)
    sock.sendall(b"GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n")
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    check(data.startswith(b"HTTP/1.") and data.endswith(b"hello-from-pod\n"), f"port-forward answer: {data[-200:]!r}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("count", nargs="?", type=int, default=1000)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--testdata", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--acked", default="")
    ap.add_argument("--namespace", default="default")
    a = ap.parse_args()
    {"client": client, "controllers": controllers, "recorded": recorded, "fuzz": fuzz, "writer": writer,
     "custom": custom, "operator": operator, "conversion": conversion, "apply": apply_checks,
     "admission": admission, "aggregation": aggregation, "streams": streams}[a.mode](a)
    for f in failures[:50]:
        print("FAIL:", f)
    print(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)
