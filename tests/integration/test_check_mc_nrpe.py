#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-mc-nrpe end to end: three real responders, real plugins from
monitoring-plugins-basic, a private RabbitMQ."""

import os
import re
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Fleet, PLUGINS, binary, write_config  # noqa: E402

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

        # The talk's setup, in a collective of its own on the same broker: the
        # monitor nodes (class "monitor") define the NRPE command
        # check_mcollective, which runs the real check_mcollective on their
        # own registration directory. mon1's nodes all checked in, mon2 has
        # one stale node; web3 defines the command too but is no monitor.
        cls.talk = Fleet(cls.broker.url, collective="talk")
        # checks run as nobody: let it reach the directories
        os.chmod(cls.talk.root, 0o711)
        regs = {}
        for mon, stale in (("mon1", False), ("mon2", True)):
            d = cls.talk.root / f"registrations-{mon}"
            d.mkdir(mode=0o755)
            now = int(time.time())
            for node, age in (("app1", 0), ("app2", 1000 if stale else 0)):
                (d / node).write_text('{"identity": "%s"}' % node)
                os.utime(d / node, (now - age, now - age))
            regs[mon] = d
        check = f"{binary('check_mcollective')} --directory {{}} --interval 300"
        cls.talk.add("mon1", facts={"role": "monitor", "dc": "east"}, classes=["monitor"],
                     commands={"check_mcollective": check.format(regs["mon1"])})
        cls.talk.add("mon2", facts={"role": "monitor", "dc": "west"}, classes=["monitor"],
                     commands={"check_mcollective": check.format(regs["mon2"])})
        cls.talk.add("web3", facts={"role": "web", "dc": "east"}, classes=["webserver"],
                     commands={"check_mcollective": check.format(regs["mon2"])})
        for n in cls.talk.nodes.values():
            n.start(wait=False)
        for n in cls.talk.nodes.values():
            n.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.talk.close()
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

    def test_named_nodes_are_asked_directly(self):
        """-I with plain names skips discovery, as in muster(1): a named node
        that is down is UNKNOWN and named, not left out of a green result,
        and the check does not wait out the discovery timeout."""
        t0 = time.monotonic()
        rc, out, err = self.check("check_ok", "-I", "web1", "-I", "ghost", "--dt", "15", "-t", "20")
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 3, (out, err))
        self.assertLine(out[0], "check_ok", 1, 0, 0, 1, 1)
        self.assertEqual(out[1:], ["UNKNOWN: ghost"])
        self.assertLess(elapsed, 10.0, "named nodes were discovered (15 s) instead of asked directly")
        # A /regex/ still discovers: web1 and web2, nothing named missing.
        rc, out, err = self.check("check_ok", "-I", "/^web/", "--dt", "2")
        self.assertEqual(rc, 0, (out, err))
        self.assertLine(out[0], "check_ok", 2, 0, 0, 0, 2)

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

    # -W, --with: mco's combined filter -------------------------------------

    def test_with_talk_command_line(self):
        """The talk's exact command line: check-mc-nrpe -W monitor check_mcollective.
        Only the two monitor nodes run it (web3 defines the command too), and
        the one whose registrations hold a stale node is CRITICAL."""
        r = self.talk.run("check-mc-nrpe", "-W", "monitor", "check_mcollective")
        out = r.stdout.splitlines()
        self.assertEqual(r.returncode, 2, r)
        self.assertLine(out[0], "check_mcollective", 1, 0, 1, 0, 2)
        self.assertEqual(out[1:], ["CRITICAL: mon2"])
        r = self.talk.run("check-mc-nrpe", "-W", "monitor", "check_mcollective", "-v")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("mon1: OK: 2 / 2 hosts checked in within 300 seconds", r.stdout)
        self.assertIn("mon2: CRITICAL: 1 / 2 hosts not checked in within 300 seconds", r.stdout)
        self.assertNotIn("web3", r.stdout)

    def test_with_long_option_and_facts(self):
        """--with "monitor dc=west" is -C monitor -F dc=west: both must match."""
        r = self.talk.run("check-mc-nrpe", "check_mcollective", "--with", "monitor dc=west")
        self.assertEqual(r.returncode, 2, r)
        out = r.stdout.splitlines()
        self.assertLine(out[0], "check_mcollective", 0, 0, 1, 0, 1)
        self.assertEqual(out[1:], ["CRITICAL: mon2"])
        r = self.talk.run("check-mc-nrpe", "check_mcollective", "-W", "monitor   dc=east")
        self.assertEqual(r.returncode, 0, r)
        self.assertLine(r.stdout.splitlines()[0], "check_mcollective", 1, 0, 0, 0, 1)

    def test_with_class_and_fact(self):
        rc, out, err = self.check("check_warn", "-W", "webserver role=web")
        self.assertEqual(rc, 1, (out, err))
        self.assertLine(out[0], "check_warn", 1, 1, 0, 0, 2)
        self.assertEqual(out[1:], ["WARNING: web2"])
        rc, out, err = self.check("check_crit", "-W", "webserver dc=east")
        self.assertEqual(rc, 0, (out, err))
        self.assertLine(out[0], "check_crit", 1, 0, 0, 0, 1)
        # every word must match: no webserver has role=db
        rc, out, err = self.check("check_ok", "-W", "webserver role=db")
        self.assertEqual((rc, out), (3, ["check_ok: UNKNOWN: No nodes discovered"]), err)

    def test_with_operators_and_regex_words(self):
        """Any operator makes a fact word (here != and =~); a /regex/ word is a
        class; -W adds to -F/-C/-I given beside it."""
        rc, out, err = self.check("check_crit", "-W", "/^web/ dc!=east")
        self.assertEqual(rc, 1, (out, err))
        self.assertLine(out[0], "check_crit", 0, 1, 0, 0, 1)
        self.assertEqual(out[1:], ["WARNING: web2"])
        rc, out, err = self.check("check_crit", "-W", "role=~^(web|db)$", "-C", "database")
        self.assertEqual(rc, 2, (out, err))
        self.assertLine(out[0], "check_crit", 0, 0, 1, 0, 1)
        rc, out, err = self.check("check_crit", "-W", "webserver", "-W", "dc=west", "-I", "web2")
        self.assertEqual(rc, 1, (out, err))
        self.assertLine(out[0], "check_crit", 0, 1, 0, 0, 1)

    def test_with_registry_discovery(self):
        """With --dm registry the registrations are filtered the same way."""
        rc, out, err = self.check("check_warn", "--dm", "registry", "-W", "role=web")
        self.assertEqual(rc, 1, (out, err))
        self.assertLine(out[0], "check_warn", 1, 1, 0, 0, 2)

    def test_with_in_muster(self):
        """muster shares the parser: the same words select the same nodes."""
        r = self.fleet.run("muster", "ping", "-W", "webserver dc=west", "--json")
        self.assertEqual(r.returncode, 0, r)
        self.assertIn('"web2"', r.stdout)
        self.assertNotIn('"web1"', r.stdout)
        self.assertNotIn('"db1"', r.stdout)
        r = self.talk.run("muster", "nrpe", "check_mcollective", "--with", "monitor")
        self.assertIn("mon1", r.stdout)
        self.assertIn("mon2", r.stdout)
        self.assertNotIn("web3", r.stdout)

    def test_with_invalid(self):
        """A bad word is named on the status line (Nagios shows only stdout)."""
        rc, out, err = self.check("check_ok", "-W", "webserver =web")
        self.assertEqual(rc, 3)
        self.assertEqual(out, ['UNKNOWN: invalid filter "=web" in -W "webserver =web": fact name: must not be empty'])
        rc, out, err = self.check("check_ok", "-W", " ")
        self.assertEqual(rc, 3)
        self.assertEqual(out, ['UNKNOWN: invalid filter -W " ": no words, expected classes and FACT=VALUE filters'])
        r = self.fleet.run("muster", "ping", "-W", "x=/[/")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('Invalid filter "x=/[/" in -W "x=/[/"', r.stderr)

    # -w, -c: thresholds on the count of nodes not OK ------------------------

    def test_threshold_count_boundaries(self):
        """check_crit: web1 OK, web2 WARNING, db1 CRITICAL, so 2 of 3 not OK.
        A threshold N is exceeded by more than N: -w 1 warns, -w 2 does not."""
        cases = [
            (("-w", "1"), 1, "notok=2;1;;0;3"),
            (("-w", "2"), 0, "notok=2;2;;0;3"),
            (("-c", "1"), 2, "notok=2;;1;0;3"),
            (("-c", "2"), 0, "notok=2;;2;0;3"),
            (("-w", "1", "-c", "2"), 1, "notok=2;1;2;0;3"),
            (("-w", "0", "-c", "1"), 2, "notok=2;0;1;0;3"),
            (("--warning", "2", "--critical", "5"), 0, "notok=2;2;5;0;3"),
        ]
        for args, want, perf in cases:
            with self.subTest(args=args):
                rc, out, err = self.check("check_crit", *args)
                self.assertEqual(rc, want, (out, err))
                # the contract's line, with what the threshold judged appended
                head, extra = out[0].rsplit(" ", 1)
                self.assertLine(head, "check_crit", 1, 1, 1, 0, 3)
                self.assertEqual(extra, perf)
                # the nodes in trouble are still named, even when the result is OK
                self.assertEqual(out[1:], ["CRITICAL: db1", "WARNING: web2"])

    def test_threshold_percent_boundaries(self):
        """check_warn on the web servers: 1 of 2 not OK, 50%. A share is
        exceeded by more than it: -c 50% is OK, -c 49.9% is CRITICAL."""
        cases = [
            (("-c", "50%"), 0, "notok=1;;;0;2 notok_pct=50%;;50;0;100"),
            (("-c", "49.9%"), 2, "notok=1;;;0;2 notok_pct=50%;;49.9;0;100"),
            (("-w", "49%", "-c", "50%"), 1, "notok=1;;;0;2 notok_pct=50%;49;50;0;100"),
            (("-w", "0%"), 1, "notok=1;;;0;2 notok_pct=50%;0;;0;100"),
            (("-w", "100%"), 0, "notok=1;;;0;2 notok_pct=50%;100;;0;100"),
            (("-w", "0", "-c", "50%"), 1, "notok=1;0;;0;2 notok_pct=50%;;50;0;100"),
        ]
        for args, want, perf in cases:
            with self.subTest(args=args):
                rc, out, err = self.check("check_warn", "-C", "webserver", *args)
                self.assertEqual(rc, want, (out, err))
                m = re.match(r"^(.* checktime=\d+\.\d{6}) (.*)$", out[0])
                self.assertIsNotNone(m, out[0])
                self.assertLine(m[1], "check_warn", 1, 1, 0, 0, 2)
                self.assertEqual(m[2], perf)
                self.assertEqual(out[1:], ["WARNING: web2"])

    def test_threshold_counts_silent_nodes(self):
        """A registered node that does not answer is not OK: -w 0 warns
        about it, -w 1 lets it pass; it is named either way."""
        self.fleet.register("ghost", facts={"role": "web"})
        try:
            rc0, out0, err0 = self.check("check_ok", "--dm", "registry", "-t", "8", "-w", "0")
            rc1, out1, err1 = self.check("check_ok", "--dm", "registry", "-t", "8", "-w", "1", "-c", "25%")
        finally:
            (self.fleet.registry / "ghost").unlink()
        self.assertEqual(rc0, 1, (out0, err0))
        self.assertTrue(out0[0].endswith(" notok=1;0;;0;4"), out0[0])
        self.assertEqual(out0[1:], ["UNKNOWN: ghost"])
        self.assertEqual(rc1, 0, (out1, err1))
        self.assertTrue(out1[0].endswith(" notok=1;1;;0;4 notok_pct=25%;;25;0;100"), out1[0])
        self.assertEqual(out1[1:], ["UNKNOWN: ghost"])

    def test_threshold_without_is_worst_state(self):
        """Without -w/-c nothing changes: worst state, the contract's perfdata."""
        rc, out, err = self.check("check_crit")
        self.assertEqual(rc, 2)
        self.assertLine(out[0], "check_crit", 1, 1, 1, 0, 3)
        self.assertNotIn("notok", out[0])

    def test_threshold_invalid(self):
        for bad in ("10x", "-1", "101%", "1.5", "%", "", "2:5"):
            with self.subTest(bad=bad):
                rc, out, err = self.check("check_ok", "-w", bad)
                self.assertEqual(rc, 3)
                self.assertEqual(out, [f'UNKNOWN: invalid warning threshold "{bad}", expected a number of nodes '
                                       'such as 2 or a percentage such as 10% (at most 100%)'])
        rc, out, err = self.check("check_ok", "-c", "200%")
        self.assertEqual(out[0][:37], 'UNKNOWN: invalid critical threshold "')

    # the reason on the status line ----------------------------------------

    def test_reason_on_status_line(self):
        """Nagios shows only standard output: every refusal says why there."""
        cases = [
            (("check_ok", "-t", "5x"), 'UNKNOWN: invalid timeout "5x", expected a duration such as 10 or 10s'),
            (("check_ok", "--dt", "soon"),
             'UNKNOWN: invalid discovery timeout "soon", expected a duration such as 2 or 2s'),
            (("check_ok", "--bogus"), "UNKNOWN: unknown option --bogus, see check-mc-nrpe --help"),
            (("check_ok", "-Q"), "UNKNOWN: unknown option -Q, see check-mc-nrpe --help"),
            (("check_ok", "-t"), "UNKNOWN: option -t needs an argument, see check-mc-nrpe --help"),
            (("check_ok", "check_load"), 'UNKNOWN: only one NRPE command may be given, got "check_ok" and "check_load"'),
            ((), "UNKNOWN: NRPE command not specified, see check-mc-nrpe --help"),
        ]
        for args, line in cases:
            with self.subTest(args=args):
                r = subprocess.run([binary("check-mc-nrpe"), *args], capture_output=True, text=True)
                self.assertEqual(r.returncode, 3, r)
                self.assertEqual(r.stdout, line + "\n")

    def test_reason_for_configuration(self):
        d = self.fleet.root / "badconf"
        d.mkdir(exist_ok=True)
        bad = d / "bad.conf"
        bad.write_text(self.fleet.client_config.read_text() + "\n[client]\ntimeout = 5x\n")
        r = subprocess.run([binary("check-mc-nrpe"), "--config", str(bad), "check_ok"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 3, r)
        self.assertRegex(r.stdout, r'^check_ok: UNKNOWN: \S+/bad\.conf:\d+: invalid value for client\.timeout: "5x", '
                                   r"expected .*\n$")
        r = subprocess.run([binary("check-mc-nrpe"), "--config", str(d / "missing.conf"), "check_ok"],
                           capture_output=True, text=True)
        self.assertEqual(r.stdout, f"check_ok: UNKNOWN: failed to open configuration file {d}/missing.conf: "
                                   "No such file or directory\n")
        pw = d / "pw.conf"
        pw.write_text(self.fleet.client_config.read_text() + f"\n[broker]\npassword_file = {d}/nopw\n")
        r = subprocess.run([binary("check-mc-nrpe"), "--config", str(pw), "check_ok"], capture_output=True, text=True)
        self.assertEqual(r.stdout, f"check_ok: UNKNOWN: failed to read broker password file {d}/nopw: "
                                   "No such file or directory\n")

    def test_reason_permission_denied(self):
        """As an unprivileged user (nobody) that may read the config but not
        the key file: the status line says which file and why."""
        import tempfile
        d = Path(tempfile.mkdtemp(prefix="muster-nobody-"))
        try:
            os.chmod(d, 0o755)
            psk = d / "psk"
            psk.write_bytes(self.fleet.psk.read_bytes())
            os.chmod(psk, 0o600)
            conf = d / "client.conf"
            write_config(conf, {"main": {"identity": "monitor", "collective": "muster"},
                                "broker": {"url": self.broker.url, "connect_timeout": "2s"},
                                "security": {"psk_file": psk}})
            os.chmod(conf, 0o644)
            secret = d / "secret.conf"
            secret.write_text(conf.read_text())
            os.chmod(secret, 0o600)
            as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            r = subprocess.run([*as_nobody, binary("check-mc-nrpe"), "--config", str(conf), "check_ok"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 3, r)
            self.assertEqual(r.stdout, f"check_ok: UNKNOWN: cannot read key file {psk}: Permission denied\n")
            r = subprocess.run([*as_nobody, binary("check-mc-nrpe"), "--config", str(secret), "check_ok"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 3, r)
            self.assertEqual(r.stdout, f"check_ok: UNKNOWN: failed to read configuration file {secret}: "
                                       "Permission denied\n")
        finally:
            import shutil
            shutil.rmtree(d, ignore_errors=True)

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
