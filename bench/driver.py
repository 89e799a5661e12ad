#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Benchmark driver for muster, the command line: runs the real tools and
daemons against a private RabbitMQ and a node simulator (bench/runner.py)
and prints Markdown tables (bench/report.py).

    meson setup build-bench -Dbench=true -Dtests=false && ninja -C build-bench
    /usr/bin/python3 bench/driver.py --build build-bench --runs 2

With --runs 2 it makes two consecutive full runs, each with its own broker,
and prints whether every ratio of the first agrees with the second within
20 %; --compare A.json B.json does the same for two earlier --json files.
See bench/README.md for what each figure means.
"""

import argparse
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402
from runner import Bench, BenchError, Interrupted, pika  # noqa: E402


def _on_term(signum, frame):
    raise Interrupted(f"signal {signum}")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="muster benchmark driver (see bench/README.md)")
    ap.add_argument("--build", help="meson build dir configured with -Dbench=true")
    ap.add_argument("--sizes", default="10,100,1000,10000",
                    help="comma-separated node counts (default 10,100,1000,10000)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per scenario and N (default 5)")
    ap.add_argument("--repeats-at", default="", metavar="N=R,...",
                    help="rounds at given sizes instead of --repeats, e.g. 1000=10,50000=4: small fleets are "
                         "cheap to repeat and their round trips the noisiest")
    ap.add_argument("--runs", type=int, default=1,
                    help="consecutive full runs, each with its own broker; with 2 or more the ratios of the "
                         "first two are compared (default 1)")
    ap.add_argument("--compare", nargs=2, metavar="JSON", default=None,
                    help="compare the ratios of two earlier --json files and exit")
    ap.add_argument("--connections", type=int, default=4, help="AMQP connections of the simulator and floor")
    ap.add_argument("--dt", default=None, help="discovery timeout for broadcast runs (default by N: 1s up to "
                                               "100, 2s up to 1000, 10s up to 10000, 30s above)")
    ap.add_argument("--exec-slow-n", type=int, default=10000,
                    help="from this N on, run the executed-plugin scenario only --exec-slow-repeats times")
    ap.add_argument("--exec-slow-repeats", type=int, default=2)
    ap.add_argument("--broadcast-nrpe-max", type=int, default=20000,
                    help="with --only nrpe-inproc, run check-mc-nrpe --dm broadcast only below this N "
                         "(default 20000)")
    ap.add_argument("--floors", default="floor-fanout,floor-direct,floor-topic-shaped,floor-direct-shaped",
                    help="broker floors measured in every round; floor-fanout, the targets' floor, always is "
                         "(default all four)")
    ap.add_argument("--queue-types", default="classic,quorum",
                    help="collector queue types to measure (default classic,quorum; the soak uses the first)")
    ap.add_argument("--registrations", type=int, default=20000, help="collector benchmark size (default 20000)")
    ap.add_argument("--files", type=int, default=100000, help="check_mcollective directory size (default 100000)")
    ap.add_argument("--soak", type=int, default=30, help="soak duration in seconds, 0 to skip (default 30)")
    ap.add_argument("--soak-nodes", type=int, default=10000, help="simulated nodes during the soak")
    ap.add_argument("--only", default=None,
                    help="comma-separated subset: ping,filter,nrpe,nrpe-inproc,collector,check_mcollective,rss "
                         "(nrpe-inproc: check-mc-nrpe with the in-process check only)")
    ap.add_argument("--nice", type=int, default=-10 if os.geteuid() == 0 else 0,
                    help="nice value for the broker and every benchmark process (default -10 as root), "
                         "to keep unrelated load on a shared machine from skewing the figures")
    ap.add_argument("--broker-busy-wait", choices=("default", "none"), default="default",
                    help="the broker's Erlang scheduler busy wait: default, or none (+sbwt none +sbwtdcpu none "
                         "+sbwtdio none); tried as a cause of the broker's CPU varying from round to round, "
                         "it made no difference here (bench/README.md)")
    ap.add_argument("--broker-metrics-gc", choices=("default", "off"), default="off",
                    help="the broker's core metrics garbage collection, which walks every queue every 120 s "
                         "(1.8-2.8 CPU s at 10,000 queues, whether or not anything is asked): off (the default "
                         "here) moves it to once a day, so that it is not charged to whichever round it "
                         "falls in; default keeps RabbitMQ's 120 s", )
    ap.add_argument("--tmpdir", default="/var/tmp", help="where the scratch directory goes")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--json", default=None, help="also write raw results of every run to this file")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 when any run went wrong (a missing reply, a failed check): the test suite's "
                         "smoke run of the harness")
    args = ap.parse_args(argv)
    if not args.compare and not args.build:
        ap.error("--build is required")
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    try:
        args.repeats_at = {int(k): int(v) for k, v in (x.split("=") for x in args.repeats_at.split(",") if x)}
    except ValueError:
        ap.error(f"--repeats-at: want N=R,... (e.g. 1000=10), not {args.repeats_at!r}")
    if any(r < 1 for r in args.repeats_at.values()) or args.repeats < 1:
        ap.error("rounds must be at least 1")
    args.only = set(args.only.split(",")) if args.only else None
    args.queue_types = [q for q in args.queue_types.split(",") if q]
    args.floors = set(args.floors.split(","))
    if args.soak > 0 and pika is None and not args.compare:
        ap.error("the soak needs python3-pika")
    return args


def load_summaries(paths):
    out = []
    for path in paths:
        with open(path) as f:
            out += [r["summary"] for r in json.load(f)["runs"]]
    return out


def main(argv=None):
    args = parse_args(argv)
    if args.compare:
        text, _ = report.compare(load_summaries(args.compare))
        print(text)
        return 0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_term)
    if args.nice:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
        except OSError:
            args.nice = 0
    command = "/usr/bin/python3 bench/driver.py " + " ".join(argv if argv is not None else sys.argv[1:])
    runs, notes = [], []
    for i in range(args.runs):
        bench = Bench(args)
        try:
            bench.run()
            if args.runs > 1:
                print(f"\n## Run {i + 1} of {args.runs}\n")
            print(report.report(bench), flush=True)
            runs.append({"results": {f"{k[0]}@{k[1]}": v for k, v in bench.results.items()},
                         "extra": bench.extra, "notes": bench.notes, "background": bench.background,
                         "summary": report.run_summary(bench)})
            notes += bench.notes
        except (Interrupted, KeyboardInterrupt) as e:
            print(f"driver: interrupted ({e}), cleaning up", file=sys.stderr)
            return 130
        except BenchError as e:
            print(f"driver: {e}", file=sys.stderr)
            return 1
        finally:
            bench.close()
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"command": command, "runs": runs}, f, indent=1, default=str)
    if len(runs) >= 2:
        text, _ = report.compare([r["summary"] for r in runs])
        print("\n" + text)
    print("\nReproduce: " + command)
    if args.strict and notes:
        print("driver: --strict: " + "; ".join(notes), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
