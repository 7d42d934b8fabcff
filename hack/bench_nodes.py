#!/usr/bin/env python3
"""Node-scale benchmark: `k8swift server` on SQLite (its kubelet off, scheduler and controller
manager on) and `k8swift hollow-nodes` (real kubelets over an in-memory runtime, all in one
process) against it:

  - time until all N hollow nodes are Ready, and the steady CPU (cores) of both processes over
    30 s of heartbeats alone (node status every 10 s, Lease renewals);
  - P pods as Deployments of up to 500 replicas spread over ten namespaces (pause image, 10m CPU
    and 16Mi each): time until every replica is created and until every one is Ready (which
    implies Running), read from the Deployments' status, then checked on the pods themselves
    (Table rows: status Running with an IP);
  - the steady CPU of both processes over 60 s after that, and each one's resident size.

Prints one JSON document.

usage: bench_nodes.py BINARY [--nodes N --pods P]   (defaults 5000 nodes, 150000 pods)"""
import json, os, shutil, ssl, subprocess, sys, tempfile, time, http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_api import cpu_seconds, free_port, rss_mib  # noqa: E402

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
NAMESPACES = 10
PER_DEPLOYMENT = 500


def start_server(binary):
    d = tempfile.mkdtemp(prefix="k8swift-nodebench-")
    port = free_port()
    log = open(os.path.join(d, "server.log"), "w")
    kc = os.path.join(d, "kubeconfig.yaml")
    proc = subprocess.Popen([binary, "server", "--disable", "kubelet", "--data-dir", d, "--secure-port", str(port),
                             "--bind-address", "127.0.0.1", "--write-kubeconfig", kc,
                             # k3s's default 10.42.0.0/16 holds 256 nodes' /24s; 100.64.0.0/10 holds 16,384.
                             "--kube-controller-manager-arg", "cluster-cidr=100.64.0.0/10"], stdout=log, stderr=log)
    t0 = time.monotonic()
    while not os.path.exists(kc) and time.monotonic() - t0 < 60:
        time.sleep(0.05)
    if not os.path.exists(kc):
        proc.terminate()
        raise SystemExit("server did not start")
    time.sleep(0.5)
    return proc, d, port, kc


class API:
    """An HTTPS/1.1 connection to the server as its admin (the data dir's client certificate)."""

    def __init__(self, d, port):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(os.path.join(d, "tls", "admin.crt"), os.path.join(d, "tls", "admin.key"))
        self.ctx, self.port = ctx, port
        self.conn = None

    def call(self, method, path, body=None, accept="application/json"):
        headers = {"Accept": accept}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        for attempt in range(10):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=120)
                self.conn.request(method, path, data, headers)
                r = self.conn.getresponse()
                answer = r.read()
                if r.status == 429:
                    time.sleep(1)
                    continue
                return r.status, json.loads(answer) if answer else None
            except (OSError, http.client.HTTPException):
                self.conn = None
                time.sleep(0.5 * (attempt + 1))
        raise SystemExit(f"{method} {path}: the server does not answer")

    def rows(self, path, column):
        """Every row of a Table listing (paged), as (name, value of `column`, row cells by column name)."""
        out, cont = [], ""
        while True:
            sep = "&" if "?" in path else "?"
            q = f"{path}{sep}limit=10000" + (f"&continue={cont}" if cont else "&resourceVersion=0")
            status, t = self.call("GET", q, accept=TABLE)
            if status != 200:
                raise SystemExit(f"GET {q}: {status} {t}")
            names = [c["name"] for c in t["columnDefinitions"]]
            for r in t.get("rows", []):
                cells = dict(zip(names, r["cells"]))
                out.append((cells.get("Name"), cells.get(column), cells))
            cont = (t.get("metadata") or {}).get("continue", "")
            if not cont:
                return out


def deployment(name, replicas):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10.2",
                                                           "resources": {"requests": {"cpu": "10m",
                                                                                      "memory": "16Mi"}}}]}}}}


def cores(pids, seconds):
    """CPU cores each process used over `seconds`."""
    start = {k: cpu_seconds(p) for k, p in pids.items()}
    time.sleep(seconds)
    return {k: round((cpu_seconds(p) - start[k]) / seconds, 3) for k, p in pids.items()}


