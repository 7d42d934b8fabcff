#!/usr/bin/env python3
"""API benchmark for `make bench`: starts `k8swift server` (the given binary) on a free loopback
port with a fresh data dir, measures the time to a 200 from /readyz and the idle RSS, runs
../shared/tools/apiload.py against it, and reports RSS after the run. Prints one JSON document.

usage: bench_api.py BINARY [--apiload PATH] [-- apiload args...]"""
import json, os, shutil, socket, ssl, subprocess, sys, tempfile, time, http.client


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def main():
    args = sys.argv[1:]
    binary = args.pop(0)
    apiload = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tools", "apiload.py")
    if args and args[0] == "--apiload":
        apiload = args[1]
        args = args[2:]
    if args and args[0] == "--":
        args = args[1:]
    d = tempfile.mkdtemp(prefix="k8swift-bench-")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = open(os.path.join(d, "server.log"), "w")
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "server", "--data-dir", d, "--secure-port", str(port), "--bind-address", "127.0.0.1"],
                            stdout=log, stderr=log)
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
        out = subprocess.run([sys.executable, apiload, "--kubeconfig", os.path.join(d, "kubeconfig.yaml"), "--pid", str(proc.pid),
                              "--label", "k8swift"] + args, capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            raise SystemExit("apiload failed")
        after = rss_mib(proc.pid)
        print(json.dumps({"server": "k8swift", "ready_seconds": round(ready, 3), "idle_rss_mib": idle,
                          "rss_after_mib": after, "apiload": json.loads(out.stdout)}, indent=2))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


main()
