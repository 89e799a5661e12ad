#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""muster-responder against a private RabbitMQ: notify protocol, signature
and freshness checks, filters, agents, timeouts, reconnects, reload and
shutdown."""

import json
import os
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Fleet, RawClient, binary, build_request, process_group_alive, sign, PLUGINS  # noqa: E402


class Responder(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.broker.start()
        cls.fleet = Fleet(cls.broker.url)
        cls.node = cls.fleet.add("node1", facts={"role": "web", "cores": "8", "os": "debian"},
                                 classes=["webserver", "base"], commands={
                                     "check_ok": f"{PLUGINS}/check_dummy 0 fine",
                                     "check_multi": "printf 'DISK OK - free space|/=1MB;;;\\nline two\\nline three|/boot=2MB\\n'",
                                     "check_tree": "sleep 3001 & sleep 3002; echo never",
                                     "check_one_second": "sleep 1; echo done",
                                     "check_args": "echo got $ARG1$ and $ARG2$",
                                     "check_big": "yes x | head -c 1000000",
                                     "check_binary": "printf 'OK \\377\\000 bytes|a=1\\n'",
                                 }, extra={"nrpe": {"command_timeout": "2s", "output_max": "4K"}})
        cls.node.start(watchdog_usec=1_000_000)
        cls.raw = RawClient(cls.broker.url, cls.fleet.psk)

    @classmethod
    def tearDownClass(cls):
        cls.raw.close()
        cls.fleet.close()
        cls.broker.stop()

    def ask(self, agent, action, data=None, filt=None, directed=False, expect=1, wait=5.0, **kw):
        req = build_request(agent, action, data, filt, **kw)
        key = "muster.node.node1" if directed else f"muster.agent.{agent}"
        self.raw.publish(req, "directed" if directed else "broadcast", key)
        return req, self.raw.replies(wait=wait, expect=expect)

    # -- notify protocol ----------------------------------------------------

    def test_notify(self):
        self.assertTrue(self.node.notify.has("READY=1"))
        self.assertTrue(self.node.notify.has("STATUS=Connected to amqp://127.0.0.1"), self.node.notify.messages)
        self.node.notify.wait_for("WATCHDOG=1", timeout=3)

    # -- agents ------------------------------------------------------------

    def test_ping_and_reply_signed(self):
        req, replies = self.ask("discovery", "ping")
        self.assertEqual(len(replies), 1)
        r = replies[0]
        self.assertEqual((r["protocol"], r["requestid"], r["senderid"], r["statuscode"]),
                         ("muster:reply:1", req["requestid"], "node1", 0))

    def test_inventory(self):
        _, replies = self.ask("rpcutil", "inventory")
        d = replies[0]["data"]
        self.assertEqual(d["facts"]["role"], "web")
        self.assertEqual(d["classes"], ["webserver", "base"])
        self.assertEqual(d["agents"], ["discovery", "rpcutil", "nrpe"])
        self.assertIn("served", d["stats"])

    def test_unknown_action_and_agent(self):
        _, replies = self.ask("rpcutil", "frobnicate")
        self.assertEqual(replies[0]["statuscode"], 2)
        # Nobody serves "puppet": a broadcast is not even delivered ...
        _, replies = self.ask("puppet", "run", wait=1.0)
        self.assertEqual(replies, [])
        # ... a directed one is answered with statuscode 2.
        _, replies = self.ask("puppet", "run", directed=True)
        self.assertEqual(replies[0]["statuscode"], 2)
        self.assertEqual(replies[0]["statusmsg"], "Unknown agent")

    def test_nrpe_output_split(self):
        _, replies = self.ask("nrpe", "runcommand", {"command": "check_multi"})
        d = replies[0]["data"]
        self.assertEqual(d["exitcode"], 0)
        self.assertEqual(d["output"], "DISK OK - free space")
        self.assertEqual(d["perfdata"], "/=1MB;;; /boot=2MB")
        self.assertEqual(d["long_output"], "line two\nline three")

    def test_nrpe_missing_data(self):
        _, replies = self.ask("nrpe", "runcommand", {})
        self.assertEqual(replies[0]["statuscode"], 3)

    def test_nrpe_arguments_refused(self):
        _, replies = self.ask("nrpe", "runcommand", {"command": "check_args", "args": ["a", "b"]})
        d = replies[0]["data"]
        self.assertEqual(d["exitcode"], 3)
        self.assertIn("arguments are disabled", d["output"])

    def test_nrpe_timeout_kills_group(self):
        t0 = time.monotonic()
        _, replies = self.ask("nrpe", "runcommand", {"command": "check_tree"}, wait=10)
        self.assertLess(time.monotonic() - t0, 5)
        d = replies[0]["data"]
        self.assertEqual(d["exitcode"], 3)
        self.assertEqual(d["output"], "UNKNOWN: command timed out after 2 s")
        time.sleep(0.2)
        self.assertEqual(process_group_alive("sleep 3001") + process_group_alive("sleep 3002"), [])

    def test_nrpe_output_capped(self):
        _, replies = self.ask("nrpe", "runcommand", {"command": "check_big"}, wait=10)
        d = replies[0]["data"]
        self.assertLessEqual(len(d["output"]), 4096 + 64)
        self.assertIn("truncated", d["output"] + d["long_output"])

    def test_nrpe_binary_output(self):
        _, replies = self.ask("nrpe", "runcommand", {"command": "check_binary"})
        d = replies[0]["data"]
        self.assertEqual(d["exitcode"], 0)
        self.assertEqual(d["output"], "OK ?? bytes")
        self.assertEqual(d["perfdata"], "a=1")

    def test_checks_run_concurrently(self):
        reqs = [build_request("nrpe", "runcommand", {"command": "check_one_second"}) for _ in range(4)]
        t0 = time.monotonic()
        for r in reqs:
            self.raw.publish(r, "broadcast", "muster.agent.nrpe")
        replies = self.raw.replies(wait=6, expect=4)
        elapsed = time.monotonic() - t0
        self.assertEqual(len(replies), 4)
        self.assertLess(elapsed, 2.5, "four one-second checks must run at once")

    # -- filters -------------------------------------------------------------

    def test_filters(self):
        cases = [
            ({"fact": [{"fact": "role", "operator": "==", "value": "web"}]}, True),
            ({"fact": [{"fact": "role", "operator": "==", "value": "db"}]}, False),
            ({"fact": [{"fact": "cores", "operator": ">=", "value": "4"}]}, True),
            ({"fact": [{"fact": "cores", "operator": "<", "value": "4"}]}, False),
            ({"fact": [{"fact": "os", "operator": "=~", "value": "^deb"}]}, True),
            ({"class": ["webserver"]}, True),
            ({"class": ["database"]}, False),
            ({"identity": ["/^node[0-9]$/"]}, True),
            ({"identity": ["node2"]}, False),
            ({"agent": ["nrpe"]}, True),
        ]
        for filt, match in cases:
            _, replies = self.ask("discovery", "ping", filt=filt, wait=1.5 if not match else 5)
            self.assertEqual(len(replies), 1 if match else 0, filt)

    # -- hostile input -------------------------------------------------------

    def assertDropped(self, reason, publish):
        before = self.node.stderr().count(f"Dropped request ({reason})")
        publish()
        self.assertEqual(self.raw.replies(wait=1.0), [])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if self.node.stderr().count(f"Dropped request ({reason})") > before:
                return
            time.sleep(0.05)
        self.fail(f"no 'Dropped request ({reason})' log line")

    def test_unsigned(self):
        self.assertDropped("unsigned", lambda: self.raw.publish(build_request("discovery", "ping"), signed=False))

    def test_bad_signature(self):
        self.assertDropped("bad-signature", lambda: self.raw.publish(build_request("discovery", "ping"),
                                                                     signature="0" * 64))

    def test_malformed(self):
        body = b'{"protocol": "muster:request:1", "requestid": 5}'
        self.assertDropped("malformed", lambda: self.raw.publish(body))
        self.assertDropped("malformed", lambda: self.raw.publish(b"\xff\xfe not utf-8"))

    def test_expired_future_replayed(self):
        old = build_request("discovery", "ping", msgtime=int(time.time()) - 120, ttl=60)
        self.assertDropped("expired", lambda: self.raw.publish(old))
        future = build_request("discovery", "ping", msgtime=int(time.time()) + 3600)
        self.assertDropped("future", lambda: self.raw.publish(future))
        req = build_request("discovery", "ping")
        body = json.dumps(req).encode()
        self.raw.publish(body)
        self.assertEqual(len(self.raw.replies(wait=5, expect=1)), 1)
        self.assertDropped("replayed", lambda: self.raw.publish(body))

    def test_oversize(self):
        req = build_request("discovery", "ping", data={"pad": "x" * (2 << 20)})
        self.assertDropped("oversize", lambda: self.raw.publish(req))
        _, replies = self.ask("discovery", "ping")
        self.assertEqual(len(replies), 1, "the responder must go on answering")

    def test_wrong_collective(self):
        req = build_request("discovery", "ping", collective="other")
        self.assertDropped("wrong-collective", lambda: self.raw.publish(req))


class Lifecycle(unittest.TestCase):
    """Each test gets its own broker and node: they kill things."""

    def setUp(self):
        self.broker = Broker()
        self.broker.start()
        self.fleet = Fleet(self.broker.url)
        self.node = self.fleet.add("node1", commands={"check_two_seconds": "sleep 2; echo slow but fine"})
        self.node.start()

    def tearDown(self):
        self.fleet.close()
        self.broker.stop()

    def ping_count(self):
        r = self.fleet.run("muster", "ping", "--dt", "1")
        return r.stdout.count("time=")

    def test_sigterm_sends_inflight_reply(self):
        raw = RawClient(self.broker.url, self.fleet.psk)
        try:
            raw.publish(build_request("nrpe", "runcommand", {"command": "check_two_seconds"}),
                        "broadcast", "muster.agent.nrpe")
            time.sleep(0.5)
            self.node.proc.send_signal(signal.SIGTERM)
            self.node.notify.wait_for("STOPPING=1", timeout=3)
            replies = raw.replies(wait=5, expect=1)
            self.assertEqual(len(replies), 1, self.node.stderr())
            self.assertEqual(replies[0]["data"]["output"], "slow but fine")
            self.assertEqual(self.node.proc.wait(10), 0)
        finally:
            raw.close()

    def test_reconnect_after_broker_restart(self):
        self.assertEqual(self.ping_count(), 1)
        self.broker.restart()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.ping_count() != 1:
            time.sleep(0.5)
        self.assertEqual(self.ping_count(), 1, self.node.stderr()[-3000:])
        self.assertIn("Lost connection to broker", self.node.stderr())
        self.assertTrue(self.node.notify.has("STATUS=Reconnecting"), self.node.notify.messages)

    def test_reload(self):
        # A good reload: new facts are served, the connection stays.
        (self.node.dir / "facts.d" / "facts.json").write_text('{"role": "changed"}')
        self.node.proc.send_signal(signal.SIGHUP)
        self.node.notify.wait_for("RELOADING=1", timeout=5)
        time.sleep(0.5)
        r = self.fleet.run("muster", "ping", "--dt", "1", "-F", "role=changed")
        self.assertIn("node1", r.stdout)
        self.assertEqual(self.node.stderr().count("Connected to broker"), 1)
        # A broken config: error logged, old config stays, still answering.
        conf = self.node.config.read_text()
        self.node.config.write_text(conf + "\n[broker]\nheartbeat=soon\n")
        self.node.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "previous configuration stays in force" not in self.node.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn("invalid value for broker.heartbeat", self.node.stderr())
        self.assertIn("previous configuration stays in force", self.node.stderr())
        self.assertEqual(self.ping_count(), 1)

    def test_heartbeats_keep_idle_connection(self):
        """An idle responder sends AMQP heartbeats from its loop, so the
        broker does not drop it."""
        n = self.fleet.add("node2", extra={"broker": {"heartbeat": "1s"}})
        n.start()
        time.sleep(6)
        self.assertNotIn("Lost connection", n.stderr())
        r = self.fleet.run("muster", "ping", "--dt", "1", "-I", "node2")
        self.assertIn("node2", r.stdout)

    def test_idle_rss(self):
        time.sleep(1)
        rss = self.node.rss_kib()
        print(f"\nidle responder RSS: {rss} KiB", file=sys.stderr)
        # AddressSanitizer's shadow memory and quarantine roughly double it.
        sanitized = "__asan_init" in subprocess.run(["nm", "-D", binary("muster-responder")], capture_output=True,
                                                    text=True).stdout
        self.assertLess(rss, (32 if sanitized else 16) * 1024)

    def test_missing_psk_is_fatal(self):
        os.rename(self.fleet.psk, str(self.fleet.psk) + ".gone")
        try:
            n = self.fleet.add("node2")
            n.start(wait=False)
            self.assertEqual(n.proc.wait(10), 1)
            self.assertIn("Failed to read key file", n.stderr())
        finally:
            os.rename(str(self.fleet.psk) + ".gone", self.fleet.psk)


if __name__ == "__main__":
    from harness import main
    main()
