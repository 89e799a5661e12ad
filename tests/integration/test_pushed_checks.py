#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pushed checks end to end: muster-heartbeat runs [heartbeat] checks at each
beat and signs their results into the registration; muster-collector stores
them, logs check-state-changed once per change, exports them as metrics;
check-mc-nrpe --from-registry, muster nodes --check and muster inventory show
them without a broker round trip. A private RabbitMQ, the real binaries."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Fleet, Collector, binary, write_config  # noqa: E402

# Output that changes at every beat, as load averages and free space do.
CHANGING_OK = 'echo "DISK OK - free $(date +%N) bytes|free=$(date +%N)B;;;0"; exit 0'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PushedChecks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.broker.start()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()

    def setUp(self):
        self.fleet = Fleet(self.broker.url, collective=f"c{int(time.time() * 1000) % 10**8}")
        self.port = free_port()
        self.collector = Collector(self.fleet, name=self.fleet.collective,
                                   extra={"collector": {"metrics_address": f"127.0.0.1:{self.port}"}})
        self.collector.start()
        # The monitor's tools read the same state directory, with the same grace.
        write_config(self.fleet.client_config, {
            "main": {"identity": "monitor", "collective": self.fleet.collective},
            "broker": {"url": "amqp://127.0.0.1:1/", "connect_timeout": "1s"},
            "security": {"psk_file": self.fleet.psk},
            "client": {"timeout": "5s", "registry_dir": self.fleet.registry},
            "collector": {"stale_grace": "2s"},
        })

    def tearDown(self):
        self.fleet.close()

    def node(self, identity, commands, checks, interval="60s", check_timeout=None, facts=None, classes=()):
        """A node's config: its NRPE commands and the checks it pushes."""
        d = self.fleet.root / "hb" / identity
        (d / "facts.d").mkdir(parents=True, exist_ok=True)
        (d / "nrpe.d").mkdir(exist_ok=True)
        (d / "facts.d" / "facts.json").write_text(json.dumps(facts or {}))
        (d / "classes.txt").write_text("".join(c + "\n" for c in classes))
        (d / "nrpe.d" / "commands.cfg").write_text("".join(f"command[{k}]={v}\n" for k, v in commands.items()))
        hb = {"interval": interval, "checks": " ".join(checks)}
        if check_timeout:
            hb["check_timeout"] = check_timeout
        conf = d / "muster.conf"
        write_config(conf, {
            "main": {"identity": identity, "collective": self.fleet.collective, "log_target": "console"},
            "broker": {"url": self.fleet.broker_url, "connect_timeout": "2s"},
            "security": {"psk_file": self.fleet.psk},
            "responder": {"facts_dir": d / "facts.d", "classes_file": d / "classes.txt"},
            # As the responder's checks: never as root (the tests may run as root).
            "nrpe": {"command_dir": d / "nrpe.d", "user": "nobody" if os.geteuid() == 0 else ""},
            "client": {"timeout": "5s"},
            "heartbeat": hb,
        })
        return conf

    def beat(self, conf, timeout=30):
        e = dict(os.environ)
        e.pop("JOURNAL_STREAM", None)
        t0 = time.monotonic()
        r = subprocess.run([binary("muster-heartbeat"), "--config", str(conf)], capture_output=True, text=True,
                           timeout=timeout, env=e)
        self.assertEqual(r.returncode, 0, r.stderr)
        return time.monotonic() - t0

    def stored(self, identity, predicate=lambda reg: True, timeout=10):
        """The node's file once the collector stored a registration that satisfies predicate."""
        p = self.fleet.registry / identity
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reg = json.loads(p.read_text())
                if predicate(reg):
                    return reg
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.fail(f"{identity}: no matching registration stored:\n{self.collector.stderr()[-2000:]}")

    def wait_beats(self, n):
        """Until the collector consumed n registrations in all (written or touched)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = self.control_status()
            if st["written"] + st["touched"] >= n:
                return st
            time.sleep(0.05)
        self.fail(f"the collector stored fewer than {n} registrations: {st}")

    def control_status(self):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.collector.dir / "control"))
            s.sendall(b'{"verb":"status"}\n')
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data)

    def from_registry(self, check, *args):
        return self.fleet.run("check-mc-nrpe", check, "--from-registry", *args, timeout=30)

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    def test_results_pushed_and_stored(self):
        conf = self.node("web1", {"check_disk": CHANGING_OK,
                                  "check_load": 'echo "WARNING - load 5.1|load1=5.1;4;8;0"; exit 1'},
                         ["check_disk", "check_load"])
        self.beat(conf)
        reg = self.stored("web1", lambda r: "checks" in r)
        checks = reg["checks"]
        self.assertEqual(sorted(checks), ["check_disk", "check_load"])
        self.assertEqual(checks["check_load"]["state"], 1)
        self.assertEqual(checks["check_load"]["output"], "WARNING - load 5.1")
        self.assertEqual(checks["check_load"]["perfdata"], "load1=5.1;4;8;0")
        self.assertEqual(checks["check_disk"]["state"], 0)
        self.assertRegex(checks["check_disk"]["output"], r"^DISK OK - free \d+ bytes$")
        for c in checks.values():
            self.assertGreater(c["duration_usec"], 0)
            self.assertLessEqual(abs(c["when"] - time.time()), 10)

        # What the operator sees: the stored results, no broker needed.
        r = self.fleet.run("muster", "inventory", "web1")
        self.assertEqual(r.returncode, 0, r.stderr)
        print(r.stdout)
        self.assertRegex(r.stdout, r"\n   Checks:\n      check_disk +OK +DISK OK - free \d+ bytes")
        self.assertRegex(r.stdout, r"\n      check_load +WARNING +WARNING - load 5.1")
        r = self.fleet.run("muster", "nodes", "--check", "check_load")
        print(r.stdout)
        self.assertRegex(r.stdout, r"web1 +\S+ +current +WARNING +WARNING - load 5.1")
        r = self.fleet.run("muster", "nodes", "--check", "check_load", "--json")
        node = json.loads(r.stdout)[0]
        self.assertEqual(node["check"]["state"], "WARNING")
        self.assertEqual(node["check"]["output"], "WARNING - load 5.1")

        r = self.from_registry("check_load")
        print(r.stdout)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"^check_load: OK: 0 WARNING: 1 CRITICAL: 0 UNKNOWN: 0\| total=1 ok=0 warn=1 "
                                   r"crit=0 unknown=0 checktime=\d+\.\d{6}\nWARNING: web1\n$")
        r = self.from_registry("check_disk", "-v")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"\nweb1: DISK OK - free \d+ bytes \(as of \d+ s ago\)\n")
        r = self.from_registry("check_nothing")
        self.assertEqual(r.returncode, 3)
        self.assertIn("check_nothing: UNKNOWN: No node pushes results of check_nothing", r.stdout)

    def test_state_change_logged_once_and_repeats_only_touch(self):
        cmds = {"check_disk": CHANGING_OK, "check_app": 'echo "APP OK - $(date +%N)"; exit 0'}
        conf = self.node("db1", cmds, ["check_disk", "check_app"])
        self.beat(conf)
        first = self.stored("db1", lambda r: "checks" in r)
        ino = os.stat(self.fleet.registry / "db1").st_ino
        # Two more beats, outputs changed, states did not: the file is only touched.
        for i in range(2):
            self.beat(conf)
        st = self.wait_beats(3)
        self.assertEqual((st["written"], st["touched"]), (1, 2), st)
        self.assertEqual(os.stat(self.fleet.registry / "db1").st_ino, ino, "repeats must not rewrite the file")
        self.assertEqual(json.loads((self.fleet.registry / "db1").read_text())["checks"], first["checks"])
        # The latest outputs are not in the file, but their age is in the metrics.
        self.assertIn('muster_check_state{identity="db1",check="check_app"} 0\n', self.metrics())

        # check_app fails, for three beats: logged once.
        cmds["check_app"] = 'echo "APP CRITICAL - down"; exit 2'
        (conf.parent / "nrpe.d" / "commands.cfg").write_text("".join(f"command[{k}]={v}\n" for k, v in cmds.items()))
        for i in range(3):
            self.beat(conf)
        self.stored("db1", lambda r: r["checks"]["check_app"]["state"] == 2)
        st = self.wait_beats(6)
        self.assertEqual((st["written"], st["touched"]), (2, 4), st)
        # And recovers.
        cmds["check_app"] = 'echo "APP OK - back"; exit 0'
        (conf.parent / "nrpe.d" / "commands.cfg").write_text("".join(f"command[{k}]={v}\n" for k, v in cmds.items()))
        self.beat(conf)
        self.beat(conf)
        self.wait_beats(8)
        log = self.collector.stderr()
        print("\n".join(l for l in log.splitlines() if "Check check_" in l))
        self.assertEqual(log.count("Check check_app on db1 is now CRITICAL (was OK): APP CRITICAL - down"), 1, log)
        self.assertEqual(log.count("Check check_app on db1 is now OK (was CRITICAL): APP OK - back"), 1, log)
        self.assertEqual(log.count("Check check_disk on db1"), 0, "check_disk never changed state")
        self.assertIn("muster_check_state_changes_total 2\n", self.metrics())

        # In the journal too, with its fields, when the collector logs there.
        j = subprocess.run(["journalctl", "--no-pager", "-o", "json", "MUSTER_EVENT=check-state-changed",
                            "MUSTER_IDENTITY=db1", f"MUSTER_COLLECTIVE={self.fleet.collective}"],
                           capture_output=True, text=True)
        entries = [json.loads(l) for l in j.stdout.splitlines() if l.startswith("{")]
        for e in entries:
            self.assertEqual(e["MUSTER_CHECK"], "check_app")
            self.assertIn((e["MUSTER_PREVIOUS_STATE"], e["MUSTER_STATE"]), [("OK", "CRITICAL"), ("CRITICAL", "OK")])

    def test_output_refresh(self):
        """collector.check_output_refresh: repeats whose outputs changed only
        touch the file until the refresh period passed; then one rewrite
        stores the latest outputs, and the period starts again."""
        self.collector.stop()
        self.collector = Collector(self.fleet, name=self.fleet.collective,
                                   extra={"collector": {"metrics_address": f"127.0.0.1:{self.port}",
                                                        "check_output_refresh": "3s"}})
        self.collector.start()
        conf = self.node("app1", {"check_disk": CHANGING_OK}, ["check_disk"])
        self.beat(conf)
        first = self.stored("app1", lambda r: "checks" in r)["checks"]["check_disk"]["output"]
        written_at = time.monotonic()
        self.beat(conf)
        st = self.wait_beats(2)
        self.assertEqual((st["written"], st["touched"]), (1, 1), st)
        self.assertEqual(json.loads((self.fleet.registry / "app1").read_text())["checks"]["check_disk"]["output"],
                         first, "a repeat within check_output_refresh must not rewrite the outputs")
        # The period (whole seconds, counted from the first write) is over.
        time.sleep(max(0.0, written_at + 4.2 - time.monotonic()))
        self.beat(conf)
        st = self.wait_beats(3)
        self.assertEqual((st["written"], st["touched"]), (2, 1), st)
        latest = json.loads((self.fleet.registry / "app1").read_text())["checks"]["check_disk"]["output"]
        self.assertRegex(latest, r"^DISK OK - free \d+ bytes$")
        self.assertNotEqual(latest, first, "the refresh must store the latest output")
        # And only once: the next repeat is touched again.
        self.beat(conf)
        st = self.wait_beats(4)
        self.assertEqual((st["written"], st["touched"]), (2, 2), st)
        self.assertEqual(self.collector.stderr().count("Check check_disk on app1"), 0, "no state changed")

    def test_stale_result_is_unknown(self):
        conf = self.node("old1", {"check_disk": CHANGING_OK}, ["check_disk"], interval="5s")
        self.beat(conf)
        conf2 = self.node("new1", {"check_disk": CHANGING_OK}, ["check_disk"], interval="5s")
        self.beat(conf2)
        self.stored("old1", lambda r: "checks" in r)
        self.stored("new1", lambda r: "checks" in r)
        time.sleep(1.5)  # the index follows within a second
        r = self.from_registry("check_disk")
        self.assertEqual(r.returncode, 0, r.stdout)
        # old1 has not registered for 60 s: more than its interval (5 s) plus the grace (2 s).
        t = time.time() - 60
        os.utime(self.fleet.registry / "old1", (t, t))
        r = self.from_registry("check_disk")
        print(r.stdout)
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertRegex(r.stdout, r"^check_disk: OK: 1 WARNING: 0 CRITICAL: 0 UNKNOWN: 1\| total=2 ok=1 warn=0 "
                                   r"crit=0 unknown=1 checktime=\S+\nUNKNOWN: old1\nSTALE: old1\n$")
        r = self.from_registry("check_disk", "-v")
        self.assertIn("old1: DISK OK", r.stdout)
        self.assertIn(", stale)", r.stdout)
        self.assertGreaterEqual(int(re.search(r'muster_check_age_seconds\{identity="old1",check="check_disk"\} (\d+)',
                                              self.metrics()).group(1)), 0)

    def test_check_timeout(self):
        conf = self.node("slow1", {"check_disk": CHANGING_OK, "check_hang": "sleep 30; echo never"},
                         ["check_disk", "check_hang"], interval="10s", check_timeout="2s")
        took = self.beat(conf)
        # The registration still goes out on time: the hung check costs its timeout, not 30 s.
        self.assertLess(took, 6, "the heartbeat waited for the hung check")
        reg = self.stored("slow1", lambda r: "checks" in r)
        self.assertEqual(reg["checks"]["check_hang"]["state"], 3)
        self.assertEqual(reg["checks"]["check_hang"]["output"], "UNKNOWN: command timed out after 2 s")
        self.assertEqual(reg["checks"]["check_disk"]["state"], 0)
        time.sleep(1.5)
        r = self.from_registry("check_hang", "-v")
        print(r.stdout)
        self.assertEqual(r.returncode, 3)
        self.assertIn("UNKNOWN: slow1\n", r.stdout)
        self.assertIn("slow1: UNKNOWN: command timed out after 2 s", r.stdout)
        self.assertNotIn("STALE", r.stdout)

    def test_filters_from_registry(self):
        bad = 'echo "LOAD CRITICAL|load=99"; exit 2'
        good = 'echo "LOAD OK|load=0.1"; exit 0'
        for ident, role, cls, cmd in (("web1", "web", "frontend", bad), ("web2", "web", "frontend", good),
                                      ("db1", "db", "backend", bad)):
            self.beat(self.node(ident, {"check_load": cmd}, ["check_load"], facts={"role": role}, classes=[cls]))
        # A node that pushes no checks at all: counted only when a filter selects it.
        self.beat(self.node("bare1", {}, [], facts={"role": "web"}, classes=["frontend"]))
        for ident in ("web1", "web2", "db1", "bare1"):
            self.stored(ident)
        time.sleep(1.5)
        r = self.from_registry("check_load")
        self.assertIn("OK: 1 WARNING: 0 CRITICAL: 2 UNKNOWN: 0| total=3", r.stdout)
        self.assertIn("CRITICAL: db1 web1\n", r.stdout)
        self.assertEqual(r.returncode, 2)
        r = self.from_registry("check_load", "-F", "role=db")
        print(r.stdout)
        self.assertIn("OK: 0 WARNING: 0 CRITICAL: 1 UNKNOWN: 0| total=1", r.stdout)
        self.assertIn("CRITICAL: db1\n", r.stdout)
        r = self.from_registry("check_load", "-C", "frontend")
        print(r.stdout)
        self.assertIn("OK: 1 WARNING: 0 CRITICAL: 1 UNKNOWN: 1| total=3", r.stdout)
        self.assertIn("UNKNOWN: bare1\n", r.stdout)
        self.assertIn("NOT PUSHED: bare1\n", r.stdout)
        r = self.from_registry("check_load", "-W", "frontend role=web", "-I", "/^web/")
        self.assertIn("OK: 1 WARNING: 0 CRITICAL: 1 UNKNOWN: 0| total=2", r.stdout)
        r = self.from_registry("check_load", "-I", "web2")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("OK: 1 WARNING: 0 CRITICAL: 0 UNKNOWN: 0| total=1", r.stdout)
        r = self.from_registry("check_load", "-F", "role=none")
        self.assertEqual(r.returncode, 3)
        # --from-registry needs no broker: the client config points at a closed port.
        self.assertNotIn("broker", r.stdout)

    def test_metrics(self):
        conf = self.node("m1", {"check_disk": CHANGING_OK, "check_raid": 'echo "RAID CRITICAL"; exit 2'},
                         ["check_disk", "check_raid"])
        self.beat(conf)
        self.stored("m1", lambda r: "checks" in r)
        text = self.metrics()
        self.assertIn('muster_check_state{identity="m1",check="check_disk"} 0\n', text)
        self.assertIn('muster_check_state{identity="m1",check="check_raid"} 2\n', text)
        age = int(re.search(r'muster_check_age_seconds\{identity="m1",check="check_raid"\} (\d+)\n', text).group(1))
        self.assertLess(age, 10)
        self.assertIn("# TYPE muster_check_age_seconds gauge\n", text)
        # A restarted collector knows the states from the files: no change logged again.
        self.collector.stop()
        self.collector.start()
        self.beat(conf)
        self.wait_beats(1)
        self.assertIn('muster_check_state{identity="m1",check="check_raid"} 2\n', self.metrics())
        self.assertEqual(self.collector.stderr().count("Check check_raid on m1 is now CRITICAL (was NONE)"), 1)


if __name__ == "__main__":
    from harness import main
    main()
