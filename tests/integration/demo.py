#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""./run demo: a private broker, three responders, and the collated checks.

web1 and web2 answer OK; db1's check_procs threshold is set so that it
answers WARNING. Everything started here is stopped at the end."""

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

parser = argparse.ArgumentParser()
parser.add_argument("--build", default="build")
args = parser.parse_args()
os.environ.setdefault("MUSTER_BUILD_DIR", str(Path(args.build).resolve()))

from harness import Broker  # noqa: E402
from fleet import Fleet, Collector, PLUGINS, binary, heartbeat, node_config  # noqa: E402
import subprocess  # noqa: E402


def show(fleet, *cmd):
    shown = " ".join(shlex.quote(c) for c in cmd)
    print(f"\n$ {shown}", flush=True)
    t0 = time.monotonic()
    r = fleet.run(*cmd)
    wall = (time.monotonic() - t0) * 1000
    sys.stdout.write(r.stdout)
    if r.stderr.strip():
        sys.stdout.write(r.stderr)
    print(f"[exit {r.returncode}, {wall:.0f} ms wall]", flush=True)
    return r


def show_check(fleet, *args):
    cmd = [binary("check_mcollective"), *args]
    print("\n$ check_mcollective " + " ".join(shlex.quote(a) for a in args), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    print(f"[exit {r.returncode}]", flush=True)


def main():
    print("Starting a private RabbitMQ node on 127.0.0.1 ...", flush=True)
    with Broker() as broker:
        print(f"Broker ready at {broker.url}")
        with Fleet(broker.url) as fleet:
            ok = f"{PLUGINS}/check_procs -w 5000 -c 10000"
            tight = f"{PLUGINS}/check_procs -w 5 -c 10000"
            load = f"{PLUGINS}/check_load -w 100,100,100 -c 200,200,200"
            fleet.add("web1", facts={"role": "web", "dc": "east"}, classes=["webserver"],
                      commands={"check_procs": ok, "check_load": load})
            fleet.add("web2", facts={"role": "web", "dc": "west"}, classes=["webserver"],
                      commands={"check_procs": ok, "check_load": load})
            fleet.add("db1", facts={"role": "db", "dc": "east"}, classes=["database"],
                      commands={"check_procs": tight, "check_load": load})
            for n in fleet.nodes.values():
                n.start(wait=False)
            for n in fleet.nodes.values():
                n.wait_ready()
                print(f"muster-responder {n.identity} is consuming (pid {n.proc.pid})")
            for name in fleet.nodes:
                fleet.register(name, facts={"role": "web" if name.startswith("web") else "db"})

            show(fleet, "muster", "ping")
            show(fleet, "muster", "nrpe", "check_procs")
            show(fleet, "check-mc-nrpe", "check_load")
            show(fleet, "check-mc-nrpe", "check_procs")
            show(fleet, "check-mc-nrpe", "check_procs", "--dm", "registry")
            show(fleet, "muster", "ping", "-F", "role=web")
            show(fleet, "check-mc-nrpe", "check_procs", "-F", "role=web")
            show(fleet, "muster", "rpc", "rpcutil", "inventory", "-I", "db1")

            rss = {n.identity: n.rss_kib() for n in fleet.nodes.values()}
            print("\nIdle responder RSS: " + ", ".join(f"{k} {v} KiB" for k, v in rss.items()))

            print("\n==> Registration: heartbeats, the collector's state files, check_mcollective")
            for f in fleet.registry.iterdir():
                f.unlink()
            collector = Collector(fleet, extra={"main": {"log_level": "info"},
                                                "collector": {"stale_grace": "30s"}}).start()
            print(f"muster-collector is consuming (pid {collector.proc.pid}), state in {fleet.registry}")
            confs = {}
            for name in fleet.nodes:
                confs[name] = node_config(fleet, name, facts={"role": "web" if name.startswith("web") else "db"},
                                          interval="5s")
                r = heartbeat(confs[name])
                print(f"muster-heartbeat for {name}: exit {r.returncode} {r.stderr.strip()}")
            time.sleep(0.5)
            print(f"\n$ ls {fleet.registry}")
            print("  ".join(sorted(p.name for p in fleet.registry.iterdir())))
            show_check(fleet, "-d", str(fleet.registry), "-i", "5")
            show(fleet, "muster", "nodes")

            print("\nweb2 stops checking in; the others keep their 5 s heartbeat. A node is stale after its\n"
                  "interval plus the 30 s grace, so this takes about 36 s ...", flush=True)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for name in ("web1", "db1"):
                    heartbeat(confs[name])
                if "Node web2 stopped checking in" in collector.stderr():
                    break
                time.sleep(1)
            for line in collector.stderr().splitlines():
                if "stopped checking in" in line:
                    print(f"collector: {line}")
            show_check(fleet, "-d", str(fleet.registry), "-i", "5", "-v")
            show(fleet, "muster", "nodes")
            collector.stop()
            print("\nStopping the responders, the collector and the broker.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
