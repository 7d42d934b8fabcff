#!/usr/bin/env python3
"""Scheduler benchmark for `make bench`: ../shared/tools/schedload.py (the common yardstick, beside
the checkout, not part of it) against `k8swift server` on SQLite with its own scheduler and
controller manager off, starting `k8swift kube-scheduler` (client QPS/burst 5000, as upstream was
measured) as the scheduler under test:

  - SchedulingBasic: 5,000 nodes and 10,000 pods (100m CPU, 500Mi each);
  - PodTopologySpread and InterPodAffinity workloads at 1,000 nodes (the same pods, each with a
    zone spread constraint, or a preferred pod affinity and a required hostname anti-affinity
    to a few pods), the pod builder of schedload replaced for those runs.

Also samples the scheduler process's resident memory during the basic run (peak RSS). Prints one
JSON document.

usage: bench_scheduler.py BINARY [--schedload PATH] [--nodes N --pods P]"""
import json, os, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_api import cpu_seconds, free_port, rss_mib  # noqa: E402


def start_server(binary):
    d = tempfile.mkdtemp(prefix="k8swift-schedbench-")
    port = free_port()
    log = open(os.path.join(d, "server.log"), "w")
    kc = os.path.join(d, "kubeconfig.yaml")
    proc = subprocess.Popen([binary, "server", "--disable", "kubelet", "--data-dir", d, "--secure-port", str(port), "--bind-address",
                             "127.0.0.1", "--write-kubeconfig", kc, "--disable", "scheduler,controller-manager"],
                            stdout=log, stderr=log)
    t0 = time.monotonic()
    while not os.path.exists(kc) and time.monotonic() - t0 < 60:
        time.sleep(0.02)
    time.sleep(0.5)
    return proc, d, kc


def scheduler_pids(marker):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"kube-scheduler" in cmd and marker.encode() in b" ".join(cmd):
            out.append(int(pid))
    return out


def run(schedload, binary, kc, d, nodes, pods, label, pod_builder=None, sample_rss=False, server_pid=None):
    cfg = os.path.join(d, f"scheduler-{label}.yaml")
    with open(cfg, "w") as f:
        f.write("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
                "leaderElection: {leaderElect: false}\n"
                f"clientConnection: {{qps: 5000, burst: 5000, kubeconfig: {kc}}}\n")
    sys.path.insert(0, os.path.dirname(os.path.abspath(schedload)))
    import schedload as sl
    original = sl.pod
    if pod_builder:
        sl.pod = lambda ns, name: pod_builder(original(ns, name), name)
    peak = [0.0]
    sched_cpu = [0.0]
    server_at_start = [None]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            pids = scheduler_pids(cfg)
            if pids and server_at_start[0] is None and server_pid:
                server_at_start[0] = cpu_seconds(server_pid)
            for pid in pids:
                try:
                    peak[0] = max(peak[0], rss_mib(pid) or 0)
                    sched_cpu[0] = max(sched_cpu[0], cpu_seconds(pid))
                except OSError:
                    pass
            time.sleep(0.2)

    t = threading.Thread(target=sample, daemon=True)
    if sample_rss:
        t.start()
    import contextlib, io
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            sl.main(["--kubeconfig", kc, "--nodes", str(nodes), "--pods", str(pods), "--label", label,
                     "--scheduler", f"{binary} kube-scheduler --config {cfg} --secure-port 0"])
    finally:
        sl.pod = original
        stop.set()
    res = json.loads(buf.getvalue())
    if sample_rss:
        res["scheduler_peak_rss_mib"] = peak[0]
        # CPU per pod while the scheduler runs (start, list, watch, cycles, bindings, events), as
        # last sampled before it stopped (up to 0.2 s of it may be missing); the server's from the
        # scheduler's start to the end of the run (serving its lists, watches, bindings, events).
        res["scheduler_cpu_ms_per_pod"] = round(sched_cpu[0] * 1000 / max(1, pods), 3)
        if server_at_start[0] is not None:
            res["server_cpu_ms_per_pod"] = round(
                (cpu_seconds(server_pid) - server_at_start[0]) * 1000 / max(1, pods), 3)
    return res


def spread(p, name):
    p["spec"]["topologySpreadConstraints"] = [{
        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "schedload"}}}]
    return p


def affinity(p, name):
    group = f"g{int(name[2:]) % 50}"
    p["metadata"]["labels"]["group"] = group
    p["spec"]["affinity"] = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"group": group}}, "topologyKey": "kubernetes.io/hostname"}]},
        "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 10, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "schedload"}},
                                              "topologyKey": "topology.kubernetes.io/zone"}}]}}
    return p


def main():
    args = sys.argv[1:]
    binary = os.path.abspath(args.pop(0))
    schedload = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tools", "schedload.py")
    nodes, pods = 5000, 10000
    while args:
        a = args.pop(0)
        if a == "--schedload":
            schedload = args.pop(0)
        elif a == "--nodes":
            nodes = int(args.pop(0))
        elif a == "--pods":
            pods = int(args.pop(0))
    if not os.path.exists(schedload):
        print(json.dumps({"skipped": f"{schedload} not found"}))
        return
    report = {}
    proc, d, kc = start_server(binary)
    try:
        report["scheduling_basic"] = run(schedload, binary, kc, d, nodes, pods, "basic", sample_rss=True,
                                           server_pid=proc.pid)
        small_nodes, small_pods = max(1, nodes // 5), max(1, pods // 5)
        report["pod_topology_spread"] = run(schedload, binary, kc, d, small_nodes, small_pods, "spread", spread)
        report["inter_pod_affinity"] = run(schedload, binary, kc, d, small_nodes, small_pods, "affinity", affinity)
        report["server_rss_mib_after"] = rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
