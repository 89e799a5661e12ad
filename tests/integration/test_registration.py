#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Registration end to end: muster-heartbeat, muster-collector,
check_mcollective and `muster nodes` against a private RabbitMQ; hostile
identities, stale sweeps, and no registration lost across faults."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import (Fleet, Collector, RawClient, binary, build_registration, heartbeat,  # noqa: E402
                   node_config)


def check_mcollective(*args, user=None):
    cmd = [binary("check_mcollective"), *args]
    if user:
        cmd = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def node_files(directory):
    """The node files: everything but the collector's registry index (.index/)."""
    return sorted(n for n in os.listdir(directory) if n != ".index")


def wait_files(directory, n, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = [p.name for p in Path(directory).iterdir() if not p.name.startswith(".")]
        if len(names) >= n:
            return sorted(names)
        time.sleep(0.1)
    return sorted(p.name for p in Path(directory).iterdir() if not p.name.startswith("."))


class CheckMcollective(unittest.TestCase):
    """The plugin alone: files and mtimes set by the test."""

    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="muster-cm-"))
        os.chmod(self.dir, 0o755)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def node(self, name, age):
        p = self.dir / name
        p.write_text("{}")
        t = time.time() - age
        os.utime(p, (t, t))

    def run_check(self, *extra):
        return check_mcollective("--directory", str(self.dir), "--interval", "300", *extra)

    def test_none_stale(self):
        for n, age in (("a", 0), ("b", 100), ("c", 329)):
            self.node(n, age)
        r = self.run_check()
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "OK: 3 / 3 hosts checked in within 300 seconds| totalhosts=3 oldhosts=0 "
                                   "currenthosts=3\n")

    def test_one_stale(self):
        for n, age in (("a", 0), ("b", 100), ("c", 400)):
            self.node(n, age)
        self.node(".hidden", 10_000)
        r = self.run_check()
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "CRITICAL: 1 / 3 hosts not checked in within 300 seconds| totalhosts=3 "
                                   "oldhosts=1 currenthosts=2\n")
        r = self.run_check("-v")
        lines = r.stdout.splitlines()[1:]
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^c: last seen 40[0-2] s ago$")

    def test_all_stale_short_options(self):
        for n in ("a", "b"):
            self.node(n, 1000)
        r = check_mcollective("-d", str(self.dir), "-i", "60")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "CRITICAL: 2 / 2 hosts not checked in within 60 seconds| totalhosts=2 "
                                   "oldhosts=2 currenthosts=0\n")

    def test_empty(self):
        r = self.run_check()
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "OK: 0 / 0 hosts checked in within 300 seconds| totalhosts=0 oldhosts=0 "
                                   "currenthosts=0\n")

    def test_missing(self):
        r = check_mcollective("--directory", str(self.dir / "nope"), "--interval", "300")
        self.assertEqual(r.returncode, 3)
        self.assertEqual(r.stdout, f"UNKNOWN: cannot read directory {self.dir / 'nope'}: No such file or directory\n")

    def test_unreadable(self):
        os.chmod(self.dir, 0o700)
        r = self.run_check() if os.getuid() != 0 else check_mcollective(
            "--directory", str(self.dir), "--interval", "300", user=65534)
        self.assertEqual(r.returncode, 3, r)
        self.assertEqual(r.stdout, f"UNKNOWN: cannot read directory {self.dir}: Permission denied\n")

    def test_plugin_guidelines(self):
        r = check_mcollective("-h")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Usage: check_mcollective", r.stdout)
        r = check_mcollective("-V")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^check_mcollective \d")
        r = check_mcollective("--interval", "soon")
        self.assertEqual(r.returncode, 3)
        self.assertTrue(r.stdout.startswith("UNKNOWN: invalid interval"))
        # The original's GetoptLong accepted unambiguous abbreviations.
        self.node("a", 0)
        r = check_mcollective("--dir", str(self.dir), "--int", "300")
        self.assertEqual(r.returncode, 0, r)


