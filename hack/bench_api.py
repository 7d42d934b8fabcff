#!/usr/bin/env python3
"""API benchmark for `make bench`: starts `k8swift server` (the given binary) on a free loopback
port with a fresh data dir, measures the time to a 200 from /readyz and the idle RSS, runs
../shared/tools/apiload.py (the common yardstick, beside the checkout, not part of it) against it when
that file is there, and reports RSS after the run. Prints one JSON document.

With --etcd it starts a local etcd (Debian's etcd-server) and `k8swift kube-apiserver
--etcd-servers=...` instead, and also reports etcd's own write rate measured with the same curl
driver (puts through etcd's JSON gateway), the ceiling for creates.

usage: bench_api.py BINARY [--apiload PATH] [--etcd] [-- apiload args...]"""
import json, os, resource, shutil, socket, ssl, subprocess, sys, tempfile, time, http.client


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def curl_phase(d, port, ns, kind, count, conc, url=None, body=None, names=None):
    """A faster driver than Python: one curl process, HTTP/2, `conc` transfers in parallel, the
    requests made by URL globbing (creates use generateName so one body serves all). ConfigMaps
    unless `url` (a collection), `body` (a create) and `names` (to GET) say otherwise."""
    tls = os.path.join(d, "tls")
    base = ["curl", "-s", "--http2", "--parallel", "--parallel-immediate", "--parallel-max", str(conc),
            "--cacert", os.path.join(tls, "ca.crt"), "--cert", os.path.join(tls, "admin.crt"),
            "--key", os.path.join(tls, "admin.key"), "-w", "\\nCODE:%{http_code}\\n"]
    url = url or f"https://127.0.0.1:{port}/api/v1/namespaces/{ns}/configmaps"
    names = names or GET_NAMES
    if kind == "create":
        body = body or json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "fast-"},
                                   "data": {"payload": "x" * 256}})
        args = base + ["-H", "Content-Type: application/json", "-d", body, f"{url}?n=[1-{count}]"]
    else:
        args = base + [f"{url}/{{names}}?n=[1-{count // len(names)}]"]
        args[-1] = args[-1].replace("{names}", "{" + ",".join(names) + "}")
    t0 = time.monotonic()
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    codes = [l[5:] for l in out.stdout.splitlines() if l.startswith("CODE:")]
    ok = sum(1 for c in codes if c in ("200", "201"))
    hist = {}
    for c in codes:
        hist[c] = hist.get(c, 0) + 1
    return {"driver": "curl --http2 --parallel", "requests": len(codes), "concurrency": conc, "ok": ok, "codes": hist,
            "wall_s": round(wall, 3), "per_s": round(ok / wall, 1)}


GET_NAMES = []


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.bench.example.com"},
    "spec": {"group": "bench.example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "properties": {"spec": {
                     "type": "object",
                     "x-kubernetes-validations": [
                         {"rule": "self.minReplicas <= self.replicas", "message": "replicas below minimum"},
                         {"rule": "self.payload.size() <= 1024"}],
                     "properties": {"replicas": {"type": "integer", "default": 1}, "minReplicas": {"type": "integer", "default": 0},
                                    "payload": {"type": "string"}, "tier": {"type": "string", "enum": ["a", "b"]}}}}}}}]}}


def timed(conn, method, path, body=None, headers=None):
    t = time.monotonic()
    conn.request(method, path, body, headers or {})
    data = conn.getresponse().read()
    return time.monotonic() - t, data


