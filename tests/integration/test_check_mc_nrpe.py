#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-mc-nrpe end to end: three real responders, real plugins from
monitoring-plugins-basic, a private RabbitMQ."""

import re
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Fleet, PLUGINS, binary  # noqa: E402

DUMMY = PLUGINS / "check_dummy"
LINE = re.compile(r"^(?P<cmd>\S+): OK: (?P<ok>\d+) WARNING: (?P<warn>\d+) CRITICAL: (?P<crit>\d+) "
                  r"UNKNOWN: (?P<unk>\d+)\| total=(?P<total>\d+) ok=(?P=ok) warn=(?P=warn) crit=(?P=crit) "
                  r"unknown=(?P=unk) checktime=\d+\.\d{6}$")


def commands(state_of):
    """NRPE commands of one node: state_of maps command -> exit state."""
    c = {name: f"{DUMMY} {st} 'state {st} from check_dummy'" for name, st in state_of.items()}
    c["check_load"] = f"{PLUGINS}/check_load -w 1000,1000,1000 -c 2000,2000,2000"
    c["check_procs_tight"] = f"{PLUGINS}/check_procs -w 1 -c 100000"
    c["check_sleep"] = "sleep 30"
    return c


class CheckMcNrpe(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.broker.start()
        cls.fleet = Fleet(cls.broker.url)
        cls.fleet.add("web1", facts={"role": "web", "dc": "east"}, classes=["webserver"],
                      commands=commands({"check_ok": 0, "check_warn": 0, "check_crit": 0, "check_unk": 0}))
        cls.fleet.add("web2", facts={"role": "web", "dc": "west"}, classes=["webserver"],
                      commands=commands({"check_ok": 0, "check_warn": 1, "check_crit": 1, "check_unk": 0}))
        cls.fleet.add("db1", facts={"role": "db", "dc": "east"}, classes=["database"],
                      commands=commands({"check_ok": 0, "check_warn": 0, "check_crit": 2, "check_unk": 3}))
        for n in cls.fleet.nodes.values():
            n.start(wait=False)
        for n in cls.fleet.nodes.values():
            n.wait_ready()
        for name, n in cls.fleet.nodes.items():
            cls.fleet.register(name, facts={"role": "web" if name.startswith("web") else "db"})

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()
        cls.broker.stop()

    def check(self, *args, timeout=60):
        r = self.fleet.run("check-mc-nrpe", *args, timeout=timeout)
        return r.returncode, r.stdout.splitlines(), r.stderr

    def assertLine(self, line, cmd, ok, warn, crit, unk, total):
        m = LINE.match(line)
        self.assertIsNotNone(m, f"first line does not match the contract: {line!r}")
        self.assertEqual((m["cmd"], int(m["ok"]), int(m["warn"]), int(m["crit"]), int(m["unk"]), int(m["total"])),
                         (cmd, ok, warn, crit, unk, total), line)

    def test_all_ok(self):
        rc, out, err = self.check("check_ok")
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(len(out), 1, out)
        self.assertLine(out[0], "check_ok", 3, 0, 0, 0, 3)

    def test_real_plugin(self):
        rc, out, err = self.check("check_load")
        self.assertEqual(rc, 0, (out, err))
        self.assertLine(out[0], "check_load", 3, 0, 0, 0, 3)

    def test_warning(self):
        rc, out, err = self.check("check_warn")
        self.assertEqual(rc, 1, (out, err))
        self.assertLine(out[0], "check_warn", 2, 1, 0, 0, 3)
        self.assertEqual(out[1:], ["WARNING: web2"])

    def test_warning_from_real_plugin(self):
        rc, out, err = self.check("check_procs_tight", "-F", "role=web")
        self.assertEqual(rc, 1, (out, err))
        self.assertLine(out[0], "check_procs_tight", 0, 2, 0, 0, 2)
        self.assertEqual(out[1:], ["WARNING: web1 web2"])

    def test_critical(self):
        rc, out, err = self.check("check_crit")
        self.assertEqual(rc, 2, (out, err))
        self.assertLine(out[0], "check_crit", 1, 1, 1, 0, 3)
        self.assertEqual(out[1:], ["CRITICAL: db1", "WARNING: web2"])

    def test_unknown(self):
        rc, out, err = self.check("check_unk")
        self.assertEqual(rc, 3, (out, err))
        self.assertLine(out[0], "check_unk", 2, 0, 0, 1, 3)
        self.assertEqual(out[1:], ["UNKNOWN: db1"])

    def test_no_such_command(self):
        rc, out, err = self.check("check_missing")
        self.assertEqual(rc, 3, (out, err))
        self.assertLine(out[0], "check_missing", 0, 0, 0, 3, 3)
        self.assertEqual(out[1:], ["UNKNOWN: db1 web1 web2"])
        r = self.fleet.run("muster", "nrpe", "check_missing", "-I", "db1")
        self.assertIn("No such command: check_missing", r.stdout)

    def test_filter_selects_one(self):
        rc, out, err = self.check("check_crit", "-I", "db1")
        self.assertEqual(rc, 2, (out, err))
        self.assertLine(out[0], "check_crit", 0, 0, 1, 0, 1)
        rc, out, err = self.check("check_crit", "-F", "dc=west")
        self.assertEqual(rc, 1, (out, err))
        self.assertEqual(out[1:], ["WARNING: web2"])

    def test_no_nodes(self):
        rc, out, err = self.check("check_ok", "-F", "role=nothing")
        self.assertEqual(rc, 3, (out, err))
        self.assertEqual(out, ["check_ok: UNKNOWN: No nodes discovered"])

    def test_registry_silent_node(self):
        """An expected node without a responder is UNKNOWN, named, and the
        check does not wait for it."""
        self.fleet.register("ghost", facts={"role": "web"})
        try:
            t0 = time.monotonic()
            rc, out, err = self.check("check_ok", "--dm", "registry", "-t", "8")
            elapsed = time.monotonic() - t0
        finally:
            (self.fleet.registry / "ghost").unlink()
        self.assertEqual(rc, 3, (out, err))
        self.assertLine(out[0], "check_ok", 3, 0, 0, 1, 3)
        self.assertEqual(out[1:], ["UNKNOWN: ghost"])
        self.assertLess(elapsed, 4.0, "registry discovery waited for a node that has no queue")

    def test_registry_finishes_when_all_answered(self):
        t0 = time.monotonic()
        rc, out, err = self.check("check_ok", "--dm", "registry", "-t", "20")
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, (out, err))
        self.assertLine(out[0], "check_ok", 3, 0, 0, 0, 3)
        self.assertLess(elapsed, 3.0, "registry discovery must not wait for the timeout")

    def test_timeout_bounds_run(self):
        t0 = time.monotonic()
        rc, out, err = self.check("check_sleep", "--dm", "registry", "-t", "2")
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 3, (out, err))
        self.assertLine(out[0], "check_sleep", 0, 0, 0, 3, 0)
        self.assertEqual(out[1:], ["UNKNOWN: db1 web1 web2"])
        self.assertLess(elapsed, 4.0)

    def test_broker_unreachable(self):
        bad = self.fleet.root / "bad.conf"
        bad.write_text(self.fleet.client_config.read_text().replace(
            f":{self.broker.port}/", ":1/"))
        r = subprocess.run([binary("check-mc-nrpe"), "--config", str(bad), "check_ok", "-t", "3"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 3, r)
        self.assertRegex(r.stdout, r"^check_ok: UNKNOWN: cannot connect to a broker: .*127\.0\.0\.1:1/.*")

    def test_usage(self):
        r = subprocess.run([binary("check-mc-nrpe"), "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("Usage: check-mc-nrpe COMMAND", r.stdout)
        r = subprocess.run([binary("check-mc-nrpe"), "-V"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^check-mc-nrpe \d+\.\d+")
        r = subprocess.run([binary("check-mc-nrpe")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 3)
        self.assertTrue(r.stdout.startswith("UNKNOWN:"), r.stdout)
        r = subprocess.run([binary("check-mc-nrpe"), "check_ok", "--dt", "soon"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 3)


if __name__ == "__main__":
    from harness import main
    main()
