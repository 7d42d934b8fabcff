#!/usr/bin/env python3
"""Controller benchmark for `make bench`: the resident size of an idle `k8swift server` with and
without its controller manager (one at a time: processes mapping the same binary share its pages),
then ../shared/tools/ctrlload.py (the common yardstick, beside the checkout, not part of it) against
`k8swift server` on SQLite and on etcd when that file is there. Prints one JSON document.

usage: bench_controllers.py BINARY [--ctrlload PATH]"""
import json, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_api import free_port, rss_mib, start_etcd  # noqa: E402


def start(binary, extra):
    d = tempfile.mkdtemp(prefix="k8swift-ctrlbench-")
    port = free_port()
    log = open(os.path.join(d, "server.log"), "w")
    kc = os.path.join(d, "kubeconfig.yaml")
    proc = subprocess.Popen([binary, "server", "--disable", "kubelet", "--data-dir", d, "--secure-port", str(port), "--bind-address",
                             "127.0.0.1", "--write-kubeconfig", kc] + extra, stdout=log, stderr=log)
    t0 = time.monotonic()
    while not os.path.exists(kc) and time.monotonic() - t0 < 60:
        time.sleep(0.02)
    if not os.path.exists(kc):
        proc.terminate()
        raise SystemExit("server did not start")
    return proc, d, kc


def stop(proc, d):
    proc.terminate()
    proc.wait()
    shutil.rmtree(d, ignore_errors=True)


def main():
    args = sys.argv[1:]
    binary = args.pop(0)
    ctrlload = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tools", "ctrlload.py")
    if args[:1] == ["--ctrlload"]:
        ctrlload = args[1]
    report = {"idle_rss_mib": {}}
    for name, extra in (("with_controllers", []), ("without_controllers", ["--disable", "controller-manager"])):
        proc, d, _ = start(binary, extra)
        time.sleep(15)
        report["idle_rss_mib"][name] = rss_mib(proc.pid)
        stop(proc, d)
    rss = report["idle_rss_mib"]
    rss["controllers_cost"] = round(rss["with_controllers"] - rss["without_controllers"], 1)
    if not os.path.exists(ctrlload):
        sys.stderr.write(f"bench_controllers: {ctrlload} is not there; skipping ctrlload\n")
        report["ctrlload"] = {"skipped": f"{ctrlload} not found"}
        print(json.dumps(report, indent=2))
        return
    for store in ("sqlite", "etcd"):
        etcd = None
        extra = []
        if store == "etcd":
            if not shutil.which("etcd"):
                report[f"ctrlload_{store}"] = {"skipped": "etcd is not installed"}
                continue
            etcd_dir = tempfile.mkdtemp(prefix="k8swift-ctrlbench-etcd-")
            etcd, url = start_etcd(etcd_dir)
            extra = ["--etcd-servers", url]
        proc, d, kc = start(binary, extra)
        try:
            out = subprocess.run([sys.executable, ctrlload, "--kubeconfig", kc, "--label", f"k8swift-{store}"],
                                 capture_output=True, text=True, timeout=3600)
            if out.returncode != 0:
                sys.stderr.write(out.stderr)
                raise SystemExit("ctrlload failed")
            doc = json.loads(out.stdout)
            report[f"ctrlload_{store}"] = {k: round(v["seconds"], 3) for k, v in doc["phases"].items()}
        finally:
            stop(proc, d)
            if etcd:
                etcd.terminate()
                etcd.wait()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