def list_and_watch(ctx, port, collection, make_body):
    """LIST latency of the whole collection (median of 5) and watch latency: from a create's
    response to the event on an open watch (median of 20)."""
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    lists = sorted(timed(c, "GET", collection)[0] for _ in range(5))
    w = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    w.request("GET", collection + "?watch=true&resourceVersion=" + json.loads(timed(c, "GET", collection + "?limit=1")[1])["metadata"]["resourceVersion"])
    resp = w.getresponse()
    lat = []
    for i in range(20):
        body = make_body(f"watch-{i}")
        t = time.monotonic()
        c.request("POST", collection, json.dumps(body), {"Content-Type": "application/json"})
        c.getresponse().read()
        while True:
            line = resp.readline()
            if not line:
                break
            if f'"watch-{i}"'.encode() in line:
                lat.append(time.monotonic() - t)
                break
    w.close()
    lat.sort()
    return {"list_ms_median": round(lists[2] * 1000, 2), "watch_event_ms_median": round(lat[len(lat) // 2] * 1000, 2) if lat else None}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_etcd(d):
    """A single-member etcd with default settings on free loopback ports; returns (process, url)."""
    client, peer = free_port(), free_port()
    url, purl = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    proc = subprocess.Popen(["etcd", "--name", "bench", "--data-dir", os.path.join(d, "etcd"),
                             "--listen-client-urls", url, "--advertise-client-urls", url,
                             "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                             "--initial-cluster", f"bench={purl}", "--log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            c = http.client.HTTPConnection("127.0.0.1", client, timeout=1)
            c.request("GET", "/health")
            if b'"true"' in c.getresponse().read():
                return proc, url
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("etcd did not start")


def etcd_put_rate(url, count, conc):
    """etcd's raw write rate: `count` puts of a 256-byte value through its JSON gateway, with the
    same curl driver and concurrency as the API creates."""
    import base64
    key = base64.b64encode(b"/bench/raw").decode()
    body = json.dumps({"key": key, "value": base64.b64encode(b"x" * 256).decode()})
    args = ["curl", "-s", "--parallel", "--parallel-immediate", "--parallel-max", str(conc), "-w", "\\nCODE:%{http_code}\\n",
            "-H", "Content-Type: application/json", "-d", body, f"{url}/v3/kv/put?n=[1-{count}]"]
    t0 = time.monotonic()
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    ok = sum(1 for l in out.stdout.splitlines() if l == "CODE:200")
    return {"driver": "curl --parallel (etcd JSON gateway)", "requests": count, "concurrency": conc, "ok": ok,
            "wall_s": round(wall, 3), "per_s": round(ok / wall, 1)}


def custom_resource_phase(d, port, pid, ctx):
    """A custom resource with a schema (defaults, an enum) and two CEL rules beside ConfigMaps on
    the same server and driver: creates/s, GETs/s and server CPU per request for each, and LIST
    and watch latency."""
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    c.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json.dumps(CRD), {"Content-Type": "application/json"})
    c.getresponse().read()
    for _ in range(100):
        c.request("GET", "/apis/bench.example.com/v1")
        r = c.getresponse()
        r.read()
        if r.status == 200:
            break
        time.sleep(0.05)
    out = {}
    for kind, ns in (("configmaps", "cmp-cm"), ("widgets", "cmp-cr")):
        c.request("POST", "/api/v1/namespaces", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                  {"Content-Type": "application/json"})
        c.getresponse().read()
        if kind == "configmaps":
            collection = f"/api/v1/namespaces/{ns}/configmaps"
            make = lambda name: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"payload": "x" * 256}}
        else:
            collection = f"/apis/bench.example.com/v1/namespaces/{ns}/widgets"
            make = lambda name: {"apiVersion": "bench.example.com/v1", "kind": "Widget", "metadata": {"name": name},
                                 "spec": {"replicas": 3, "minReplicas": 1, "tier": "a", "payload": "x" * 256}}
        body = make("x")
        del body["metadata"]["name"]
        body["metadata"]["generateName"] = "fast-"
        url = f"https://127.0.0.1:{port}{collection}"
        cpu0 = cpu_seconds(pid)
        create = curl_phase(d, port, ns, "create", 2000, 16, url=url, body=json.dumps(body))
        cpu1 = cpu_seconds(pid)
        c.request("GET", collection + "?limit=100")
        names = [i["metadata"]["name"] for i in json.loads(c.getresponse().read())["items"]]
        get = curl_phase(d, port, ns, "get", 10000, 16, url=url, names=names)
        cpu2 = cpu_seconds(pid)
        out[kind] = {"creates_per_s": create["per_s"], "gets_per_s": get["per_s"],
                     "cpu_ms_per_create": round((cpu1 - cpu0) * 1000 / max(create["ok"], 1), 3),
                     "cpu_ms_per_get": round((cpu2 - cpu1) * 1000 / max(get["ok"], 1), 3),
                     "objects": create["ok"], **list_and_watch(ctx, port, collection, make)}
    return out


def main():
    args = sys.argv[1:]
    binary = args.pop(0)
    apiload = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tools", "apiload.py")
    if args and args[0] == "--apiload":
        apiload = args[1]
        args = args[2:]
    on_etcd = bool(args) and args[0] == "--etcd"
    if on_etcd:
        args = args[1:]
    if args and args[0] == "--":
        args = args[1:]
    d = tempfile.mkdtemp(prefix="k8swift-bench-")
    port = free_port()
    log = open(os.path.join(d, "server.log"), "w")
    etcd, etcd_url = start_etcd(d) if on_etcd else (None, None)
    cmd = [binary, "server", "--disable", "kubelet", "--data-dir", d, "--secure-port", str(port), "--bind-address", "127.0.0.1"]
    if on_etcd:
        cmd = [binary, "kube-apiserver", "--data-dir", d, "--secure-port", str(port), "--bind-address", "127.0.0.1",
               "--etcd-servers", etcd_url, "--write-kubeconfig", os.path.join(d, "kubeconfig.yaml")]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    ready = None
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        while time.monotonic() - t0 < 60:
            try:
                c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=1)
                c.request("GET", "/readyz")
                r = c.getresponse()
                if r.status == 200:
                    ready = time.monotonic() - t0
                    break
            except OSError:
                pass
            time.sleep(0.002)
        if ready is None:
            raise SystemExit("server did not become ready")
        time.sleep(2)
        idle = rss_mib(proc.pid)
        cpu0, t_load = cpu_seconds(proc.pid), time.monotonic()
        etcd_cpu0 = cpu_seconds(etcd.pid) if etcd else 0.0
        driver0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if os.path.exists(apiload):
            out = subprocess.run([sys.executable, apiload, "--kubeconfig", os.path.join(d, "kubeconfig.yaml"), "--pid", str(proc.pid),
                                  "--label", "k8swift-etcd" if on_etcd else "k8swift"] + args, capture_output=True, text=True, timeout=1800)
            if out.returncode != 0:
                sys.stderr.write(out.stderr)
                raise SystemExit("apiload failed")
            apiload_report = json.loads(out.stdout)
        else:
            sys.stderr.write(f"bench_api: {apiload} is not there; skipping the apiload phase (the curl driver still runs)\n")
            apiload_report = {"skipped": f"{apiload} not found"}
        after = rss_mib(proc.pid)
        # The server's share of the machine during apiload: well under 2 cores means the driver binds.
        load_wall = time.monotonic() - t_load
        server_cores = round((cpu_seconds(proc.pid) - cpu0) / load_wall, 2)
        # Where the machine's CPU went during apiload: the driver, etcd and the server share it, so
        # the driver's and etcd's shares bound what any server can reach here.
        driver1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_split = {"wall_s": round(load_wall, 2), "machine_cores": os.cpu_count(),
                     "server_s": round(cpu_seconds(proc.pid) - cpu0, 2),
                     "driver_s": round(driver1.ru_utime + driver1.ru_stime - driver0.ru_utime - driver0.ru_stime, 2)}
        if etcd:
            cpu_split["etcd_s"] = round(cpu_seconds(etcd.pid) - etcd_cpu0, 2)
        fast = {}
        if shutil.which("curl"):
            ns = "fast"
            ctx2 = ssl.create_default_context(cafile=os.path.join(d, "tls", "ca.crt"))
            ctx2.load_cert_chain(os.path.join(d, "tls", "admin.crt"), os.path.join(d, "tls", "admin.key"))
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx2)
            c.request("POST", "/api/v1/namespaces", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                      {"Content-Type": "application/json"})
            c.getresponse().read()
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            fast["create"] = curl_phase(d, port, ns, "create", 4000, 16)
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx2)
            c.request("GET", f"/api/v1/namespaces/{ns}/configmaps?limit=100")
            GET_NAMES.extend(i["metadata"]["name"] for i in json.loads(c.getresponse().read())["items"])
            fast["get"] = curl_phase(d, port, ns, "get", 20000, 16)
            fast["server_cores"] = round((cpu_seconds(proc.pid) - cpu1) / (time.monotonic() - t1), 2)
            fast["rss_after_mib"] = rss_mib(proc.pid)
            fast["custom_resources"] = custom_resource_phase(d, port, proc.pid, ctx2)
        report = {"server": "k8swift kube-apiserver on etcd" if on_etcd else "k8swift", "ready_seconds": round(ready, 3),
                  "idle_rss_mib": idle, "rss_after_mib": after, "server_cores_during_apiload": server_cores,
                  "cpu_during_apiload": cpu_split,
                  "apiload": apiload_report, "fast_driver": fast}
        if on_etcd:
            version = json.loads(subprocess.run(["curl", "-s", f"{etcd_url}/version"], capture_output=True,
                                                text=True).stdout or "{}")
            report["etcd"] = {"version": version.get("etcdserver"), "raw_put": etcd_put_rate(etcd_url, 4000, 16)}
        print(json.dumps(report, indent=2))
    finally:
        proc.terminate()
        proc.wait()
        if etcd:
            etcd.terminate()
            etcd.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
