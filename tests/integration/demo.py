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
from fleet import Fleet, PLUGINS  # noqa: E402


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
            print("\nStopping the responders and the broker.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