def main():
    args = sys.argv[1:]
    binary = os.path.abspath(args.pop(0))
    nodes, pods = 5000, 150000
    while args:
        a = args.pop(0)
        if a == "--nodes":
            nodes = int(args.pop(0))
        elif a == "--pods":
            pods = int(args.pop(0))
    report = {"nodes": nodes, "pods": pods}
    server, d, port, kc = start_server(binary)
    hollow = None
    try:
        api = API(d, port)
        hlog = open(os.path.join(d, "hollow.log"), "w")
        t0 = time.monotonic()
        hollow = subprocess.Popen([binary, "hollow-nodes", "--count", str(nodes), "--kubeconfig", kc],
                                  stdout=hlog, stderr=hlog)
        pids = {"server": server.pid, "hollow_nodes": hollow.pid}
        ready = 0
        while ready < nodes:
            if hollow.poll() is not None:
                raise SystemExit(f"hollow-nodes exited ({hollow.returncode}); see {d}/hollow.log")
            if time.monotonic() - t0 > 1800:
                raise SystemExit(f"only {ready} of {nodes} nodes Ready after 30 minutes")
            time.sleep(2)
            ready = sum(1 for _, s, _ in api.rows("/api/v1/nodes", "Status") if s == "Ready")
        report["nodes_ready_s"] = round(time.monotonic() - t0, 1)
        time.sleep(10)
        report["heartbeats_only_cpu_cores"] = cores(pids, 30)
        report["rss_mib_nodes_only"] = {k: rss_mib(p) for k, p in pids.items()}

        # The pods, as Deployments spread over namespaces.
        plan = []
        left, i = pods, 0
        while left > 0:
            n = min(PER_DEPLOYMENT, left)
            plan.append((f"bench-{i % NAMESPACES}", f"d{i}", n))
            left -= n
            i += 1
        for ns in sorted({p[0] for p in plan}):
            api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        t1 = time.monotonic()
        for ns, name, n in plan:
            status, body = api.call("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment(name, n))
            if status != 201:
                raise SystemExit(f"creating deployment {ns}/{name}: {status} {body}")
        created_at = None
        progress = []
        while True:
            if hollow.poll() is not None:
                raise SystemExit(f"hollow-nodes exited ({hollow.returncode}); see {d}/hollow.log")
            elapsed = time.monotonic() - t1
            if elapsed > 3600:
                raise SystemExit(f"pods not all Ready after an hour: {progress[-1:]}")
            time.sleep(1)
            _, lst = api.call("GET", "/apis/apps/v1/deployments?resourceVersion=0")
            items = lst.get("items", [])
            replicas = sum((x.get("status") or {}).get("replicas", 0) for x in items)
            readies = sum((x.get("status") or {}).get("readyReplicas", 0) for x in items)
            if not progress or int(elapsed) // 30 != int(progress[-1]["s"]) // 30:
                progress.append({"s": round(elapsed), "created": replicas, "ready": readies})
            if created_at is None and replicas >= pods:
                created_at = elapsed
            if readies >= pods:
                break
        report["pods_created_s"] = round(created_at or elapsed, 1)
        report["pods_ready_s"] = round(elapsed, 1)
        report["pods_per_s"] = round(pods / elapsed, 1)
        report["ramp_cpu_cores"] = {k: round((cpu_seconds(p) - cpu0[k]) / elapsed, 3) for k, p in pids.items()}
        report["progress"] = progress
        rows = api.rows("/api/v1/pods", "Status")
        report["pods_running_with_ip"] = sum(1 for _, s, c in rows if s == "Running" and c.get("IP") not in (None, "", "<none>"))
        report["steady_cpu_cores"] = cores(pids, 60)
        report["rss_mib"] = {k: rss_mib(p) for k, p in pids.items()}
    finally:
        for p in (hollow, server):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if os.environ.get("BENCH_KEEP"):
            sys.stderr.write(f"bench_nodes: kept {d}\n")
        else:
            shutil.rmtree(d, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
