#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The client's CPU time per reply and per registry node.

On a real fleet every node works in parallel and only the client handles
every reply, so its CPU per node is the one serial cost. This driver
measures it, with its baselines in the same run:

- registry: `client-cost registry` on directories of 10,000 and 50,000
  registration files (written as the collector writes them): discovery
  reading every file (the path without an index), through a current index,
  and through an index whose every entry is checked with a stat() (how a
  stale index is read), without a filter and with -F group=0.
- replies: a private RabbitMQ node (tests/integration/harness.py) and
  muster-simulator with N nodes; `client-cost replies` sends a directed
  ping to every node through client_call() and takes the client's CPU per
  reply, then the same requests published one amqp_basic_publish() each
  and the replies received by a bare amqp_consume_message() loop
  (librabbitmq's floors: publish, receive only, and both).
  Then the whole `muster ping --dm registry --json` process (its CPU from
  wait4(), spawn to exit, divided by N): this build's and, with
  --old-build, the same command of an earlier build on the same broker and
  fleet (the code before the index and the reply path changes).
  A ping's reply data is the same text on every node (the client parses
  it once); with --kinds nrpe,nrpe-distinct also an nrpe request to every
  node through client_call(): check_sim answered alike by every node, and
  check_distinct, whose output names the node and carries a per-node
  figure (muster-simulator --distinct-command), so that no two replies'
  data are alike, as with real checks; then the whole
  `check-mc-nrpe check_distinct --dm registry` process per node.

Every figure is a median of --repeats runs. Prints Markdown; --json FILE
keeps the raw figures.

    /usr/bin/python3 bench/client-cost.py --build build-bench --old-build /tmp/old/build
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
from harness import Broker  # noqa: E402
from fleet import write_config  # noqa: E402

COLLECTIVE = "muster"


def median(v):
    return statistics.median(v) if v else None


def spread(v):
    return f"{min(v):.1f}–{max(v):.1f}" if v else "–"


def binary(build, name):
    for sub in ("bench", "tools", "daemons"):
        p = os.path.join(build, sub, name)
        if os.path.exists(p):
            return p
    raise SystemExit(f"{name} not found in {build} (configure it with -Dbench=true and build it)")


