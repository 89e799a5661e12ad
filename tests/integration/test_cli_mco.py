#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The muster CLI as mco and choria users expect it, against three real
responders on a private broker: registry discovery per collective, an empty
discovery said as mco says it, named nodes addressed directly, discovery
feedback on a terminal, per-command help and readable errors, JSON that
rounds its floats and reports failures, and the options for a large fleet:
--limit, --limit-seed, --batch, --batch-sleep, --nodes, --display, --jsonl
and a bounded "No response from:" list."""

import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Fleet, PLUGINS, SOURCE, binary, write_config  # noqa: E402

NO_NODES = "No request sent, we did not discover any nodes."


def run_with_pty_stderr(argv, timeout=30, stdin=None):
    """Run argv with stderr on a pseudo terminal (stdout a pipe); returns
    (CompletedProcess, what the terminal saw)."""
    import pty
    master, slave = pty.openpty()
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=slave, timeout=timeout, text=True, stdin=stdin)
        os.close(slave)
        slave = None
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    return p, seen.decode(errors="replace")


class CliMco(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.broker.start()
        cls.fleet = Fleet(cls.broker.url)
        ok = f"{PLUGINS}/check_dummy 0 'all fine'"
        cls.fleet.add("web1", facts={"role": "web"}, classes=["webserver"],
                      commands={"check_ok": ok, "check_web": f"{PLUGINS}/check_dummy 0 'web fine'"})
        cls.fleet.add("web2", facts={"role": "web"}, classes=["webserver"],
                      commands={"check_ok": ok, "check_web": f"{PLUGINS}/check_dummy 2 'web down'"})
        cls.fleet.add("db1", facts={"role": "db"}, classes=["database"], agents=["discovery", "rpcutil"])
        for n in cls.fleet.nodes.values():
            n.start(wait=False)
        for n in cls.fleet.nodes.values():
            n.wait_ready()
        cls.register_all()

    @classmethod
    def register_all(cls):
        for name in cls.fleet.nodes:
            agents = ("discovery", "rpcutil") if name == "db1" else ("discovery", "rpcutil", "nrpe")
            cls.fleet.register(name, facts={"role": "web" if name.startswith("web") else "db"}, agents=agents)

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()
        cls.broker.stop()

    def muster(self, *args, **kw):
        return self.fleet.run("muster", *args, **kw)

    def muster_argv(self, *args):
        return [binary("muster"), "--config", str(self.fleet.client_config), *args]

    def write_registration(self, identity, collective, agents=("discovery", "rpcutil", "nrpe")):
        now = int(time.time())
        reg = {"protocol": "muster:registration:1", "identity": identity, "collective": collective,
               "msgtime": now, "interval": 300, "facts": {}, "classes": [], "agents": list(agents),
               "received": now}
        (self.fleet.registry / identity).write_text(json.dumps(reg))

    def remove_registrations(self, *names):
        for n in names:
            try:
                (self.fleet.registry / n).unlink()
            except FileNotFoundError:
                pass

    # 19.7
    def test_registry_discovery_keeps_the_target_collective(self):
        """-T other --dm registry expects only the registrations of "other",
        not every node of the default collective."""
        self.write_registration("elsewhere1", "other")
        try:
            r = self.muster("ping", "--dm", "registry", "-T", "other", "-t", "5")
        finally:
            self.remove_registrations("elsewhere1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("Finished processing 0 / 1 hosts", r.stdout)
        self.assertIn("No response from:\n\n   elsewhere1 (no queue on the broker)\n", r.stdout)
        for name in ("web1", "web2", "db1"):
            self.assertNotIn(name, r.stdout)
        # The default collective still sees its three nodes, not the stranger.
        self.write_registration("elsewhere1", "other")
        try:
            r = self.muster("ping", "--dm", "registry", "-t", "5")
        finally:
            self.remove_registrations("elsewhere1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Finished processing 3 / 3 hosts", r.stdout)
        self.assertNotIn("elsewhere1", r.stdout)
        # No registration of the collective at all: nothing is expected.
        r = self.muster("ping", "--dm", "registry", "-T", "nowhere", "-t", "5")
        self.assertEqual(r.returncode, 1)
        self.assertIn(NO_NODES, r.stdout)

    # 19.8
    def test_empty_discovery_is_said_as_mco_says_it(self):
        # No node matches.
        r = self.muster("rpc", "rpcutil", "daemon_stats", "-F", "role=none", "--dt", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn(NO_NODES, r.stdout)
        self.assertNotIn("Finished processing 0 / 0", r.stdout)
        # An agent that no node serves is named (broadcast and registry).
        for dm in ("broadcast", "registry"):
            r = self.muster("rpc", "frobnicator", "run", "--dm", dm, "--dt", "1")
            self.assertEqual(r.returncode, 1, dm)
            self.assertIn(NO_NODES, r.stdout, dm)
            self.assertIn('No node serves the agent "frobnicator".', r.stdout, dm)
        # -A excluding all: db1 is the only database and does not serve nrpe.
        r = self.muster("nrpe", "check_ok", "-C", "database", "--dm", "registry")
        self.assertEqual(r.returncode, 1)
        self.assertIn(NO_NODES, r.stdout)
        self.assertNotIn("No node serves", r.stdout)  # nrpe is served, just not there
        r = self.muster("ping", "-A", "telepathy", "--dm", "registry")
        self.assertIn(NO_NODES, r.stdout)
        self.assertIn('No node serves the agent "telepathy".', r.stdout)
        # JSON has a field for it.
        r = self.muster("rpc", "frobnicator", "run", "--dm", "registry", "--json")
        j = json.loads(r.stdout)
        self.assertIs(j["request_sent"], False)
        self.assertEqual(j["message"], NO_NODES)
        self.assertEqual(j["unknown_agents"], ["frobnicator"])
        self.assertEqual(j["replies"], [])
        r = self.muster("ping", "--dt", "1", "--json")
        self.assertIs(json.loads(r.stdout)["request_sent"], True)

    # 19.9
    def test_named_identities_are_addressed_directly(self):
        """-I NAME (no /regex/) skips the broadcast discovery wait, as mco and
        choria do, and a named node that does not answer is listed."""
        t0 = time.monotonic()
        r = self.muster("ping", "-I", "web1", "--dt", "5", "-t", "8")
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertLess(took, 3.0, "waited out the 5 s discovery")
        self.assertRegex(r.stdout, r"(?m)^web1 +time=")
        self.assertIn("Finished processing 1 / 1 hosts", r.stdout)
        t0 = time.monotonic()
        r = self.muster("rpc", "rpcutil", "get_fact", "fact=role", "-I", "web1", "-I", "ghost", "--dt", "5", "-t", "8")
        took = time.monotonic() - t0
        self.assertLess(took, 3.0, "waited out the 5 s discovery")
        self.assertEqual(r.returncode, 1)
        self.assertIn("value: web", r.stdout)
        self.assertIn("Finished processing 1 / 2 hosts", r.stdout)
        self.assertIn("No response from:\n\n   ghost (no queue on the broker)\n", r.stdout)
        # A /regex/ still needs discovery.
        t0 = time.monotonic()
        r = self.muster("rpc", "rpcutil", "daemon_stats", "-I", "/^web/", "--dt", "2")
        self.assertGreaterEqual(time.monotonic() - t0, 2.0)
        self.assertIn("Finished processing 2 / 2 hosts", r.stdout)

    # 19.10
    def test_discovery_feedback_on_a_terminal(self):
        expect = re.compile(r"Discovering hosts using the broadcast method for 1s \.\.\.\. 3\r?\n")
        p, seen = run_with_pty_stderr(self.muster_argv("rpc", "rpcutil", "daemon_stats", "--dt", "1"))
        self.assertEqual(p.returncode, 0, seen)
        self.assertRegex(seen, r"Discovering hosts using the broadcast method for 1s \.\.\.\. 0")
        self.assertRegex(seen, expect)
        self.assertNotIn("Discovering", p.stdout)
        # A broadcast ping is its own discovery, and counts the same way.
        p, seen = run_with_pty_stderr(self.muster_argv("ping", "--dt", "1"))
        self.assertEqual(p.returncode, 0, seen)
        self.assertRegex(seen, expect)
        self.assertEqual(p.stdout.count("time="), 3)
        # Forced with --progress when stderr is not a terminal; off with --no-progress.
        r = self.muster("nrpe", "check_ok", "--dt", "1", "--progress")
        self.assertRegex(r.stderr, r"Discovering hosts using the broadcast method for 1s \.\.\.\. 2\n")
        p, seen = run_with_pty_stderr(self.muster_argv("rpc", "rpcutil", "daemon_stats", "--dt", "1",
                                                       "--no-progress"))
        self.assertNotIn("Discovering", seen)
        # Not a terminal, not asked, or JSON: silent.
        r = self.muster("rpc", "rpcutil", "daemon_stats", "--dt", "1")
        self.assertNotIn("Discovering", r.stderr)
        p, seen = run_with_pty_stderr(self.muster_argv("rpc", "rpcutil", "daemon_stats", "--dt", "1", "--json"))
        self.assertNotIn("Discovering", seen)

    # 19.11
    def test_help_per_command(self):
        for argv in (("help", "rpc"), ("rpc", "--help"), ("--help", "rpc"), ("rpc", "-h")):
            r = self.muster(*argv)
            self.assertEqual(r.returncode, 0, argv)
            self.assertTrue(r.stdout.startswith("Usage: muster rpc AGENT ACTION"), (argv, r.stdout[:200]))
            self.assertIn("rpcutil inventory", r.stdout)
            self.assertIn("--batch", r.stdout)
        r = self.muster("help", "nodes")
        self.assertTrue(r.stdout.startswith("Usage: muster nodes"))
        self.assertNotIn("--batch", r.stdout)
        r = self.muster("help")
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("Usage: muster COMMAND"))
        r = self.muster("help", "frob")
        self.assertEqual(r.returncode, 2)
        self.assertIn('Unknown command "frob"', r.stderr)

    def test_readable_errors(self):
        # getopt names the program, not its path, and points to --help.
        r = self.muster("ping", "--frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertTrue(r.stderr.startswith("muster: unrecognized option '--frobnicate'"), r.stderr)
        self.assertNotIn(binary("muster"), r.stderr)
        self.assertIn("muster --help", r.stderr)
        r = self.muster("ping", "-Z")
        self.assertTrue(r.stderr.startswith("muster: invalid option -- 'Z'"), r.stderr)
        # An unknown action lists the agent's actions.
        r = self.muster("rpc", "rpcutil", "nonsense", "-I", "web1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("Unknown action", r.stdout)
        self.assertIn('The agent rpcutil has no action "nonsense"; its actions are: agent_inventory, daemon_stats, '
                      'get_fact, inventory.', r.stderr)
        # --dm mc is mco's broadcast.
        r = self.muster("ping", "--dm", "mc", "--dt", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("time="), 3)

    def test_socket_error_names_the_errno(self):
        """A peer that resets the connection: librabbitmq says only "a socket
        error occurred"; muster says which."""
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(5)
        port = srv.getsockname()[1]

        def serve():
            while True:
                try:
                    c, _ = srv.accept()
                except OSError:
                    return
                c.recv(100)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
        threading.Thread(target=serve, daemon=True).start()
        conf = self.fleet.root / "reset.conf"
        write_config(conf, {"broker": {"url": f"amqp://127.0.0.1:{port}/", "connect_timeout": "2s"},
                            "security": {"psk_file": self.fleet.psk}})
        try:
            r = subprocess.run([binary("muster"), "--config", str(conf), "ping"], capture_output=True, text=True,
                               timeout=30)
        finally:
            srv.close()
        self.assertEqual(r.returncode, 1)
        self.assertIn("a socket error occurred (Connection reset by peer)", r.stderr)

    def test_missing_default_config_is_named(self):
        r = subprocess.run([binary("muster"), "--help"], capture_output=True, text=True)
        default = re.search(r"Configuration file \(default (\S+)\)", r.stdout).group(1)
        r = subprocess.run([binary("muster"), "ping"], capture_output=True, text=True, timeout=30)
        if os.path.exists(default):
            # (an installed muster on this machine: then the hint must not appear)
            self.assertNotIn("No configuration:", r.stderr)
            return
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"No configuration: {default} does not exist, and no --config was given", r.stderr)
        r = subprocess.run([binary("muster"), "ping", "--json"], capture_output=True, text=True, timeout=30)
        self.assertIn(f"{default} does not exist", json.loads(r.stdout)["error"])
        # The registry commands name it beside the default directory they could not read.
        r = subprocess.run([binary("muster"), "inventory", "web1", "--json"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"(no configuration: {default} does not exist)", r.stderr)
        self.assertIn(f"(no configuration: {default} does not exist)", json.loads(r.stdout)["error"])

    # 19.12
    def test_json_floats_total_and_reasons(self):
        r = self.muster("ping", "--dt", "1", "--json")
        self.assertEqual(r.returncode, 0)
        # Milliseconds with at most three decimals, never 2.9529999999999998.
        for number in re.findall(r"-?\d+\.\d+(?:[eE][-+]?\d+)?", r.stdout):
            self.assertLessEqual(len(number.split(".")[1]), 3, number)
        j = json.loads(r.stdout)
        self.assertEqual(j["stats"]["discovered"], 3)
        # total_ms is the whole run everywhere: a broadcast ping lasts its discovery.
        self.assertGreaterEqual(j["stats"]["total_ms"], 900)  # (the broker library's timer may end a little early)
        self.assertGreaterEqual(j["stats"]["total_ms"], j["stats"]["request_ms"])
        r = self.muster("rpc", "rpcutil", "get_fact", "fact=role", "--dt", "1", "--json")
        j = json.loads(r.stdout)
        self.assertGreaterEqual(j["stats"]["discovery_ms"], 900)
        self.assertGreaterEqual(j["stats"]["total_ms"], j["stats"]["discovery_ms"] + j["stats"]["request_ms"] - 1)
        for number in re.findall(r"\d+\.\d+", r.stdout):
            self.assertLessEqual(len(number.split(".")[1]), 3, number)
        # The reason beside each identity that did not answer.
        self.fleet.register("ghost")
        try:
            r = self.muster("ping", "--dm", "registry", "--json", "-t", "5")
        finally:
            self.remove_registrations("ghost")
        j = json.loads(r.stdout)
        self.assertEqual(j["no_response"], ["ghost"])
        self.assertEqual(j["no_response_reasons"], {"ghost": "no queue on the broker"})

    def test_json_error_object(self):
        """A failure with --json still prints an object on stdout."""
        r = self.muster("ping", "--json", "-F", "nooperator")
        self.assertEqual(r.returncode, 2)
        self.assertIn('Invalid filter "nooperator"', json.loads(r.stdout)["error"])
        conf = self.fleet.root / "dead.conf"
        write_config(conf, {"broker": {"url": "amqp://127.0.0.1:1/", "connect_timeout": "1s"},
                            "security": {"psk_file": self.fleet.psk}})
        r = subprocess.run([binary("muster"), "--config", str(conf), "--json", "rpc", "rpcutil", "inventory"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot connect to a broker", json.loads(r.stdout)["error"])
        r = self.muster("rpc", "rpcutil", "--json")
        self.assertEqual(r.returncode, 2)
        self.assertIn("Usage: muster rpc", json.loads(r.stdout)["error"])

    # 15.5
    def test_limit(self):
        r = self.muster("ping", "--dm", "registry", "--limit", "2", "--json")
        j = json.loads(r.stdout)
        # Without a seed, the first ones (the registry's sorted order).
        self.assertEqual(sorted(x["sender"] for x in j["replies"]), ["db1", "web1"])
        self.assertEqual(j["stats"]["expected"], 2)
        self.assertEqual(j["stats"]["discovered"], 3)
        r = self.muster("rpc", "rpcutil", "daemon_stats", "--limit", "50%", "--dt", "1")
        self.assertIn("Finished processing 1 / 1 hosts", r.stdout)
        self.assertEqual(r.returncode, 0)
        picks = set()
        for _ in range(2):
            r = self.muster("ping", "--dm", "registry", "--limit", "2", "--limit-seed", "42", "--json")
            picks.add(tuple(sorted(x["sender"] for x in json.loads(r.stdout)["replies"])))
        self.assertEqual(len(picks), 1, "the same seed picks the same nodes")
        self.assertEqual(len(next(iter(picks))), 2)
        seen = set()
        for seed in range(12):
            r = self.muster("ping", "--dm", "registry", "--limit", "1", "--limit-seed", str(seed), "--json")
            seen.update(x["sender"] for x in json.loads(r.stdout)["replies"])
        self.assertGreater(len(seen), 1, "different seeds pick different nodes")
        for bad in ("0", "x", "101%", "-1"):
            r = self.muster("ping", "--limit", bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("Invalid --limit", r.stderr)

    def test_batch(self):
        t0 = time.monotonic()
        r = self.muster("ping", "--dm", "registry", "--batch", "1", "--batch-sleep", "700ms", "--json")
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual(j["stats"]["batches"], 3)
        self.assertEqual(len(j["replies"]), 3)
        # Two pauses between three batches: the last node was asked >= 1.4 s after the first.
        rtts = sorted(x["rtt_ms"] for x in j["replies"])
        self.assertGreaterEqual(rtts[-1], 1300)  # (timers may end a little early)
        self.assertLess(rtts[0], 700)
        self.assertGreaterEqual(took, 1.3)
        # Percent batches with broadcast discovery: 2 of 2 nrpe nodes at 50 % = 2 batches.
        r = self.muster("nrpe", "check_ok", "--dt", "1", "--batch", "50%", "--batch-sleep", "0", "--json")
        j = json.loads(r.stdout)
        self.assertEqual(j["stats"]["batches"], 2)
        self.assertEqual(sorted(x["sender"] for x in j["replies"]), ["web1", "web2"])
        r = self.muster("ping", "--batch", "0")
        self.assertEqual(r.returncode, 2)
        r = self.muster("ping", "--batch-sleep", "soon")
        self.assertEqual(r.returncode, 2)

    def test_nodes_file(self):
        f = self.fleet.root / "nodes.txt"
        f.write_text("# the web tier\nweb1\n\nweb2\nghost\n")
        t0 = time.monotonic()
        r = self.muster("rpc", "rpcutil", "get_fact", "fact=role", "--nodes", str(f), "--dt", "5", "-t", "8")
        self.assertLess(time.monotonic() - t0, 3.0, "a node list needs no discovery")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.count("value: web"), 2)
        self.assertIn("Finished processing 2 / 3 hosts", r.stdout)
        self.assertIn("No response from:\n\n   ghost (no queue on the broker)\n", r.stdout)
        # From standard input, narrowed by -I.
        r = subprocess.run(self.muster_argv("ping", "--nodes", "-", "-I", "/^web/"), input="web1\nweb2\ndb1\n",
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(l.split()[0] for l in r.stdout.splitlines() if "time=" in l), ["web1", "web2"])
        # An empty list sends nothing.
        r = subprocess.run(self.muster_argv("ping", "--nodes", "-"), input="\n# nobody\n",
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(NO_NODES, r.stdout)
        # Errors: a bad name, a missing file, facts the file cannot have.
        f.write_text("web1\nno/slash\n")
        r = self.muster("ping", "--nodes", str(f))
        self.assertEqual(r.returncode, 2)
        self.assertIn(':2: "no/slash" is not a valid identity', r.stderr)
        r = self.muster("ping", "--nodes", str(self.fleet.root / "missing"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("No such file or directory", r.stderr)
        r = self.muster("ping", "--nodes", str(f), "-F", "role=web")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--nodes takes identity filters", r.stderr)

    def test_display(self):
        args = ("nrpe", "check_web", "--dm", "registry")
        shown = {}
        for mode in ("all", "ok", "failed", "none"):
            r = self.muster(*args, "--display", mode)
            self.assertEqual(r.returncode, 1, mode)  # web2 is CRITICAL
            shown[mode] = sorted(l.split(":")[0].strip() for l in r.stdout.splitlines()
                                 if l.strip().startswith("web") and ": " in l)
            # The summary is there whatever is displayed.
            self.assertIn("CRITICAL : 1", r.stdout)
            self.assertIn("Finished processing 2 / 2 hosts", r.stdout)
        self.assertEqual(shown, {"all": ["web1", "web2"], "ok": ["web1"], "failed": ["web2"], "none": []})
        r = self.muster("rpc", "rpcutil", "nonsense", "--dm", "registry", "--display", "ok")
        self.assertNotIn("Unknown action", r.stdout)
        r = self.muster("rpc", "rpcutil", "nonsense", "--dm", "registry", "--display", "failed")
        self.assertEqual(r.stdout.count("Unknown action"), 3)
        r = self.muster("ping", "--display", "sometimes")
        self.assertEqual(r.returncode, 2)
        self.assertIn("expected ok, failed, all or none", r.stderr)

    def test_jsonl(self):
        self.fleet.register("ghost")
        try:
            r = self.muster("nrpe", "check_web", "--dm", "registry", "--jsonl", "-t", "5")
        finally:
            self.remove_registrations("ghost")
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([l["type"] for l in lines], ["reply", "reply", "no_response", "stats"])
        self.assertEqual(sorted(l["sender"] for l in lines[:2]), ["web1", "web2"])
        self.assertEqual(lines[2], {"type": "no_response", "sender": "ghost", "reason": "no queue on the broker"})
        self.assertEqual(lines[3]["stats"]["responses"], 2)
        self.assertEqual(lines[3]["stats"]["expected"], 3)
        r = self.muster("ping", "--jsonl", "--json")
        self.assertEqual(r.returncode, 2)
        r = self.muster("ping", "--jsonl", "-F", "bad")
        self.assertIn("error", json.loads(r.stdout.splitlines()[-1]))

    def test_no_response_list_is_bounded(self):
        ghosts = [f"ghost{i:03d}" for i in range(205)]
        for g in ghosts:
            self.fleet.register(g)
        try:
            r = self.muster("ping", "--dm", "registry", "-t", "10")
            rv = self.muster("ping", "--dm", "registry", "-t", "10", "-v")
        finally:
            self.remove_registrations(*ghosts)
        self.assertIn("Finished processing 3 / 208 hosts", r.stdout)
        listed = [l for l in r.stdout.splitlines() if l.startswith("   ghost")]
        self.assertEqual(len(listed), 200)
        self.assertIn("   ... and 5 more (all of them with -v)", r.stdout)
        listed = [l for l in rv.stdout.splitlines() if l.startswith("   ghost")]
        self.assertEqual(len(listed), 205)
        self.assertNotIn("more (all of them", rv.stdout)

    def test_help_options_are_in_the_man_page(self):
        """Every long option muster --help shows is in muster(1), and every
        option muster(1) lists is in --help."""
        helptext = subprocess.run([binary("muster"), "--help"], capture_output=True, text=True).stdout
        man = (SOURCE / "man" / "muster.1.scd").read_text()
        in_help = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", helptext))
        options = man.split("# OPTIONS", 1)[1].split("# OUTPUT", 1)[0]
        # muster's own options (the filters, shared with check-mc-nrpe, follow "## Filters")
        options = options.split("## Filters", 1)[0]
        in_man = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", options.replace("\\_", "_")))
        self.assertEqual(sorted(in_help - set(re.findall(r"--[a-z][a-z-]*", man))), [])
        self.assertEqual(sorted(in_man - in_help), [])


if __name__ == "__main__":
    from harness import main
    main()
