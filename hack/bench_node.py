#!/usr/bin/env python3
"""Node benchmark for `make bench` (root only; the machine needs containerd, runc and the CNI plugins):
`k8swift server` with its node, on a fresh data directory whose agent/images holds the project's pause
and busybox images (hack/node-images.sh, as the node end-to-end tests and `make run` do), so nothing is
pulled. Once the node is Ready and the image warm (one pod run first), it measures

  - pod start latency: from just before the create request to the watch event that shows the pod
    Running, for 30 pods created one after another (each waited for) and 30 created at once;
    p50, p99 and max of each, in seconds (the issue asks p50 <= 0.5 s and p99 <= 2 s);
  - the server's resident memory with the node and no pods, with 10 pods running, and that of a
    server started with `--disable kubelet` (one server at a time: processes of one binary keep
    each other's pages resident); containerd, a process of its own, is reported beside it.

Pods run busybox `sleep` with a 1 s grace period and are deleted through the API between phases; at
the end whatever the node left on the host (shims, mounts, cgroups, the bridge) is removed. Use
the lock the node end-to-end tests use: `flock /tmp/k8swift-node-e2e.lock python3 hack/bench_node.py BIN`.
Prints one JSON document.

usage: bench_node.py BINARY [--pods N] [--rss-pods N]"""
import concurrent.futures, http.client, json, os, shutil, signal, socket, ssl, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_api import free_port, rss_mib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def progress(what):
    sys.stderr.write(f"bench_node: {what}\n")
    sys.stderr.flush()


def missing():
    if os.getuid() != 0:
        return "not root"
    for b in ("/usr/bin/containerd", "/usr/bin/ctr", "/usr/sbin/runc", "/usr/lib/cni/bridge"):
        if not os.access(b, os.X_OK):
            return f"{b} is missing"
    return None


