#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check_mcollective against `find DIR -type f -mmin +5.5` on the same
directory of node files, without a broker: the driver's check_mcollective
step on its own (the same code, bench/runner.py's check_vs_find()).

Both run in turn round by round (which one goes first alternates), after one
untimed run of each to warm the caches; wall time is spawn to exit, CPU is
user + system from the child's rusage (through GNU time, as the driver).
Prints one line per round and the medians with their min-max, and the
ratios check_mcollective / find taken round by round (target <= 0.6x, CPU
and wall).

    bench/check-mcollective.py --build build-bench [--files 100000] [--rounds 7] [--runs 2] [--json FILE]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runner import check_vs_find, make_check_directory, run_timed  # noqa: E402

TARGET = 0.6


def fmt(s):
    return f"{s['median']:.2f} [{s['min']:.2f}–{s['max']:.2f}]"


def fmt_ms(s):
    return f"{s['median']:.1f} [{s['min']:.1f}–{s['max']:.1f}] ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True, help="meson build directory with tools/check_mcollective")
    ap.add_argument("--files", type=int, default=100000, help="node files in the directory (default 100000)")
    ap.add_argument("--rounds", type=int, default=7, help="timed runs of each per run (default 7)")
    ap.add_argument("--runs", type=int, default=2, help="consecutive runs on the same directory (default 2)")
    ap.add_argument("--tmpdir", default="/var/tmp", help="where the directory goes (default /var/tmp)")
    ap.add_argument("--json", help="write the figures of every run to this file")
    args = ap.parse_args()

    check = os.path.join(os.path.abspath(args.build), "tools", "check_mcollective")
    if not os.access(check, os.X_OK):
        ap.error(f"no {check}")
    tmp = tempfile.mkdtemp(prefix="muster-bench-cmc-", dir=args.tmpdir)
    d = os.path.join(tmp, "registrations")
    results = []
    ok = True
    try:
        print(f"creating {args.files} files in {d}", file=sys.stderr, flush=True)
        for run in range(args.runs):
            stale = make_check_directory(d, args.files)  # the 10 s old ones stay 10 s old
            load = os.getloadavg()[0]
            started = time.strftime("%H:%M:%S", time.gmtime())
            res = check_vs_find(check, d, args.files, stale, args.rounds,
                                lambda argv: run_timed(argv, tmp, 300, 0))
            res.update(started=started, loadavg=load)
            results.append(res)
            print(f"run {run + 1} (started {started} UTC, load average {load:.1f}), {args.files} files, "
                  f"{stale} stale, {args.rounds} rounds:")
            for i, (rw, rc) in enumerate(zip(res["ratios"], res["cpu_ratios"])):
                print(f"  round {i + 1}: ratio wall {rw:.2f}, CPU {rc:.2f}")
            print(f"  check_mcollective: wall {fmt_ms(res['wall'])}, CPU {fmt_ms(res['cpu'])}")
            print(f"  find -mmin:        wall {fmt_ms(res['find_wall'])}, CPU {fmt_ms(res['find_cpu'])}")
            met = res["ratio_wall"]["median"] <= TARGET and res["ratio_cpu"]["median"] <= TARGET
            ok = ok and met
            print(f"  check_mcollective / find: wall {fmt(res['ratio_wall'])}, CPU {fmt(res['ratio_cpu'])}; "
                  f"target <= {TARGET}x: {'met' if met else 'NOT met'}")
            for n in res["notes"]:
                print(f"  note: {n}")
            ok = ok and not res["notes"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
