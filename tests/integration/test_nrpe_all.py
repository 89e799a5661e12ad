#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""muster nrpe --all (the nrpe agent's runallcommands) against real
responders: nodes with different command sets, a command that times out,
a node that runs no nrpe agent and one that defines no command. The table
of nodes x commands, the JSON, the parallel run, and the policy: a key
allowed only runcommand does not get runallcommands."""

import json
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Fleet, PLUGINS, binary, write_config  # noqa: E402
from test_auth import genkey  # noqa: E402

TIMEOUT = {"nrpe": {"command_timeout": "2s"}}


def cells(line):
    return line.split()


class NrpeAll(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.broker.start()
        cls.fleet = Fleet(cls.broker.url)
        ok = f"{PLUGINS}/check_dummy 0 fine"
        # node1: two commands that time out (2 s each: together they take
        # 2 s only when they run side by side), a WARNING with perfdata.
        cls.fleet.add("node1", commands={"check_ok": ok,
                                         "check_load": f"{PLUGINS}/check_dummy 1 'load high|load=5'",
                                         "check_slow": "sleep 30", "check_hang": "sleep 30"}, extra=TIMEOUT)
        cls.fleet.add("node2", commands={"check_ok": ok, "check_disk": f"{PLUGINS}/check_dummy 2 'disk full'"},
                      extra=TIMEOUT)
        cls.fleet.add("node3", agents=["discovery", "rpcutil"], commands={"check_ok": ok})
        cls.fleet.add("node4", commands={}, extra=TIMEOUT)
        for n in cls.fleet.nodes.values():
            n.start(wait=False)
        for n in cls.fleet.nodes.values():
            n.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()
        cls.broker.stop()

    def test_table(self):
        r = self.fleet.run("muster", "nrpe", "--all", "--no-progress")
        # a command is not OK somewhere: muster says so in its exit status
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        # one column per command any node defines, in name order; one row
        # per node that serves nrpe (node3 does not and is not asked)
        self.assertEqual(lines[0], "NODE   check_disk  check_hang  check_load  check_ok  check_slow")
        self.assertEqual(lines[1], "node1  -           UNKNOWN     WARNING     OK        UNKNOWN")
        self.assertEqual(cells(lines[2]), ["node2", "CRITICAL", "-", "-", "OK", "-"])
        self.assertEqual(cells(lines[3]), ["node4", "-", "-", "-", "-", "-"])
        self.assertEqual(lines[4], "")
        self.assertNotIn("node3", r.stdout)
        # why: the first output line of each result that is not OK
        self.assertEqual(lines[5:9], ["node1 check_hang: UNKNOWN: command timed out after 2 s",
                                      "node1 check_load: WARNING: load high",
                                      "node1 check_slow: UNKNOWN: command timed out after 2 s",
                                      "node2 check_disk: CRITICAL: disk full"])
        self.assertNotIn("fine", r.stdout)
        self.assertIn("Summary of Exit Code:\n\n            OK : 2\n       WARNING : 1\n      CRITICAL : 1\n"
                      "       UNKNOWN : 2\n", r.stdout)
        self.assertIn("Finished processing 3 / 3 hosts", r.stdout)

    def test_verbose_shows_every_output(self):
        r = self.fleet.run("muster", "nrpe", "--all", "-v", "-I", "node2", "--no-progress")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout.splitlines()[:5], ["NODE   check_disk  check_ok", "node2  CRITICAL    OK", "",
                                                     "node2 check_disk: CRITICAL: disk full",
                                                     "node2 check_ok: OK: fine"])

    def test_json(self):
        start = time.monotonic()
        r = self.fleet.run("muster", "nrpe", "--all", "--json")
        self.assertEqual(r.returncode, 1, r.stderr)
        j = json.loads(r.stdout)
        replies = {x["sender"]: x for x in j["replies"]}
        self.assertEqual(sorted(replies), ["node1", "node2", "node4"])
        self.assertEqual(j["no_response"], [])

        n1 = replies["node1"]
        # the worst state is the status: WARNING ranks above UNKNOWN
        self.assertEqual((n1["statuscode"], n1["statusmsg"]), (1, "WARNING"))
        cmds = n1["data"]["commands"]
        self.assertEqual(sorted(cmds), ["check_hang", "check_load", "check_ok", "check_slow"])
        self.assertEqual(cmds["check_load"], {"exitcode": 1, "output": "WARNING: load high", "perfdata": "load=5",
                                              "long_output": ""})
        self.assertEqual(cmds["check_ok"], {"exitcode": 0, "output": "OK: fine", "perfdata": "",
                                            "long_output": ""})
        for slow in ("check_slow", "check_hang"):
            self.assertEqual(cmds[slow]["exitcode"], 3)
            self.assertEqual(cmds[slow]["output"], "UNKNOWN: command timed out after 2 s")
        # both 2 s timeouts ran side by side: one reply after about 2 s, not 4
        self.assertGreater(n1["rtt_ms"], 1900)
        self.assertLess(n1["rtt_ms"], 3800)

        n2 = replies["node2"]
        self.assertEqual((n2["statuscode"], n2["statusmsg"]), (1, "CRITICAL"))
        self.assertEqual(n2["data"]["commands"], {
            "check_disk": {"exitcode": 2, "output": "CRITICAL: disk full", "perfdata": "", "long_output": ""},
            "check_ok": {"exitcode": 0, "output": "OK: fine", "perfdata": "", "long_output": ""}})
        # a node without commands answers at once, OK, with none
        self.assertEqual((replies["node4"]["statuscode"], replies["node4"]["statusmsg"]), (0, "OK"))
        self.assertEqual(replies["node4"]["data"], {"commands": {}})
        self.assertLess(time.monotonic() - start, 9)

        # each command is logged as a check of its own, with its action
        log = self.fleet.nodes["node1"].stderr()
        self.assertIn("Check check_slow finished UNKNOWN", log)
        self.assertIn("Check check_load finished WARNING", log)

    def test_node_without_nrpe(self):
        # node3 serves no nrpe: asked by name, it stays silent and is named
        r = self.fleet.run("muster", "nrpe", "--all", "-I", "node3", "-t", "3s", "--no-progress")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("No response from:\n\n   node3\n", r.stdout)
        self.assertNotIn("check_ok", r.stdout)
        self.assertNotIn("Check check_ok finished", self.fleet.nodes["node3"].stderr())

    def test_rpc_and_help(self):
        # the action is the agent's own: muster rpc reaches it too
        r = self.fleet.run("muster", "rpc", "nrpe", "runallcommands", "-I", "node2", "--json")
        j = json.loads(r.stdout)
        self.assertEqual(sorted(j["replies"][0]["data"]["commands"]), ["check_disk", "check_ok"])
        r = self.fleet.run("muster", "rpc", "nrpe", "nonsense", "-I", "node2")
        self.assertIn("its actions are: runallcommands, runcommand.", r.stderr)
        r = self.fleet.run("muster", "--help")
        self.assertIn("  nrpe --all ", r.stdout)
        self.assertIn("  --all ", r.stdout)
        r = self.fleet.run("muster", "help", "nrpe")
        self.assertIn("muster nrpe --all [OPTIONS]", r.stdout)
        r = self.fleet.run("muster", "nrpe", "--all", "check_ok")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no command", r.stderr)


class NrpeAllPolicy(unittest.TestCase):
    """runallcommands runs what runcommand runs: the policy must allow both."""

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.broker.start()
        cls.fleet = Fleet(cls.broker.url)
        root = cls.fleet.root
        cls.keys = root / "keys"
        cls.keys.mkdir()
        cls.clients = root / "clients.d"
        cls.clients.mkdir()
        for name in ("alice", "carol", "dave"):
            genkey(cls.keys, name)
            (cls.clients / f"{name}.pem").write_bytes((cls.keys / f"{name}.pub").read_bytes())
        genkey(cls.keys, "node1")
        cls.nodes_d = root / "nodes.d"
        cls.nodes_d.mkdir()
        (cls.nodes_d / "node1.pem").write_bytes((cls.keys / "node1.pub").read_bytes())
        policy = root / "policy.conf"
        policy.write_text("policy default deny\n"
                          "allow * discovery ping\n"
                          "allow alice nrpe runcommand\n"
                          "allow carol nrpe runcommand,runallcommands\n"
                          "allow dave nrpe runallcommands\n")
        security = {"accept_psk": "no", "client_keys_dir": cls.clients, "private_key": cls.keys / "node1.key",
                    "policy_file": policy}
        cls.node = cls.fleet.add("node1", commands={"check_ok": f"{PLUGINS}/check_dummy 0 fine"},
                                 extra={"security": security})
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()
        cls.broker.stop()

    def run_as(self, who, *args):
        p = self.fleet.root / f"{who}.conf"
        write_config(p, {
            "main": {"identity": "monitor"},
            "broker": {"url": self.fleet.broker_url},
            "security": {"psk_file": self.fleet.psk, "accept_psk": "no", "private_key": self.keys / f"{who}.key",
                         "key_id": who, "node_keys_dir": self.nodes_d},
            "client": {"discovery_timeout": "1s", "timeout": "5s"},
        })
        return subprocess.run([binary("muster"), "--config", str(p), *args], capture_output=True, text=True,
                              timeout=60)

    def checks_run(self):
        return self.node.stderr().count("Check check_ok finished")

    def test_runcommand_only_key(self):
        before = self.checks_run()
        r = self.run_as("alice", "nrpe", "check_ok", "--json")
        self.assertEqual(json.loads(r.stdout)["replies"][0]["statusmsg"], "OK", r.stdout + r.stderr)
        r = self.run_as("alice", "nrpe", "--all", "--json")
        self.assertEqual(r.returncode, 1)
        rep = json.loads(r.stdout)["replies"][0]
        self.assertEqual((rep["statuscode"], rep["statusmsg"]),
                         (1, "Not authorized: alice may not call nrpe runallcommands"))
        # the table shows the refusal in the node's row
        r = self.run_as("alice", "nrpe", "--all", "--no-progress")
        self.assertIn("node1  Not authorized: alice may not call nrpe runallcommands", r.stdout)
        deadline = time.monotonic() + 5
        while "Denied nrpe runallcommands to caller alice" not in self.node.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("Denied nrpe runallcommands to caller alice", self.node.stderr())
        self.assertEqual(self.checks_run(), before + 1)   # alice's runcommand only

    def test_runallcommands_without_runcommand(self):
        # allowed runallcommands by name but not runcommand: refused too
        before = self.checks_run()
        r = self.run_as("dave", "nrpe", "--all", "--json")
        rep = json.loads(r.stdout)["replies"][0]
        self.assertEqual(rep["statusmsg"], "Not authorized: dave may not call nrpe runallcommands")
        self.assertEqual(self.checks_run(), before)

    def test_both_allowed(self):
        r = self.run_as("carol", "nrpe", "--all", "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rep = json.loads(r.stdout)["replies"][0]
        self.assertEqual((rep["statuscode"], rep["statusmsg"]), (0, "OK"))
        self.assertEqual(rep["data"]["commands"]["check_ok"]["output"], "OK: fine")


if __name__ == "__main__":
    from harness import main
    main()
