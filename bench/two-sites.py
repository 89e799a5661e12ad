#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Round trips at site A to the nodes of site A and to those of site B,
two private RabbitMQ nodes joined by federation as muster(7) "TWO SITES"
sets them up (tests/integration/sites.py), with muster-simulator standing
in for N nodes at each site (site B's with responder.federated_replies).

    bench/two-sites.py --build build --nodes 10,50,100 --repeats 10

Every figure is measured at site A by the client, in the same run for both
sites, scenarios interleaved round by round: muster ping with registry
discovery (directed requests, the run ends when every node answered) for
A's nodes, B's nodes and both; the per-reply round trips of one broadcast
ping; check-mc-nrpe with registry discovery and the simulator's in-process
check. The link is loopback: on a real WAN add its round trip to every
figure of site B (the request crosses once, the reply once)."""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
from fleet import write_config  # noqa: E402
from sites import TwoSites  # noqa: E402

COLLECTIVE = "bench"
CHECK_DUMMY = "/usr/lib/nagios/plugins/check_dummy"


def binary(build, name):
    for sub in ("bench", "tools", "daemons"):
        p = os.path.join(build, sub, name)
        if os.path.exists(p):
            return p
    sys.exit(f"{name} not found in {build}; configure it with -Dbench=true and build it")


def med(values):
    return statistics.median(values) if values else float("nan")


def spread(values):
    return f"{min(values):.1f}–{max(values):.1f}" if values else "-"


class Run:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.tmp = tempfile.mkdtemp(prefix="muster-two-sites-")
        self.psk = os.path.join(self.tmp, "psk")
        with open(self.psk, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(self.psk, 0o600)
        self.nrpe = os.path.join(self.tmp, "nrpe.d")
        os.mkdir(self.nrpe)
        with open(os.path.join(self.nrpe, "bench.cfg"), "w") as f:
            f.write(f"command[check_sim]={CHECK_DUMMY} 0 'OK - not run'\n")
        self.procs = []
        self.sites = None

    def config(self, name, url, identity, extra=None):
        sections = {
            "main": {"identity": identity, "collective": COLLECTIVE, "log_level": "notice",
                     "log_target": "console"},
            "broker": {"url": url, "heartbeat": "60s", "connect_timeout": "10s"},
            "security": {"psk_file": self.psk},
            "responder": {"control_socket": "", "facts_dir": os.path.join(self.tmp, "none"),
                          "classes_file": os.path.join(self.tmp, "none")},
            "nrpe": {"command_dir": self.nrpe},
        }
        for k, v in (extra or {}).items():
            sections.setdefault(k, {}).update(v)
        path = os.path.join(self.tmp, name)
        write_config(path, sections)
        return path

    def start_sim(self, site, url, n, registry):
        extra = {"responder": {"federated_replies": "yes"}} if site == "b" else None
        conf = self.config(f"sim-{site}-{n}.conf", url, f"sim-{site}", extra)
        out = os.path.join(self.tmp, f"sim-{site}-{n}.out")
        with open(out, "wb") as f, open(out + ".err", "wb") as e:
            p = subprocess.Popen([binary(self.build, "muster-simulator"), "--config", conf, "--nodes", str(n),
                                  "--prefix-identity", site, "--registry-dir", registry,
                                  "--check-mode", "inproc", "--connections", "2"], stdout=f, stderr=e)
        self.procs.append(p)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with open(out) as f:
                if any(l.startswith("READY") for l in f):
                    return p
            if p.poll() is not None:
                sys.exit(f"simulator {site} exited: {open(out + '.err').read()[-2000:]}")
            time.sleep(0.05)
        sys.exit(f"simulator {site} not ready")

    def ping(self, conf, *args):
        r = subprocess.run([binary(self.build, "muster"), "--config", conf, "ping", "--json", *args],
                           capture_output=True, text=True, timeout=120)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def check(self, conf, *args):
        t0 = time.monotonic()
        r = subprocess.run([binary(self.build, "check-mc-nrpe"), "--config", conf, "check_sim", "--dm", "registry",
                            "-t", "60s", *args], capture_output=True, text=True, timeout=120)
        wall = (time.monotonic() - t0) * 1000
        m = re.search(r"total=(\d+) ok=(\d+).*checktime=([0-9.]+)", r.stdout)
        return (int(m.group(2)), float(m.group(3)) * 1000, wall) if m else (0, None, wall)

    def floor(self, n):
        """The brokers alone, with pika: N messages published at A to
        muster.directed and consumed from a queue at A (local) or at B (through
        the federation link); N messages published at B to muster.reply and
        consumed from a direct reply-to at A (through the shovel). ms until
        the last one arrived."""
        import pika

        def conn(url):
            return pika.BlockingConnection(pika.URLParameters(url))

        ca, cb = conn(self.sites.a_url), conn(self.sites.b_url)
        cha, chb = ca.channel(), cb.channel()
        out = {}
        got = []
        try:
            for where, ch, c, key in (("local", cha, ca, "floor.local"), ("link", chb, cb, "floor.link")):
                q = ch.queue_declare("", exclusive=True).method.queue
                ch.queue_bind(q, "muster.directed", key)
                ch.basic_consume(q, lambda *a: got.append(time.monotonic()), auto_ack=True)
                pub = ca.channel()
                pub.confirm_delivery()
                # Mandatory: returned (an exception) until the binding has reached A.
                deadline = time.monotonic() + 60
                while True:
                    try:
                        pub.basic_publish("muster.directed", key, b"probe", mandatory=True)
                        break
                    except pika.exceptions.UnroutableError:
                        if time.monotonic() > deadline:
                            sys.exit(f"floor: binding {key} never reached A")
                        time.sleep(0.1)
                deadline = time.monotonic() + 10
                while not got and time.monotonic() < deadline:
                    c.process_data_events(0.01)
                pub.close()
                runs = []
                for _ in range(self.args.repeats):
                    got.clear()
                    t0 = time.monotonic()
                    for i in range(n):
                        cha.basic_publish("muster.directed", key, b"x" * 600)
                    deadline = t0 + 30
                    while len(got) < n and time.monotonic() < deadline:
                        c.process_data_events(0)
                        ca.process_data_events(0)
                    if len(got) == n:
                        runs.append((got[-1] - t0) * 1000)
                out[f"floor-{where}"] = runs
            # Replies: B -> muster.reply -> shovel -> A's default exchange -> direct reply-to.
            replies = []
            cha.basic_consume("amq.rabbitmq.reply-to", lambda *a: replies.append(time.monotonic()), auto_ack=True)
            # The reply-to address of cha's consumer: ask the broker by sending
            # ourselves one message and reading its reply_to.
            me = cha.queue_declare("", exclusive=True).method.queue
            cha.basic_publish("", me, b"", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
            addr = None
            deadline = time.monotonic() + 10
            while addr is None and time.monotonic() < deadline:
                m, props, _ = cha.basic_get(me, auto_ack=True)
                if m:
                    addr = props.reply_to
            runs = []
            for _ in range(self.args.repeats):
                replies.clear()
                t0 = time.monotonic()
                for i in range(n):
                    chb.basic_publish("muster.reply", addr, b"x" * 400)
                deadline = t0 + 30
                while len(replies) < n and time.monotonic() < deadline:
                    ca.process_data_events(0)
                    cb.process_data_events(0)
                if len(replies) == n:
                    runs.append((replies[-1] - t0) * 1000)
            out["floor-shovel"] = runs
        finally:
            for c in (ca, cb):
                try:
                    c.close()
                except Exception:
                    pass
        return out

    def size(self, n):
        registry = os.path.join(self.tmp, f"registry-{n}")
        os.mkdir(registry)
        url_a, url_b = self.sites.a_url, self.sites.b_url
        sims = [self.start_sim("a", url_a, n, registry), self.start_sim("b", url_b, n, registry)]
        client = self.config(f"client-{n}.conf", url_a, "monitor",
                             {"client": {"registry_dir": registry, "timeout": "60s", "discovery_timeout": "2s"}})
        # Until B's bindings have reached A, B's nodes are unroutable from A.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            d = self.ping(client, "--dm", "registry", "-I", "/^b/", "-t", "5s")
            if d and d["stats"]["responses"] == n:
                break
            time.sleep(0.5)
        else:
            sys.exit(f"B's {n} nodes never all answered at A")

        res = {k: [] for k in ("ping-a", "ping-b", "ping-ab", "bcast-a", "bcast-b", "nrpe-a", "nrpe-b", "nrpe-ab")}
        res.update(self.floor(n))
        short = 0
        for _ in range(self.args.repeats):
            for key, filt, want in (("ping-a", ["-I", "/^a/"], n), ("ping-b", ["-I", "/^b/"], n),
                                    ("ping-ab", [], 2 * n)):
                d = self.ping(client, "--dm", "registry", *filt)
                if d and d["stats"]["responses"] == want:
                    res[key].append(d["stats"]["total_ms"])
                else:
                    short += 1
            d = self.ping(client, "--dm", "broadcast", "--dt", "1s")
            if d:
                for site in ("a", "b"):
                    rtts = [x["rtt_ms"] for x in d["replies"] if x["sender"].startswith(site)]
                    if len(rtts) == n:
                        res[f"bcast-{site}"].append(max(rtts))
                    else:
                        short += 1
            for key, filt, want in (("nrpe-a", ["-I", "/^a/"], n), ("nrpe-b", ["-I", "/^b/"], n),
                                    ("nrpe-ab", [], 2 * n)):
                ok, checktime, _ = self.check(client, *filt)
                if ok == want:
                    res[key].append(checktime)
                else:
                    short += 1
        for p in sims:
            p.terminate()
            p.wait(30)
        return res, short

    def run(self):
        t0 = time.monotonic()
        # The links come up once muster's exchanges exist (the simulators
        # declare them); size() waits until B's nodes answer at A.
        self.sites = TwoSites(proxy=False)
        print(f"two brokers up and federated in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        rows = []
        for n in self.args.nodes:
            res, short = self.size(n)
            rows.append((n, res, short))
            print(f"N={n} per site done", file=sys.stderr)
        return rows

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.sites:
            self.sites.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def report(rows, repeats):
    print(f"Round trips at site A, ms, median (min–max) of {repeats} runs; N nodes per site.\n")
    print("| N/site | what | site A's nodes | site B's nodes (federated) | both sites | B/A |")
    print("|---:|---|---:|---:|---:|---:|")
    for n, res, short in rows:
        for label, a, b, ab in (
                ("`muster ping --dm registry`, whole run", "ping-a", "ping-b", "ping-ab"),
                ("broadcast `muster ping`, last reply", "bcast-a", "bcast-b", None),
                ("`check-mc-nrpe --dm registry`, checktime", "nrpe-a", "nrpe-b", "nrpe-ab")):
            ra, rb = res[a], res[b]
            both = f"{med(res[ab]):.1f} ({spread(res[ab])})" if ab else "-"
            print(f"| {n} | {label} | {med(ra):.1f} ({spread(ra)}) | {med(rb):.1f} ({spread(rb)}) | {both} "
                  f"| {med(rb) / med(ra):.2f}× |")
        print(f"| {n} | floor: N messages to a queue, last arrival | {med(res['floor-local']):.1f} "
              f"({spread(res['floor-local'])}) | {med(res['floor-link']):.1f} ({spread(res['floor-link'])}) "
              f"through the federation link | - | {med(res['floor-link']) / med(res['floor-local']):.2f}× |")
        print(f"| {n} | floor: N replies published at B to muster.reply, at A's direct reply-to | - "
              f"| {med(res['floor-shovel']):.1f} ({spread(res['floor-shovel'])}) through the shovel | - | - |")
        if short:
            print(f"\n(N={n}: {short} runs without every reply left out)")


def main():
    ap = argparse.ArgumentParser(description="two federated sites: round trips per site (bench/README.md)")
    ap.add_argument("--build", required=True, help="meson build dir configured with -Dbench=true")
    ap.add_argument("--nodes", default="10,50,100", help="simulated nodes per site, comma-separated")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    args.nodes = [int(x) for x in args.nodes.split(",")]
    run = Run(args)
    try:
        rows = run.run()
    finally:
        run.close()
    report(rows, args.repeats)


if __name__ == "__main__":
    main()