class Registration(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.broker.start()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()

    def setUp(self):
        self.fleet = Fleet(self.broker.url, collective=f"c{int(time.time() * 1000) % 10**8}")
        self.collector = Collector(self.fleet, name=self.fleet.collective)
        self.collector.start()
        self.raw = None

    def tearDown(self):
        if self.raw:
            self.raw.close()
        self.fleet.close()

    def rawclient(self):
        if not self.raw:
            self.raw = RawClient(self.broker.url, self.fleet.psk)
            self.raw.confirm()
        return self.raw

    def publish_registration(self, reg, signed=True, persistent=True, raw_body=None, **kw):
        body = raw_body if raw_body is not None else json.dumps(reg).encode()
        ident = reg.get("identity", "x") if isinstance(reg, dict) else "x"
        key = f"{self.fleet.collective}.registration.{'x' if not isinstance(ident, str) or not ident.isascii() else 'h'}"
        self.rawclient().publish(body, "registration", key, signed=signed, reply=False, persistent=persistent, **kw)

    def test_heartbeats_make_files(self):
        n = 5
        for i in range(n):
            conf = node_config(self.fleet, f"node{i}.example.com", facts={"role": "web", "idx": str(i)},
                               classes=["base", f"class{i}"], interval="120s")
            r = heartbeat(conf)
            self.assertEqual(r.returncode, 0, r.stderr)
        names = wait_files(self.fleet.registry, n)
        self.assertEqual(names, [f"node{i}.example.com" for i in range(n)])
        for i in range(n):
            reg = json.loads((self.fleet.registry / f"node{i}.example.com").read_text())
            self.assertEqual(reg["identity"], f"node{i}.example.com")
            self.assertEqual(reg["collective"], self.fleet.collective)
            self.assertEqual(reg["facts"], {"role": "web", "idx": str(i)})
            self.assertEqual(reg["classes"], ["base", f"class{i}"])
            self.assertEqual(reg["agents"], ["discovery", "rpcutil", "nrpe"])
            self.assertEqual(reg["interval"], 120)
            self.assertEqual(reg["boot_id"], Path("/proc/sys/kernel/random/boot_id").read_text().strip())
            self.assertIsInstance(reg["uptime"], int)
            self.assertIn("received", reg)
        self.collector.wait_log("registered for the first time", n)
        r = check_mcollective("-d", str(self.fleet.registry), "-i", "120")
        self.assertEqual(r.stdout, "OK: 5 / 5 hosts checked in within 120 seconds| totalhosts=5 oldhosts=0 "
                                   "currenthosts=5\n")
        r = self.fleet.run("muster", "nodes", "--json")
        nodes = json.loads(r.stdout)
        self.assertEqual([x["state"] for x in nodes], ["current"] * 5)
        r = self.fleet.run("muster", "inventory", "node3.example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("idx => 3", r.stdout)

    def test_repeat_only_moves_mtime(self):
        conf = node_config(self.fleet, "steady")
        self.assertEqual(heartbeat(conf).returncode, 0)
        wait_files(self.fleet.registry, 1)
        p = self.fleet.registry / "steady"
        first = p.read_text()
        os.utime(p, (1000, 1000))
        time.sleep(1.1)
        self.assertEqual(heartbeat(conf).returncode, 0)
        deadline = time.monotonic() + 10
        while p.stat().st_mtime == 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreater(p.stat().st_mtime, time.time() - 30)
        self.assertEqual(p.read_text(), first, "an unchanged registration must not rewrite the file")
        # A changed fact rewrites it.
        (conf.parent / "facts.d" / "facts.json").write_text('{"role": "db"}')
        self.assertEqual(heartbeat(conf).returncode, 0)
        deadline = time.monotonic() + 10
        while p.read_text() == first and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(json.loads(p.read_text())["facts"], {"role": "db"})

    def test_hostile_identities(self):
        hostile = ["../etc/passwd", ".hidden", "a/b", "x" * 300, "bad\x01ctl", "", "tab\there", "ünïcode"]
        before = set(os.listdir(self.fleet.root))
        for ident in hostile:
            self.publish_registration(build_registration(ident, collective=self.fleet.collective))
        # Not UTF-8 at all:
        self.publish_registration({}, raw_body=b'{"protocol":"muster:registration:1","identity":"\xff\xfe"}')
        self.collector.wait_log("Rejected registration", len(hostile) + 1)
        self.assertEqual(node_files(self.fleet.registry), [])
        self.assertEqual(set(os.listdir(self.fleet.root)), before)
        log = self.collector.stderr()
        self.assertEqual(log.count("(invalid-identity)"), len(hostile), log)
        self.assertIn("(malformed)", log)
        self.assertIn('Rejected registration from "bad\\x01ctl" (invalid-identity)', log)
        # The collector still works.
        self.publish_registration(build_registration("fine", collective=self.fleet.collective))
        self.assertEqual(wait_files(self.fleet.registry, 1), ["fine"])

    def test_bad_signatures(self):
        self.publish_registration(build_registration("unsigned", collective=self.fleet.collective), signed=False)
        self.publish_registration(build_registration("forged", collective=self.fleet.collective), signature="ab" * 32)
        self.publish_registration(build_registration("other", collective="elsewhere"))
        self.collector.wait_log("Rejected registration", 3)
        log = self.collector.stderr()
        for reason in ("(unsigned)", "(bad-signature)", "(wrong-collective)"):
            self.assertIn(reason, log)
        self.assertEqual(node_files(self.fleet.registry), [])

    def test_one_node_path_does_not_stall_the_fleet(self):
        """A directory, a symlink and an immutable file in the places of three
        nodes, among 1,000 others: the 1,000 are stored, the three rejected
        with their reasons (registration-rejected, metrics, STATUS), and the
        collector is not degraded. Before, the first of them held every later
        registration ("degraded: cannot write to ...: File exists")."""
        import socket
        import urllib.request
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.collector.stop()
        c = Collector(self.fleet, name=self.fleet.collective,
                      extra={"collector": {"metrics_address": f"127.0.0.1:{port}"}}).start()
        reg = self.fleet.registry
        reg.mkdir(parents=True, exist_ok=True)
        (reg / "evil-dir").mkdir()
        target = self.fleet.root / "not-a-registration"
        target.write_text("keep me\n")
        (reg / "evil-link").symlink_to(target)
        (reg / "evil-immutable").write_text("{}\n")
        subprocess.run(["chattr", "+i", str(reg / "evil-immutable")], check=True)
        try:
            names = [f"good{i:04d}" for i in range(1000)]
            for bad, at in (("evil-dir", 1), ("evil-link", 400), ("evil-immutable", 700)):
                names.insert(at, bad)
            for name in names:
                self.publish_registration(build_registration(name, collective=self.fleet.collective))
            stored = wait_files(reg, 1003, timeout=60)
            self.assertEqual([n for n in stored if n.startswith("good")], [f"good{i:04d}" for i in range(1000)])
            c.wait_log("(unwritable)", 3)
            log = c.stderr()
            # What the admin reads in the journal, one line per node:
            self.assertIn('Rejected registration from "evil-dir" (unwritable): cannot store '
                          f'{reg}/evil-dir: something other than a regular file is in its place', log)
            self.assertIn('Rejected registration from "evil-link" (unwritable)', log)
            self.assertIn(f'Rejected registration from "evil-immutable" (unwritable): cannot store '
                          f'{reg}/evil-immutable: Operation not permitted', log)
            self.assertNotIn("Cannot store registrations", log)
            self.assertEqual(target.read_text(), "keep me\n")
            self.assertTrue((reg / "evil-dir").is_dir())
            want = r"^1000 nodes, 0 stale, \d+ registrations/min, 3 rejected because their file cannot be written$"
            status = c.wait_status(want, timeout=5)
            self.assertFalse(status.startswith("degraded"), status)
            self.assertRegex(status, want)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                text = resp.read().decode()
            self.assertIn('muster_registrations_rejected_total{reason="unwritable"} 3\n', text)
            self.assertIn('muster_nodes{state="current"} 1000\n', text)
        finally:
            subprocess.run(["chattr", "-i", str(reg / "evil-immutable")])
            c.stop()

    def test_reload_applies_state_dir_without_reconnecting(self):
        """SIGHUP: responder-only keys do not make the collector reconnect; a
        new state_dir is applied at once (not just a reconnect and the old
        directory kept); one that cannot be opened keeps the old one."""
        c = self.collector
        dropins = c.config.parent / "conf.d"
        dropins.mkdir()

        def reload(text, count):
            (dropins / "reload.conf").write_text(text)
            c.proc.send_signal(signal.SIGHUP)
            c.wait_log("Configuration reloaded", count)
            return c.stderr().split("Configuration reloaded")[-1].split("\n")[0]

        tail = reload("[main]\nidentity=someone-else\n[responder]\nagents=discovery\n", 1)
        self.assertEqual(tail, ".", "responder-only keys must not reconnect the collector")

        new = self.fleet.root / "registrations-moved"
        tail = reload(f"[collector]\nstate_dir={new}\n", 2)
        self.assertEqual(tail, ".")
        self.assertIn(f"Loaded 0 node(s) from {new}.", c.stderr())
        self.publish_registration(build_registration("moved", collective=self.fleet.collective))
        self.assertEqual(wait_files(new, 1), ["moved"])
        self.assertFalse((self.fleet.registry / "moved").exists())

        tail = reload(f"[collector]\nstate_dir={self.fleet.root}/no/such/parent\n", 3)
        self.assertIn(f"Failed to open the state directory {self.fleet.root}/no/such/parent: "
                      "No such file or directory", c.stderr())
        self.assertIn(f"Keeping the state directory {new}.", c.stderr())
        self.publish_registration(build_registration("kept", collective=self.fleet.collective))
        self.assertEqual(wait_files(new, 2), ["kept", "moved"])

    def test_forget(self):
        """muster nodes --forget: through the collector's control socket, the
        file goes, node-retired is logged, the metrics and STATUS follow."""
        for name in ("retiree", "stayer"):
            self.publish_registration(build_registration(name, collective=self.fleet.collective))
        self.assertEqual(wait_files(self.fleet.registry, 2), ["retiree", "stayer"])
        r = subprocess.run([binary("muster"), "--config", str(self.collector.config), "nodes", "--forget",
                            "retiree", "ghost"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.stdout, "retiree: forgotten\nghost: not known to the collector\n", r.stderr)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(wait_files(self.fleet.registry, 1), ["stayer"])
        self.collector.wait_log("Node retiree retired by an operator (uid 0), removed.")
        self.assertRegex(self.collector.wait_status(r"^1 nodes, 0 stale"), r"^1 nodes, 0 stale")
        r = subprocess.run([binary("muster"), "--config", str(self.collector.config), "nodes", "--forget",
                            "../etc"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn('Invalid identity "../etc"', r.stderr)
        # Registering again makes it a new node.
        self.publish_registration(build_registration("retiree", collective=self.fleet.collective))
        self.assertEqual(wait_files(self.fleet.registry, 2), ["retiree", "stayer"])
        self.collector.wait_log("Node retiree registered for the first time", 2)

    def test_expire_after(self):
        """collector.expire_after: a node silent longer than that is removed
        (node-expired), after it was reported stale; others stay."""
        self.collector.stop()
        c = Collector(self.fleet, name=self.fleet.collective, extra={"collector": {"expire_after": "60s"}}).start()
        now = int(time.time())
        self.publish_registration(build_registration("long-gone", collective=self.fleet.collective,
                                                     msgtime=now - 3600, interval=5))
        self.publish_registration(build_registration("just-stale", collective=self.fleet.collective,
                                                     msgtime=now - 30, interval=5))
        self.publish_registration(build_registration("fresh", collective=self.fleet.collective))
        c.wait_log("Node long-gone expired: silent for more than 60 s, removed.")
        c.wait_log("Node just-stale stopped checking in")
        self.assertEqual(wait_files(self.fleet.registry, 2), ["fresh", "just-stale"])
        time.sleep(1.5)  # a later sweep does not expire the others
        self.assertEqual(node_files(self.fleet.registry), ["fresh", "just-stale"])
        self.assertNotIn("Node just-stale expired", c.stderr())
        c.stop()

    def test_deregister(self):
        """muster-heartbeat --deregister: the collector removes the node
        (node-deregistered); a forged deregistration is refused."""
        conf = node_config(self.fleet, "leaving")
        self.assertEqual(heartbeat(conf).returncode, 0)
        other = node_config(self.fleet, "staying")
        self.assertEqual(heartbeat(other).returncode, 0)
        self.assertEqual(wait_files(self.fleet.registry, 2), ["leaving", "staying"])
        # Forged: not signed with the fleet's key.
        forged = build_registration("staying", collective=self.fleet.collective)
        forged["deregister"] = True
        self.publish_registration(forged, signature="ab" * 32)
        self.collector.wait_log('Rejected registration from "staying" (bad-signature)')
        e = dict(os.environ)
        e.pop("JOURNAL_STREAM", None)
        r = subprocess.run([binary("muster-heartbeat"), "--config", str(conf), "--deregister"], capture_output=True,
                           text=True, timeout=30, env=e)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Deregistered leaving in collective", r.stderr)
        self.collector.wait_log("Node leaving deregistered itself and was removed.")
        self.assertEqual(wait_files(self.fleet.registry, 1), ["staying"])
        time.sleep(0.5)
        self.assertEqual(node_files(self.fleet.registry), ["staying"])
        self.assertNotIn("Node staying deregistered", self.collector.stderr())

    def test_stale_and_recovered(self):
        old = int(time.time()) - 100
        self.publish_registration(build_registration("sleepy", collective=self.fleet.collective, msgtime=old,
                                                     interval=5))
        self.collector.wait_log("Node sleepy stopped checking in")
        self.assertEqual(int((self.fleet.registry / "sleepy").stat().st_mtime), old)
        r = check_mcollective("-d", str(self.fleet.registry), "-i", "5", "-v")
        self.assertEqual(r.returncode, 2)
        self.assertTrue(r.stdout.startswith("CRITICAL: 1 / 1 hosts not checked in within 5 seconds - failed: "
                                            "sleepy|"), r.stdout)
        self.assertIn("sleepy: last seen", r.stdout)
        self.assertRegex(self.collector.wait_status(r"1 nodes, 1 stale"), r"1 nodes, 1 stale")
        self.publish_registration(build_registration("sleepy", collective=self.fleet.collective, interval=5))
        self.collector.wait_log("Node sleepy checked in again")
        self.assertEqual(self.collector.stderr().count("stopped checking in"), 1, "once per transition")

    def test_metrics(self):
        import socket
        import urllib.request
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.collector.stop()
        c = Collector(self.fleet, name=self.fleet.collective,
                      extra={"collector": {"metrics_address": f"127.0.0.1:{port}"}}).start()
        self.publish_registration(build_registration("m1", collective=self.fleet.collective))
        self.publish_registration(build_registration("m2", collective=self.fleet.collective), signed=False)
        c.wait_log("Rejected registration")
        wait_files(self.fleet.registry, 1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            self.assertEqual(resp.status, 200)
            self.assertTrue(resp.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            text = resp.read().decode()
        self.assertIn('muster_nodes{state="current"} 1\n', text)
        self.assertIn('muster_registrations_rejected_total{reason="unsigned"} 1\n', text)
        self.assertIn("muster_broker_connected 1\n", text)
        self.assertRegex(text, r'muster_node_last_seen_timestamp_seconds\{identity="m1"\} \d+\n')
        c.stop()

    def test_heartbeat_without_collector_queue_fails(self):
        fleet = Fleet(self.broker.url, collective="nobody-listens")
        try:
            r = heartbeat(node_config(fleet, "lonely"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("no collector queue is bound", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        finally:
            fleet.close()

    def test_heartbeat_broker_unreachable(self):
        conf = node_config(self.fleet, "cutoff", broker_url="amqp://127.0.0.1:1/")
        r = heartbeat(conf)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"Registration failed: cannot connect to a broker: amqp://127\.0\.0\.1:1/")

    def test_no_loss_collector_killed(self):
        k = 300
        for i in range(k):
            if i == k // 3:
                self.collector.stop(signal.SIGKILL)
            self.publish_registration(build_registration(f"n{i:04d}", collective=self.fleet.collective))
        self.collector.start()
        names = wait_files(self.fleet.registry, k, timeout=60)
        self.assertEqual(len(names), k)

    def test_backlog_drained_without_waiting(self):
        """A backlog many times the prefetch is stored at once on start-up:
        acks go out after every read, not with the next broker heartbeat."""
        self.collector.stop()
        c = Collector(self.fleet, name=self.fleet.collective,
                      extra={"broker": {"heartbeat": "60s"}, "collector": {"prefetch": "16"}})
        k = 1000
        for i in range(k):
            self.publish_registration(build_registration(f"b{i:04d}", collective=self.fleet.collective))
        t0 = time.monotonic()
        c.start()
        names = wait_files(self.fleet.registry, k, timeout=20)
        took = time.monotonic() - t0
        self.assertEqual(len(names), k)
        # 1,000 small files take well under a second here; a stall on an
        # unacked prefetch window would wait for the heartbeat (30 s).
        self.assertLess(took, 10, f"backlog of {k} took {took:.1f} s")
        c.stop()

    def test_no_loss_write_failure(self):
        """ENOSPC: held unacked, STATUS=degraded, all written once space is back."""
        if os.getuid() != 0:
            self.skipTest("needs root to mount a tiny tmpfs")
        small = self.fleet.root / "small"
        small.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=64", "tmpfs", str(small)], check=True)
        try:
            filler = small / "filler"
            with open(filler, "wb") as f:
                try:
                    f.write(b"x" * (1 << 20))
                except OSError:
                    pass
            c = Collector(self.fleet, name=self.fleet.collective + "-small", state_dir=small)
            self.collector.stop()
            c.start()
            for i in range(10):
                self.publish_registration(build_registration(f"full{i}", collective=self.fleet.collective))
            self.assertRegex(c.wait_status(r"^degraded"), r"^degraded: cannot write to")
            self.assertIn("No space left on device", c.stderr())
            filler.unlink()
            names = wait_files(small, 10, timeout=30)
            self.assertEqual(names, [f"full{i}" for i in range(10)])
            c.stop()
        finally:
            subprocess.run(["umount", "-l", str(small)])


class BrokerRestart(unittest.TestCase):
    def test_no_loss_broker_restart(self):
        with Broker() as broker:
            fleet = Fleet(broker.url)
            try:
                collector = Collector(fleet).start()
                raw = RawClient(broker.url, fleet.psk)
                raw.confirm()
                k = 100
                for i in range(k // 2):
                    raw.publish(json.dumps(build_registration(f"a{i:03d}")).encode(), "registration",
                                "muster.registration.a", reply=False, persistent=True)
                raw.close()
                collector.stop(signal.SIGKILL)
                broker.restart()
                raw = RawClient(broker.url, fleet.psk)
                raw.confirm()
                for i in range(k // 2, k):
                    raw.publish(json.dumps(build_registration(f"a{i:03d}")).encode(), "registration",
                                "muster.registration.a", reply=False, persistent=True)
                raw.close()
                collector.start()
                names = wait_files(fleet.registry, k, timeout=60)
                self.assertEqual(len(names), k)
                # A collector that sees the broker go away reconnects on its own.
                broker.restart()
                collector.wait_log("Connected to broker", 2, timeout=30)
                r = heartbeat(node_config(fleet, "after-restart"))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(len(wait_files(fleet.registry, k + 1)), k + 1)
            finally:
                fleet.close()


if __name__ == "__main__":
    from harness import main
    main()
