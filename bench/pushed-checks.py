#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pushed checks, their cost (muster(7), PUSHED CHECKS):

1. The collector's rate for repeat registrations whose 5 checks' outputs
   change at every beat (states unchanged), against the same registrations
   without checks (the baseline), in the same run: COUNT signed
   registrations of COUNT nodes are preloaded into the collector's queue
   twice, the first time to create the files, then as repeats (later
   msgtime, new outputs), and the real muster-collector is started; the rate
   is from READY=1 until the last one is stored (its control socket). One
   kind right after the other, which one first alternating from round to
   round; the median of the rounds' ratios is printed too. The rates are taken over
   the first --window seconds after READY=1 (or until all are stored, if
   sooner): one second after it started, every collector rewrites its
   registry index, a walk of all the files whose cost fell into some spans
   and not others and made the figures bimodal.
   Beside that wall-clock rate, the collector's own CPU time over the same
   span (utime + stime from /proc/PID/stat) gives a rate per CPU second,
   which other load on the machine disturbs far less: the CPU ratio is the
   primary figure, the wall ratio is printed beside it.
2. check-mc-nrpe CHECK --from-registry over FILES nodes, against
   check_mcollective on the same directory: the files are written in the
   collector's format, then a real muster-collector loads them (and writes
   its check index) before the timings.

    bench/pushed-checks.py --build build --rounds 2