def wait_line(path, prefix, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line
        if proc.poll() is not None:
            raise SystemExit(f"{path}: the process exited ({proc.returncode}) before {prefix}")
        time.sleep(0.1)
    raise SystemExit(f"{path}: no {prefix} within {timeout} s")


def run_cpu(argv, env=None):
    """Run argv; return (stdout, CPU seconds of the child, user + system)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = p.communicate(timeout=600)
    # communicate() reaped it; the CPU of the one child is in RUSAGE_CHILDREN deltas.
    return p.returncode, out.decode(), err.decode()


def child_cpu():
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(argv):
    before = child_cpu()
    rc, out, err = run_cpu(argv)
    return rc, out, err, child_cpu() - before


def bench_registry(args, tmp, results):
    for n in args.files:
        d = os.path.join(args.registry_base or tmp, f"registry-{n}")
        rc, out, err, _ = timed([binary(args.build, "client-cost"), "registry", "--dir", d, "--nodes", str(n),
                                 "--repeats", str(args.repeats)])
        if rc != 0:
            raise SystemExit(f"client-cost registry {n}: {err}")
        results["registry"][n] = json.loads(out)
        print(f"client-cost: registry N={n} done", file=sys.stderr, flush=True)


def bench_replies(args, tmp, results):
    psk = os.path.join(tmp, "psk")
    with open(psk, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(psk, 0o600)
    nrpe = os.path.join(tmp, "nrpe.d")
    os.makedirs(nrpe, exist_ok=True)
    with open(os.path.join(nrpe, "bench.cfg"), "w") as f:
        # Both answered in-process by the simulator, never run.
        f.write("command[check_sim]=/bin/false\ncommand[check_distinct]=/bin/false\n")
    broker = Broker(name_prefix="muster-client-cost")
    broker.start()
    procs = []
    try:
        base = {
            "main": {"identity": "monitor", "collective": COLLECTIVE, "log_level": "warning",
                     "log_target": "console"},
            "broker": {"url": broker.url, "heartbeat": "60s", "connect_timeout": "10s"},
            "security": {"psk_file": psk},
        }
        sim_conf = os.path.join(tmp, "sim.conf")
        sim = dict(base)
        sim["main"] = dict(base["main"], identity="simulator")
        sim["responder"] = {"control_socket": "", "facts_dir": os.path.join(tmp, "none"),
                            "classes_file": os.path.join(tmp, "none")}
        sim["nrpe"] = {"command_dir": nrpe}
        write_config(sim_conf, sim)
        for n in args.sizes:
            reg = os.path.join(tmp, f"sim-registry-{n}")
            client_conf = os.path.join(tmp, f"client-{n}.conf")
            c = dict(base)
            c["client"] = {"discovery_method": "registry", "discovery_timeout": "30s", "timeout": "120s",
                           "registry_dir": reg}
            write_config(client_conf, c)
            out = os.path.join(tmp, f"sim-{n}.out")
            with open(out, "wb") as f, open(os.path.join(tmp, f"sim-{n}.err"), "wb") as e:
                p = subprocess.Popen([binary(args.sim_build or args.build, "muster-simulator"), "--config", sim_conf, "--nodes",
                                      str(n), "--registry-dir", reg, "--check-mode", "inproc",
                                      "--distinct-command", "check_distinct"], stdout=f, stderr=e)
            procs.append(p)
            wait_line(out, "READY", p, 120 + n / 30)
            print(f"client-cost: simulator N={n} ready", file=sys.stderr, flush=True)
            # The collector's index of that registry, stamped once the directory is 2 s old.
            time.sleep(2.5)
            rc, o, err, _ = timed([binary(args.build, "client-cost"), "registry", "--dir", reg, "--repeats", "1"])
            if rc != 0:
                raise SystemExit(f"client-cost registry (index of the simulator's registry): {err}")

            r = results["replies"][n] = {"muster_cpu_us": [], "muster_old_cpu_us": []}
            rc, o, err, _ = timed([binary(args.build, "client-cost"), "replies", "--config", client_conf, "--dir",
                                   reg, "--repeats", str(args.repeats)])
            if rc != 0:
                raise SystemExit(f"client-cost replies {n}: {err}")
            r.update(json.loads(o))
            tools = [("muster_cpu_us", args.build)]
            if args.old_build:
                tools.append(("muster_old_cpu_us", args.old_build))
            for _ in range(args.repeats):
                for key, build in tools:
                    rc, o, err, cpu = timed([binary(build, "muster"), "--config", client_conf, "ping", "--dm",
                                             "registry", "--dt", "30s", "--json"])
                    got = json.loads(o)["stats"]["responses"] if rc == 0 else None
                    if got != n:
                        raise SystemExit(f"muster ping ({build}) N={n}: {got} replies, exit {rc}: {err[-500:]}")
                    r[key].append(cpu * 1e6 / n)
            for kind in [k for k in args.kinds if k != "ping"]:
                command = "check_distinct" if kind == "nrpe-distinct" else "check_sim"
                rc, o, err, _ = timed([binary(args.build, "client-cost"), "replies", "--config", client_conf, "--dir",
                                       reg, "--repeats", str(args.repeats), "--no-floor", "--nrpe", command])
                if rc != 0:
                    raise SystemExit(f"client-cost replies --nrpe {command} {n}: {err}")
                k = r.setdefault("kinds", {})[kind] = json.loads(o)
                # What two replies carried: alike or not, as the kind says.
                shown = [l.split(" ", 3)[3] for l in err.splitlines() if l.startswith("reply ")]
                if len(shown) != 2 or (shown[0] == shown[1]) != (kind == "nrpe"):
                    raise SystemExit(f"client-cost replies --nrpe {command}: unexpected replies {shown}")
                k["sample"] = shown
                k["check_cpu_us"] = []
                if kind == "nrpe-distinct":
                    for _ in range(args.repeats):
                        rc, o, err, cpu = timed([binary(args.build, "check-mc-nrpe"), "--config", client_conf,
                                                 "--dm", "registry", "--dt", "30s", command])
                        if rc != 0 or f"ok={n} " not in o:
                            raise SystemExit(f"check-mc-nrpe {command} N={n}: exit {rc}: {o[:300]} {err[-300:]}")
                        k["check_cpu_us"].append(cpu * 1e6 / n)
            if args.perf:
                for name, argv in (
                        ("muster-ping", [binary(args.build, "muster"), "--config", client_conf, "ping", "--dm",
                                         "registry", "--dt", "30s", "--json"]),
                        ("client-call", [binary(args.build, "client-cost"), "replies", "--config", client_conf,
                                         "--dir", reg, "--repeats", "1", "--no-floor"]),
                        ("client-call-nrpe-distinct", [binary(args.build, "client-cost"), "replies", "--config",
                                                       client_conf, "--dir", reg, "--repeats", "1", "--no-floor",
                                                       "--nrpe", "check_distinct"])):
                    data = os.path.join(args.perf, f"{name}-{n}.perf.data")
                    subprocess.run(["perf", "record", "-q", "-F", "4000", "--call-graph", "dwarf,16384", "-o", data,
                                    "--", *argv], stdout=subprocess.DEVNULL, check=False)
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=120)
            procs.remove(p)
            print(f"client-cost: replies N={n} done", file=sys.stderr, flush=True)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        broker.stop()


def report(results, args):
    lines = []
    p = lines.append
    if results["registry"]:
        p("Registry discovery, CPU µs per node (median of "
          f"{args.repeats}; min–max), `client-cost registry`:")
        p("")
        p("| files | every file read (no index) | index current | index, every file checked (stale) "
          "| -F group=0: files | -F group=0: index | -F group=0: index checked | index size | index write, first / again |")
        p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n, d in sorted(results["registry"].items()):
            cells = []
            for k in ("files_us_per_node", "index_us_per_node", "index_checked_us_per_node",
                      "files_filter_us_per_node", "index_filter_us_per_node", "index_checked_filter_us_per_node"):
                cells.append(f"{median(d[k]):.1f} ({spread(d[k])})")
            p(f"| {n:,} | " + " | ".join(cells) +
              f" | {d['index_bytes'] / 1e6:.1f} MB | {d['index_write_ms']:.0f} / {d['index_rewrite_ms']:.0f} ms |")
        p("")
    if results["replies"]:
        p("Replies, CPU µs per reply (median of "
          f"{args.repeats}; min–max):")
        p("")
        p("| nodes | client_call() | floor: receive only | ÷ receive floor | floor: publish, one amqp_basic_publish() "
          "per node | floor: publish + receive | `muster ping --dm registry` whole process | the same, earlier build "
          "| client_call(): replies per wakeup | client_call(): page faults per 1,000 replies |")
        p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n, d in sorted(results["replies"].items()):
            c, fr = median(d["client_us_per_reply"]), median(d["floor_receive_us_per_reply"])
            old = d.get("muster_old_cpu_us")
            p(f"| {n:,} | {c:.1f} ({spread(d['client_us_per_reply'])}) "
              f"| {fr:.1f} ({spread(d['floor_receive_us_per_reply'])}) | {c / fr:.2f}× "
              f"| {median(d['floor_publish_us_per_reply']):.1f} ({spread(d['floor_publish_us_per_reply'])}) "
              f"| {median(d['floor_us_per_reply']):.1f} ({spread(d['floor_us_per_reply'])}) "
              f"| {median(d['muster_cpu_us']):.1f} ({spread(d['muster_cpu_us'])}) | "
              + (f"{median(old):.1f} ({spread(old)})" if old else "–")
              + "".join(f" | {median(d[k]):.1f} ({spread(d[k])})" if d.get(k) else " | –"
                        for k in ("client_replies_per_wakeup", "client_page_faults_per_1000_replies")) + " |")
        p("")
        kinds = [(n, d["kinds"]) for n, d in sorted(results["replies"].items()) if d.get("kinds")]
        if kinds:
            p("Replies by what they carry, client_call() CPU µs per reply (median of "
              f"{args.repeats}; min–max), same fleet and broker: a ping (the same data on every node), "
              "`nrpe runcommand check_sim` (every node's output alike), `check_distinct` (every node's output "
              "differs: the data parsed once per reply); then the whole `check-mc-nrpe check_distinct --dm "
              "registry` process per node.")
            p("")
            p("| nodes | ping | nrpe, outputs alike | nrpe, outputs distinct | distinct ÷ ping | page faults per 1,000 "
              "replies, distinct | `check-mc-nrpe check_distinct` whole process |")
            p("|---:|---:|---:|---:|---:|---:|---:|")
            for n, ks in kinds:
                ping = results["replies"][n]["client_us_per_reply"]

                def cell(v):
                    return f"{median(v):.1f} ({spread(v)})" if v else "–"
                same = ks.get("nrpe", {}).get("client_us_per_reply")
                dist = ks.get("nrpe-distinct", {})
                dv = dist.get("client_us_per_reply")
                p(f"| {n:,} | {cell(ping)} | {cell(same)} | {cell(dv)} | "
                  + (f"{median(dv) / median(ping):.2f}×" if dv else "–")
                  + f" | {cell(dist.get('client_page_faults_per_1000_replies'))} | {cell(dist.get('check_cpu_us'))} |")
            p("")
            for n, ks in kinds:
                if "nrpe-distinct" in ks:
                    p(f"Two of the distinct replies at {n:,}: `{ks['nrpe-distinct']['sample'][0]}`, "
                      f"`{ks['nrpe-distinct']['sample'][1]}`")
                    break
            p("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--old-build", help="a build of the earlier code, for its `muster`")
    ap.add_argument("--sim-build", help="take muster-simulator from this build (default --build)")
    ap.add_argument("--sizes", default="1000,10000", help="simulated nodes for the reply figures")
    ap.add_argument("--files", default="10000,50000", help="registry files for the registry figures")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", default="registry,replies")
    ap.add_argument("--kinds", default="ping,nrpe,nrpe-distinct",
                    help="replies: what the requests ask (ping always; nrpe: check_sim, every output alike; "
                         "nrpe-distinct: every node's output differs)")
    ap.add_argument("--perf", help="record perf profiles at each size into this directory: `muster ping`, and client_call() for a ping "
                         "and for nrpe with distinct outputs")
    ap.add_argument("--registry-base", help="keep the registry directories here and reuse them in later runs")
    ap.add_argument("--json")
    ap.add_argument("--tmpdir", default="/var/tmp")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.old_build = os.path.abspath(args.old_build) if args.old_build else None
    args.sim_build = os.path.abspath(args.sim_build) if args.sim_build else None
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    args.files = [int(x) for x in args.files.split(",") if x]
    only = set(args.only.split(","))
    args.kinds = ["ping"] + [k for k in args.kinds.split(",") if k and k != "ping"]
    if set(args.kinds) - {"ping", "nrpe", "nrpe-distinct"}:
        ap.error(f"--kinds: unknown {set(args.kinds) - {'ping', 'nrpe', 'nrpe-distinct'}}")
    tmp = tempfile.mkdtemp(prefix="muster-client-cost-", dir=args.tmpdir)
    results = {"registry": {}, "replies": {}}
    try:
        if "registry" in only:
            bench_registry(args, tmp, results)
        if "replies" in only:
            bench_replies(args, tmp, results)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(report(results, args))
    print("\n    " + " ".join(["/usr/bin/python3", "bench/client-cost.py"] + sys.argv[1:]))


if __name__ == "__main__":
    main()
