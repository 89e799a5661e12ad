#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The muster CLI against three real responders: ping counts, filters,
JSON, rpc, nrpe, --local, errors; broker failover and credentials from a
secret file."""

import json
import os
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Fleet, PLUGINS, binary, write_config  # noqa: E402


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.broker.start()
        cls.fleet = Fleet(cls.broker.url)
        common = {"check_ok": f"{PLUGINS}/check_dummy 0 'all fine'"}
        cls.fleet.add("web1", facts={"role": "web", "mem": "2048"}, classes=["webserver"], commands=common)
        cls.fleet.add("web2", facts={"role": "web", "mem": "512"}, classes=["webserver"], commands=common)
        cls.fleet.add("db1", facts={"role": "db", "mem": "8192"}, classes=["database"], agents=["discovery", "rpcutil"])
        for n in cls.fleet.nodes.values():
            n.start(wait=False)
        for n in cls.fleet.nodes.values():
            n.wait_ready()
        for name in cls.fleet.nodes:
            cls.fleet.register(name, facts={"role": "web" if name.startswith("web") else "db"})

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()
        cls.broker.stop()

    def muster(self, *args, **kw):
        return self.fleet.run("muster", *args, **kw)

    def pinged(self, *args):
        r = self.muster("ping", "--dt", "1", *args)
        return sorted(line.split()[0] for line in r.stdout.splitlines() if "time=" in line), r

    def test_ping(self):
        nodes, r = self.pinged()
        self.assertEqual(nodes, ["db1", "web1", "web2"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("3 replies max:", r.stdout)
        self.assertRegex(r.stdout, r"\nFinished processing 3 / 3 hosts in \d+\.\d\d ms\n")

    def test_filters(self):
        self.assertEqual(self.pinged("-F", "role=web")[0], ["web1", "web2"])
        self.assertEqual(self.pinged("-I", "db1")[0], ["db1"])
        self.assertEqual(self.pinged("-I", "/^web/")[0], ["web1", "web2"])
        self.assertEqual(self.pinged("-C", "database")[0], ["db1"])
        self.assertEqual(self.pinged("-A", "nrpe")[0], ["web1", "web2"])
        self.assertEqual(self.pinged("-F", "mem>1000")[0], ["db1", "web1"])
        self.assertEqual(self.pinged("-F", "mem<=512", "-F", "role=web")[0], ["web2"])
        nodes, r = self.pinged("-F", "role=none")
        self.assertEqual(nodes, [])
        self.assertEqual(r.returncode, 1)
        self.assertIn("No responses received", r.stdout)

    def test_registry_ping_reports_missing(self):
        t0 = time.monotonic()
        r = self.muster("ping", "--dm", "registry", "-t", "5")
        self.assertLess(time.monotonic() - t0, 2.5)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.fleet.register("ghost")
        try:
            r = self.muster("ping", "--dm", "registry", "-t", "5")
        finally:
            (self.fleet.registry / "ghost").unlink()
        self.assertEqual(r.returncode, 1)
        self.assertIn("Finished processing 3 / 4 hosts", r.stdout)
        self.assertIn("No response from:\n\n   ghost", r.stdout)

    def test_progress(self):
        """A bar on stderr while replies arrive: forced with --progress, on by
        default only when stderr is a terminal, never on stdout."""
        r = self.muster("ping", "--dm", "registry", "--progress")
        self.assertEqual(r.returncode, 0, r.stderr)
        # (text mode reads the bar's \r as a newline)
        self.assertRegex(r.stderr, r"\n \* \[ =+> +\] 1 / 3\n")
        self.assertRegex(r.stderr, r"\n \* \[ =+ \] 3 / 3\n")
        self.assertNotIn(" * [", r.stdout)
        self.assertIn("Finished processing 3 / 3 hosts", r.stdout)
        # Not a terminal, not asked: no bar.
        r = self.muster("ping", "--dm", "registry")
        self.assertNotIn(" / 3", r.stderr)
        # stderr a terminal (stdout a pipe): the bar by default, but not with --no-progress.
        import pty
        for extra, want in (((), True), (("--no-progress",), False)):
            master, slave = pty.openpty()
            try:
                p = subprocess.run([binary("muster"), "--config", str(self.fleet.client_config), "ping", "--dm",
                                    "registry", *extra], stdout=subprocess.PIPE, stderr=slave, timeout=30)
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
            self.assertEqual(p.returncode, 0)
            self.assertEqual(b"] 3 / 3" in seen, want, (extra, seen))

    def test_json(self):
        r = self.muster("ping", "--dt", "1", "--json")
        j = json.loads(r.stdout)
        self.assertEqual(sorted(x["sender"] for x in j["replies"]), ["db1", "web1", "web2"])
        self.assertEqual(j["stats"]["responses"], 3)
        r = self.muster("rpc", "rpcutil", "get_fact", "fact=mem", "-I", "web1", "--json")
        j = json.loads(r.stdout)
        self.assertEqual(j["replies"][0]["data"], {"fact": "mem", "value": "2048"})

    def test_rpc(self):
        r = self.muster("rpc", "rpcutil", "get_fact", "fact=role", "--dt", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("value: web"), 2)
        self.assertEqual(r.stdout.count("value: db"), 1)
        r = self.muster("rpc", "rpcutil", "nonsense", "-I", "web1", "--dt", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("Unknown action", r.stdout)

    def test_nrpe(self):
        r = self.muster("nrpe", "check_ok", "--dt", "1")
        self.assertIn("web1: OK: all fine", r.stdout)
        self.assertIn("web2: OK: all fine", r.stdout)
        # db1 does not serve nrpe: like mco, calling an agent discovers only
        # the nodes that serve it, so db1 is neither asked nor missed.
        self.assertRegex(r.stdout, r"OK : 2\n")
        self.assertIn("Finished processing 2 / 2 hosts", r.stdout)
        self.assertNotIn("db1", r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout)
        # The same from the registry, whose files list each node's agents.
        self.fleet.register("db1", facts={"role": "db"}, agents=("discovery", "rpcutil"))
        try:
            r = self.muster("nrpe", "check_ok", "--dm", "registry")
        finally:
            self.fleet.register("db1", facts={"role": "db"})
        self.assertIn("Finished processing 2 / 2 hosts", r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_local(self):
        node = self.fleet.nodes["web1"]
        r = subprocess.run([binary("muster"), "--config", str(node.config), "--local", "nrpe", "check_ok"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("web1", r.stdout)
        self.assertIn("output: OK: all fine", r.stdout)
        r = subprocess.run([binary("muster"), "--config", str(node.config), "--local", "--json", "ping"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(json.loads(r.stdout)["statuscode"], 0)
        # Not root, not in group muster: refused.
        r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", binary("muster"),
                            "--config", str(node.config), "--local", "ping"], capture_output=True, text=True,
                           timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"(Permission denied|permission denied|Failed to read key file|refused)")

    def test_usage_errors(self):
        r = self.muster("rpc", "rpcutil")
        self.assertEqual(r.returncode, 2)
        self.assertIn("Usage: muster rpc AGENT ACTION", r.stderr)
        r = self.muster("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn('Unknown command "frobnicate"', r.stderr)
        r = self.muster("ping", "-F", "nooperator")
        self.assertEqual(r.returncode, 2)
        self.assertIn('Invalid filter "nooperator"', r.stderr)
        r = self.muster("ping", "--dm", "telepathy")
        self.assertEqual(r.returncode, 2)
        self.assertIn("expected broadcast or registry", r.stderr)

    def config_with(self, name, broker):
        p = self.fleet.root / name
        write_config(p, {
            "broker": broker,
            "security": {"psk_file": self.fleet.psk},
            "client": {"discovery_timeout": "1s", "timeout": "5s"},
        })
        return p

    def test_broker_unreachable(self):
        conf = self.config_with("dead.conf", {"url": "amqp://127.0.0.1:1/", "connect_timeout": "1s"})
        r = subprocess.run([binary("muster"), "--config", str(conf), "ping"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot connect to a broker: amqp://127.0.0.1:1/: cannot connect", r.stderr)

    def test_failover(self):
        good = f"amqp://127.0.0.1:{self.broker.port}/"
        conf = self.config_with("failover.conf", {"url": f"amqp://127.0.0.1:1/ {good}", "connect_timeout": "1s"})
        r = subprocess.run([binary("muster"), "--config", str(conf), "ping"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("time="), 3)

    def test_password_file(self):
        self.broker.ctl("add_user", "monitor", "s3cret-pw", check=True)
        self.broker.ctl("set_permissions", "-p", "/", "monitor", ".*", ".*", ".*", check=True)
        pw = self.fleet.root / "broker-password"
        pw.write_text("s3cret-pw\n")
        good = f"amqp://127.0.0.1:{self.broker.port}/"
        conf = self.config_with("pw.conf", {"url": good, "username": "monitor", "password_file": pw})
        r = subprocess.run([binary("muster"), "--config", str(conf), "ping"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        pw.write_text("wrong\n")
        r = subprocess.run([binary("muster"), "--config", str(conf), "ping"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("ACCESS_REFUSED", r.stderr)
        conf = self.config_with("pw2.conf", {"url": good, "username": "monitor",
                                             "password_file": self.fleet.root / "missing"})
        r = subprocess.run([binary("muster"), "--config", str(conf), "ping"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("Failed to read broker password file", r.stderr)


if __name__ == "__main__":
    from harness import main
    main()