Starts its own RabbitMQ node (tests/integration/harness.py) and stops every
process it started."""

import argparse
import hashlib
import hmac
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
from harness import Broker  # noqa: E402
from fleet import NotifySocket, write_config  # noqa: E402

try:
    import pika
except ImportError:
    sys.exit("python3-pika is needed")

COLLECTIVE = "bench"
CHECKS = ("check_disk", "check_load", "check_mem", "check_ntp", "check_procs")


def binary(build, name):
    for sub in ("tools", "daemons", "bench"):
        p = os.path.join(build, sub, name)
        if os.path.exists(p):
            return p
    sys.exit(f"{name} not found in {build}")


def checks(beat, rnd):
    """5 results, all OK, whose output and perfdata change at every beat."""
    now = int(time.time())
    out = {}
    for c in CHECKS:
        v = rnd.randrange(1, 10**6)
        out[c] = {"state": 0, "output": f"{c.upper()[6:]} OK - value {v} at beat {beat}",
                  "perfdata": f"v={v};800000;900000;0", "duration_usec": rnd.randrange(1000, 90000), "when": now}
    return out


def registration(identity, i, msgtime, beat, with_checks, rnd):
    reg = {"protocol": "muster:registration:1", "identity": identity, "collective": COLLECTIVE,
           "msgtime": msgtime, "interval": 300,
           "facts": {"group": str(i % 10), "role": "web" if i % 3 else "db", "os": "debian"},
           "classes": ["sim", "web" if i % 3 else "db"], "agents": ["discovery", "rpcutil", "nrpe"],
           "boot_id": "00000000-0000-4000-8000-000000000000", "uptime": 3600 + beat, "version": "bench"}
    if with_checks:
        reg["checks"] = checks(beat, rnd)
    return reg


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.tmp = tempfile.mkdtemp(prefix="muster-pushed-", dir="/var/tmp")
        self.psk = os.path.join(self.tmp, "psk")
        with open(self.psk, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        with open(self.psk, "rb") as f:
            self.key = f.read().rstrip(b"\n")
        self.broker = None
        self.procs = []

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.broker:
            self.broker.stop()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def config(self, name, state_dir, control):
        path = os.path.join(self.tmp, name)
        write_config(path, {
            "main": {"collective": COLLECTIVE, "log_level": "notice", "log_target": "console"},
            "broker": {"url": self.broker.url, "connect_timeout": "5s"},
            "security": {"psk_file": self.psk},
            "client": {"registry_dir": state_dir},
            "collector": {"name": name.replace(".conf", ""), "state_dir": state_dir, "control_socket": control,
                          "sweep_interval": "300s",
                          **({"prefetch": str(self.args.prefetch)} if self.args.prefetch else {})},
        })
        return path

    def preload(self, queue, regs):
        conn = pika.BlockingConnection(pika.URLParameters(self.broker.url))
        try:
            ch = conn.channel()
            ch.exchange_declare("muster.registration", "topic", durable=True)
            ch.queue_declare(queue, durable=True, arguments={"x-queue-type": "classic"})
            ch.queue_bind(queue, "muster.registration", f"{COLLECTIVE}.registration.#")
            ch.queue_purge(queue)
            for reg in regs:
                body = json.dumps(reg, separators=(",", ":")).encode()
                sig = hmac.new(self.key, body, hashlib.sha256).hexdigest()
                props = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                             headers={"x-muster-signature-scheme": "hmac-sha256",
                                                      "x-muster-signature": sig})
                ch.basic_publish("muster.registration", f"{COLLECTIVE}.registration.{reg['identity']}", body,
                                 props)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if ch.queue_declare(queue, durable=True, passive=True).method.message_count >= len(regs):
                    return
                conn.sleep(0.1)
            raise RuntimeError(f"registrations did not all reach {queue}")
        finally:
            conn.close()

    def status(self, path):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30)
            s.connect(path)
            s.sendall(b'{"verb":"status"}\n')
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data)

    @staticmethod
    def cpu_seconds(pid):
        """utime + stime of a process, from /proc/PID/stat."""
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def spawn_collector(self, conf, tag, build=None, wrapper=()):
        """A muster-collector (under wrapper, if any) with its notify socket:
        (process, NotifySocket, its stderr file)."""
        notify_path = os.path.join(self.tmp, f"notify-{tag}")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        notify = NotifySocket(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        env.pop("JOURNAL_STREAM", None)
        err = open(os.path.join(self.tmp, f"collector-{tag}.err"), "ab")
        p = subprocess.Popen([*wrapper, binary(build or self.build, "muster-collector"), "--config", conf],
                             stdout=err, stderr=err, env=env)
        self.procs.append(p)
        return p, notify, err

    def collector(self, conf, count, tag, window=False, build=None):
        """Start a collector, return (registrations/s from READY to the last stored,
        registrations per CPU second of the collector over the same span, status)."""
        p, notify, err = self.spawn_collector(conf, tag, build)
        try:
            notify.wait_for("READY=1", 120)
            t0 = time.monotonic()
            cpu0 = self.cpu_seconds(p.pid)
            done0 = None
            window = self.args.window if window else 0
            control = os.path.join(self.tmp, f"control-{os.path.basename(conf)}")
            while True:
                try:
                    st = self.status(control)
                except (TimeoutError, OSError):
                    continue  # a busy collector answers late: its loop is storing
                if st is None:
                    continue
                done = st["written"] + st["touched"] + sum(st["rejected"].values())
                if done0 is None:
                    # Counted from the first answer, with the CPU time read right after it.
                    t0, cpu0, done0 = time.monotonic(), self.cpu_seconds(p.pid), done
                    continue
                if done >= count or (window and time.monotonic() - t0 >= window):
                    break
                if time.monotonic() - t0 > 300:
                    raise RuntimeError(f"collector stored only part: {st}")
                time.sleep(0.005)
            wall = time.monotonic() - t0
            cpu = self.cpu_seconds(p.pid) - cpu0
            measured = done - done0
            if window:
                # The rest, to see that every one was stored as the table says.
                while done < count:
                    time.sleep(0.05)
                    try:
                        st = self.status(control)
                    except (TimeoutError, OSError):
                        continue
                    done = st["written"] + st["touched"] + sum(st["rejected"].values())
            return measured / wall, measured / max(cpu, 1e-9), st
        finally:
            p.terminate()
            p.wait()
            notify.close()
            err.close()

    def collector_instructions(self, conf, count, tag):
        """The collector's user-space instructions per registration, under
        callgrind, counted only inside on_amqp_io() (every delivery's
        receive, signature check, parse, digest, touch and ack; not the
        start-up, the index writes or the kernel). Deterministic where CPU
        time is not: the same registrations give the same count."""
        out = os.path.join(self.tmp, f"callgrind-{tag}.out")
        p, notify, err = self.spawn_collector(conf, tag, wrapper=[
            "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=on_amqp_io",
            f"--callgrind-out-file={out}"])
        try:
            notify.wait_for("READY=1", 300)
            control = os.path.join(self.tmp, f"control-{os.path.basename(conf)}")
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                try:
                    st = self.status(control)
                except (TimeoutError, OSError):
                    continue
                if st["written"] + st["touched"] + sum(st["rejected"].values()) >= count:
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError("the collector under callgrind did not store every registration")
        finally:
            p.terminate()
            p.wait()
            notify.close()
            err.close()
        with open(out) as f:
            for line in f:
                if line.startswith(("totals:", "summary:")):
                    return int(line.split()[1]) / count, st
        raise RuntimeError(f"no totals in {out}")

    def repeat_instructions(self):
        """(plain, checks): instructions per repeat registration, each kind's
        files created, its repeats preloaded, then counted."""
        res = []
        for with_checks in (False, True):
            n = self.args.instructions
            saved, self.args.count = self.args.count, n
            try:
                conf, state, repeats = self.repeat_prepare(with_checks, 7)
            finally:
                self.args.count = saved
            self.preload(*repeats)
            res.append(self.collector_instructions(conf, n, ("checks" if with_checks else "plain") + "-instr"))
            shutil.rmtree(state, ignore_errors=True)
        return res

    def repeat_prepare(self, with_checks, rnd_seed, kind=None, build=None):
        """The files created; returns (conf, state dir, the repeats to preload)."""
        n = self.args.count
        kind = kind or ("checks" if with_checks else "plain")
        state = tempfile.mkdtemp(prefix=f"state-{kind}-", dir=self.tmp)
        control = os.path.join(self.tmp, f"control-{kind}.conf")
        conf = self.config(f"{kind}.conf", state, control)
        queue = f"muster.registrations.{kind}"
        rnd = random.Random(rnd_seed)
        now = int(time.time())
        self.preload(queue, [registration(f"reg{i:06d}", i, now - 60, 1, with_checks, rnd) for i in range(n)])
        self.collector(conf, n, f"{kind}-new", build=build)
        return conf, state, (queue, [registration(f"reg{i:06d}", i, now - 30, 2, with_checks, rnd) for i in range(n)])

    def repeat_rates(self, rnd):
        """Every kind's repeats: {kind: (rate, CPU rate, status)}. Kinds:
        "plain" (no checks) and "checks" (5 checks) with this build, and,
        with --baseline-build, "today" (no checks, the collector from before
        pushed checks). Each kind is timed right after its own preload, the
        order rotating from round to round."""
        n = self.args.count

        def timed(kind):
            # Each kind's files created, its repeats preloaded, then timed, in
            # one go: repeats that waited in the broker while the other kind
            # was timed were delivered far more slowly, and a collector timed
            # right after the other kind's files were written paid for their
            # writeback.
            build = self.args.baseline_build if kind == "today" else None
            conf, state, repeats = self.repeat_prepare(kind == "checks", rnd, kind, build)
            self.preload(*repeats)
            r = self.collector(conf, n, f"{kind}-repeat", True, build)
            shutil.rmtree(state, ignore_errors=True)
            return r

        kinds = ["plain", "checks"] + (["today"] if self.args.baseline_build else [])
        k = rnd % len(kinds)
        order = kinds[k:] + kinds[:k]
        return {kind: timed(kind) for kind in order}

    def make_registry(self, n):
        """n node files as the collector writes them, 1 % stale, 2 % CRITICAL check_disk."""
        d = os.path.join(self.tmp, "registry")
        os.mkdir(d)
        rnd = random.Random(1)
        now = int(time.time())
        for i in range(n):
            ident = f"node{i:06d}"
            reg = registration(ident, i, now - 10, 1, True, rnd)
            if i % 50 == 7:
                reg["checks"]["check_disk"]["state"] = 2
            reg["received"] = now - 10
            path = os.path.join(d, ident)
            with open(path, "w") as f:
                f.write(json.dumps(reg, separators=(",", ":"), sort_keys=True) + "\n")
            t = now - 3600 if i % 100 == 3 else now - 10
            os.utime(path, (t, t))
        # A real collector loads them and writes its check index.
        conf = self.config("index.conf", d, os.path.join(self.tmp, "control-index.conf"))
        notify_path = os.path.join(self.tmp, "notify-index")
        notify = NotifySocket(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        p = subprocess.Popen([binary(self.build, "muster-collector"), "--config", conf], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        notify.wait_for("READY=1", 300)
        p.terminate()
        p.wait()
        notify.close()
        if not os.path.exists(os.path.join(d, ".index/checks")):
            raise RuntimeError("the collector wrote no check index")
        return d, conf

    def timed(self, argv):
        t0 = time.monotonic()
        r = subprocess.run(argv, capture_output=True, text=True)
        return time.monotonic() - t0, r

    def run(self):
        self.broker = Broker()
        self.broker.start()
        a = self.args
        res = {"repeat": [], "plugins": [], "instructions": []}
        for i in range(a.instruction_runs if a.instructions > 0 else 0):
            print(f"pushed-checks: instructions per repeat, {i + 1} of {a.instruction_runs} (callgrind)",
                  file=sys.stderr, flush=True)
            (ib, st0), (ic, st1) = self.repeat_instructions()
            res["instructions"].append({"baseline": ib, "checks": ic, "ratio": ib / ic,
                                        "touched_baseline": st0["touched"], "touched_checks": st1["touched"],
                                        "written_checks": st1["written"]})
        for rnd in range(a.rounds):
            print(f"pushed-checks: round {rnd + 1}: collector repeats", file=sys.stderr, flush=True)
            rates = self.repeat_rates(rnd)
            (base, base_cpu, st0), (with_c, with_c_cpu, st1) = rates["plain"], rates["checks"]
            row = {"baseline": base, "checks": with_c, "ratio": with_c / base,
                   "baseline_cpu": base_cpu, "checks_cpu": with_c_cpu,
                   "cpu_ratio": with_c_cpu / base_cpu,
                   "us_per_reg_baseline": 1e6 / base_cpu, "us_per_reg_checks": 1e6 / with_c_cpu,
                   "touched_baseline": st0["touched"], "touched_checks": st1["touched"],
                   "written_checks": st1["written"], "order": list(rates)}
            if "today" in rates:
                today, today_cpu, _ = rates["today"]
                row.update(today=today, today_cpu=today_cpu, us_per_reg_today=1e6 / today_cpu,
                           cpu_ratio_today=with_c_cpu / today_cpu, ratio_today=with_c / today)
            res["repeat"].append(row)
        if a.files <= 0:
            return res
        print(f"pushed-checks: writing {a.files} node files", file=sys.stderr, flush=True)
        d, conf = self.make_registry(a.files)
        cm = [binary(self.build, "check_mcollective"), "--directory", d, "--interval", "300"]
        fr = [binary(self.build, "check-mc-nrpe"), "check_disk", "--from-registry", "--config", conf]
        self.timed(cm)
        self.timed(fr)  # warm the cache for both
        for rnd in range(a.rounds):
            print(f"pushed-checks: round {rnd + 1}: plugins", file=sys.stderr, flush=True)
            tc, tf, out_c, out_f = [], [], "", ""
            for _ in range(a.repeats):
                t, r = self.timed(cm)
                tc.append(t)
                out_c = r.stdout
                t, r = self.timed(fr)
                tf.append(t)
                out_f = r.stdout
            res["plugins"].append({"check_mcollective_ms": statistics.median(tc) * 1000,
                                   "from_registry_ms": statistics.median(tf) * 1000,
                                   "ratio": statistics.median(tf) / statistics.median(tc),
                                   "check_mcollective_out": out_c.splitlines()[0][:200],
                                   "from_registry_out": out_f.splitlines()[0][:200]})
        return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--count", type=int, default=20000, help="registrations per collector phase")
    ap.add_argument("--files", type=int, default=100000, help="nodes for the plugin comparison (0: skip it)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each plugin per round")
    ap.add_argument("--window", type=float, default=0.7,
                    help="seconds after READY=1 that the repeat rates are taken over, at most (0: until all "
                         "are stored); the collector rewrites its registry index 1 s after it started")
    ap.add_argument("--prefetch", type=int, default=0,
                    help="[collector] prefetch for every collector (default: the collector's own, 256)")
    ap.add_argument("--baseline-build", default=None,
                    help="a build of the collector from before pushed checks (e.g. of f0bb42e^): its repeat "
                         "rate without checks is measured in the same rounds, as today's rate")
    ap.add_argument("--instructions", type=int, default=2000,
                    help="repeats counted under callgrind per kind (0: skip): user-space instructions per "
                         "repeat inside the collector's delivery handler, with and without checks")
    ap.add_argument("--instruction-runs", type=int, default=2, help="times the instruction count is taken")
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory in /var/tmp")
    args = ap.parse_args()
    b = Bench(args)
    try:
        res = b.run()
        report(args, res)  # before the cleanup: removing 100,000 files takes minutes
    finally:
        b.close()


def report(args, res):
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if res["instructions"]:
        print(f"### Instructions per repeat registration ({args.instructions} nodes, callgrind, "
              "inside on_amqp_io(): user space only)\n")
        print("| run | without checks | with 5 checks | ratio (without ÷ with) | touched (checks) | rewritten (checks) |")
        print("|---|---|---|---|---|---|")
        for i, r in enumerate(res["instructions"], 1):
            print(f"| {i} | {r['baseline']:,.0f} | {r['checks']:,.0f} | {r['ratio']:.3f} | {r['touched_checks']} "
                  f"| {r['written_checks']} |")
        print()
    if not res["repeat"]:
        return
    print(f"### Repeat registrations ({args.count} nodes, 5 checks whose outputs change at every beat)\n")
    print("Per CPU second of the collector (utime + stime, /proc/PID/stat), and per wall second:\n")
    print("| round | without checks /CPU s | with 5 checks /CPU s | CPU ratio | us/reg without | us/reg with "
          "| without checks /s | with 5 checks /s | wall ratio | touched (checks) | rewritten (checks) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(res["repeat"], 1):
        print(f"| {i} | {r['baseline_cpu']:,.0f} | {r['checks_cpu']:,.0f} | {r['cpu_ratio']:.2f} "
              f"| {r['us_per_reg_baseline']:.1f} | {r['us_per_reg_checks']:.1f} "
              f"| {r['baseline']:,.0f} | {r['checks']:,.0f} | {r['ratio']:.2f} | {r['touched_checks']} "
              f"| {r['written_checks']} |")
    cpu = statistics.median(r["cpu_ratio"] for r in res["repeat"])
    wall = statistics.median(r["ratio"] for r in res["repeat"])
    print(f"\nMedian of {len(res['repeat'])} rounds: CPU ratio {cpu:.2f}, wall ratio {wall:.2f} "
          f"(the order of the kinds rotates from round to round)")
    if any("today" in r for r in res["repeat"]):
        print("\nAgainst today's collector (--baseline-build, no checks), same rounds:\n")
        print("| round | order | today /CPU s | us/reg today | with 5 checks /CPU s | CPU ratio to today | wall ratio to today |")
        print("|---|---|---|---|---|---|---|")
        for i, r in enumerate(res["repeat"], 1):
            print(f"| {i} | {', '.join(r['order'])} | {r['today_cpu']:,.0f} | {r['us_per_reg_today']:.1f} "
                  f"| {r['checks_cpu']:,.0f} | {r['cpu_ratio_today']:.2f} | {r['ratio_today']:.2f} |")
        ct = statistics.median(r["cpu_ratio_today"] for r in res["repeat"])
        print(f"\nMedian CPU ratio to today's collector: {ct:.2f}")
    if not res["plugins"]:
        return
    print(f"\n### check-mc-nrpe --from-registry vs check_mcollective, {args.files} nodes "
          f"(median of {args.repeats} runs each)\n")
    print("| round | check_mcollective ms | check-mc-nrpe --from-registry ms | ratio |")
    print("|---|---|---|---|")
    for i, r in enumerate(res["plugins"], 1):
        print(f"| {i} | {r['check_mcollective_ms']:.0f} | {r['from_registry_ms']:.0f} | {r['ratio']:.2f} |")
    print()
    for r in res["plugins"][:1]:
        print("    " + r["check_mcollective_out"])
        print("    " + r["from_registry_out"])


if __name__ == "__main__":
    main()