def node_images():
    out = subprocess.run([os.path.join(HERE, "node-images.sh")], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


class Server:
    """`k8swift server` on a fresh data directory, with a client of its admin certificate."""

    def __init__(self, binary, images=None, disable_kubelet=False):
        self.dir = tempfile.mkdtemp(prefix="k8swift-nodebench-")
        if images:
            os.makedirs(os.path.join(self.dir, "agent", "images"))
            for key in ("PAUSE_TAR", "BUSYBOX_TAR"):
                shutil.copy(images[key], os.path.join(self.dir, "agent", "images"))
        self.port = free_port()
        kc = os.path.join(self.dir, "kubeconfig.yaml")
        cmd = [binary, "server", "--data-dir", self.dir, "--secure-port", str(self.port), "--bind-address",
               "127.0.0.1", "--write-kubeconfig", kc]
        if disable_kubelet:
            cmd += ["--disable", "kubelet"]
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        tls = os.path.join(self.dir, "tls")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(os.path.join(tls, "admin.key")):
                try:
                    self.ctx = ssl.create_default_context(cafile=os.path.join(tls, "ca.crt"))
                    self.ctx.load_cert_chain(os.path.join(tls, "admin.crt"), os.path.join(tls, "admin.key"))
                    if self.request("GET", "/readyz", raw=True) == b"ok":
                        return
                except (OSError, ssl.SSLError, http.client.HTTPException, RuntimeError):
                    pass  # not serving yet, or /readyz not yet 200
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        if images:
            clean_host(self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        raise SystemExit("bench_node: the server did not become ready")

    def connection(self, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=timeout)

    def request(self, method, path, body=None, raw=False, ok=(200, 201, 202, 404)):
        """One request on a connection of its own; the decoded JSON answer (bytes when `raw`)."""
        c = self.connection()
        try:
            c.request(method, path, json.dumps(body) if body is not None else None,
                      {"Content-Type": "application/json"} if body is not None else {})
            r = c.getresponse()
            data = r.read()
            if r.status not in ok:
                raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
            return data if raw else json.loads(data)
        finally:
            c.close()

    def wait(self, what, check, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except (OSError, RuntimeError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        raise SystemExit(f"bench_node: timed out waiting for {what}; see {self.log.name}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def node_ready(s):
    items = s.request("GET", "/api/v1/nodes")["items"]
    return bool(items) and items[0]["spec"].get("podCIDR") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in items[0]["status"].get("conditions", []))


def pod_body(name, image):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "node"}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                {"name": "c", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"]}]}}


PODS = "/api/v1/namespaces/default/pods"


class RunningWatch:
    """A watch on the namespace's pods, noting when each pod is first seen Running."""

    def __init__(self, s):
        rv = s.request("GET", PODS + "?limit=1")["metadata"]["resourceVersion"]
        self.conn = s.connection(timeout=None)
        self.conn.request("GET", f"{PODS}?watch=true&allowWatchBookmarks=false&resourceVersion={rv}")
        self.resp = self.conn.getresponse()
        self.running = {}
        self.cond = threading.Condition()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                ev = json.loads(line)
                obj = ev.get("object", {})
                if obj.get("status", {}).get("phase") == "Running":
                    name = obj["metadata"]["name"]
                    with self.cond:
                        if name not in self.running:
                            self.running[name] = time.monotonic()
                            self.cond.notify_all()
        except (OSError, ValueError, http.client.HTTPException):
            return

    def wait_for(self, names, timeout=300):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(n in self.running for n in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"bench_node: pods not Running after {timeout} s: "
                                     f"{[n for n in names if n not in self.running]}")
                self.cond.wait(left)

    def close(self):
        # Shut the socket down first: closing the response while the reader thread is blocked in it
        # waits for that thread forever (they share the buffered reader's lock).
        # (No socket left means the response owns it: stopping the server ends the thread.)
        if self.conn.sock is not None:
            try:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def percentiles(samples):
    xs = sorted(samples)

    def rank(p):  # nearest rank
        return xs[max(0, min(len(xs) - 1, -(-len(xs) * p // 100) - 1))]

    return {"pods": len(xs), "p50_s": round(rank(50), 3), "p99_s": round(rank(99), 3), "max_s": round(xs[-1], 3)}


def delete_all(s):
    names = [p["metadata"]["name"] for p in s.request("GET", PODS + "?labelSelector=bench%3Dnode")["items"]]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        list(ex.map(lambda name: s.request("DELETE", f"{PODS}/{name}"), names))
    s.wait("the pods deleted", lambda: not s.request("GET", PODS + "?labelSelector=bench%3Dnode")["items"], timeout=180)


def sequential(s, watch, image, n):
    lat = []
    for i in range(n):
        name = f"seq-{i}"
        t0 = time.monotonic()
        s.request("POST", PODS, pod_body(name, image))
        watch.wait_for([name])
        lat.append(watch.running[name] - t0)
    return lat


def at_once(s, watch, image, n):
    names = [f"burst-{i}" for i in range(n)]
    starts = {}

    def create(name):
        starts[name] = time.monotonic()
        s.request("POST", PODS, pod_body(name, image))

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        list(ex.map(create, names))
    watch.wait_for(names)
    return [watch.running[n] - starts[n] for n in names]


def containerd_pids(d):
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if cmd.startswith(b"/usr/bin/containerd\0") and d.encode() in cmd:
            out.append(int(pid))
    return out


def settle_rss(pid, seconds):
    """Resident size after `seconds` of quiet, the pages of a fresh binary written back first."""
    os.sync()
    time.sleep(seconds)
    return rss_mib(pid)


def clean_host(d):
    """What the node leaves after its server stopped: shims and their processes, the pod cgroups,
    mounts under the data directory, the bridge, containerd's /run leftovers."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if b"containerd-shim" in cmd and d.encode() in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    for h in os.listdir("/sys/fs/cgroup"):
        top = f"/sys/fs/cgroup/{h}/kubepods"
        dirs = [root for root, _, files in os.walk(top) if "cgroup.procs" in files]
        for cg in dirs:
            for p in open(cg + "/cgroup.procs").read().split():
                try:
                    os.kill(int(p), signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.2)
        for cg in sorted(dirs, key=len, reverse=True):
            try:
                os.rmdir(cg)
            except OSError:
                pass
    mounts = [line.split()[1] for line in open("/proc/mounts").read().splitlines()]
    for m in reversed(mounts):
        if m.startswith(d):
            subprocess.run(["umount", "-l", m], capture_output=True)
    subprocess.run(["ip", "link", "del", "k8swift0"], capture_output=True)
    for r in ("/run/containerd/runc/k8s.io", "/run/containerd/runc", "/run/containerd/s", "/run/containerd/fifo",
              "/run/containerd"):
        try:
            os.rmdir(r)
        except OSError:
            pass
    shutil.rmtree(d, ignore_errors=True)


def main():
    args = sys.argv[1:]
    binary = os.path.abspath(args.pop(0))
    n, rss_pods = 30, 10
    while args:
        a = args.pop(0)
        if a == "--pods":
            n = int(args.pop(0))
        elif a == "--rss-pods":
            rss_pods = int(args.pop(0))
    why = missing()
    if why:
        print(json.dumps({"skipped": f"the node benchmark needs root, containerd, runc and CNI: {why}"}))
        return
    images = node_images()
    image = images["BUSYBOX_IMAGE"]
    report = {"binary": binary}

    # The control plane alone, for the node's share of the resident size.
    plain = Server(binary, disable_kubelet=True)
    try:
        report_rss = {"server_without_kubelet_mib": settle_rss(plain.proc.pid, 15)}
    finally:
        plain.stop()
        shutil.rmtree(plain.dir, ignore_errors=True)

    s = Server(binary, images=images)
    try:
        t0 = time.monotonic()
        s.wait("a Ready node", lambda: node_ready(s))
        report["node_ready_s"] = round(time.monotonic() - t0, 2)
        s.wait("the default service account",
               lambda: "metadata" in s.request("GET", "/api/v1/namespaces/default/serviceaccounts/default"))
        watch = RunningWatch(s)
        # Warm: the image unpacked, the first sandbox made.
        s.request("POST", PODS, pod_body("warm", image))
        watch.wait_for(["warm"])
        delete_all(s)
        report_rss["server_with_node_no_pods_mib"] = settle_rss(s.proc.pid, 15)

        progress("sequential creates")
        report["pod_start_one_after_another"] = percentiles(sequential(s, watch, image, n))
        delete_all(s)
        progress("creates at once")
        report["pod_start_at_once"] = percentiles(at_once(s, watch, image, n))
        delete_all(s)

        names = [f"rss-{i}" for i in range(rss_pods)]
        for name in names:
            s.request("POST", PODS, pod_body(name, image))
        watch.wait_for(names)
        report_rss[f"server_with_node_{rss_pods}_pods_mib"] = settle_rss(s.proc.pid, 15)
        ctrd = containerd_pids(s.dir)
        report_rss[f"containerd_with_{rss_pods}_pods_mib"] = rss_mib(ctrd[0]) if ctrd else None
        report_rss["node_cost_no_pods_mib"] = round(
            report_rss["server_with_node_no_pods_mib"] - report_rss["server_without_kubelet_mib"], 1)
        report_rss[f"node_cost_{rss_pods}_pods_mib"] = round(
            report_rss[f"server_with_node_{rss_pods}_pods_mib"] - report_rss["server_without_kubelet_mib"], 1)
        report["rss"] = report_rss
        print(json.dumps(report, indent=2), flush=True)
        delete_all(s)
        watch.close()
    finally:
        s.stop()
        clean_host(s.dir)


if __name__ == "__main__":
    main()
