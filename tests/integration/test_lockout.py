#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""No trusted key can lock the fleet out, through a real broker.

One key (the fleet's PSK) floods every responder with requests whose filter
selects no node, each with the largest TTL a request may ask for (7 days).
Before, each of them took a slot of the responder's replay cache (2^20
ids) for a week, and once it was full every request was dropped as
replay-cache-full. Now nothing that does not run is remembered, every TTL
is clamped to security.max_ttl, and one key holds at most its quota: after
the flood `muster ping` is answered by every node, and the responders'
memory has not grown with the flood.

Also: a request whose reply_to is not a RabbitMQ direct reply-to name runs
nowhere and answers nothing (and does not burn its request id), and the
journal names the key that signed a check, not the callerid it claims.

MUSTER_FLOOD sets the flood's size. Its default, 100,000, keeps the run
within a few minutes on a small machine (the broker delivers each message
to every responder); tests/test-replay.c sends 1,100,000, more than the old
cache held, through the responder's dispatch itself."""

import json
import os
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Fleet, RawClient, binary, build_request, sign, PLUGINS  # noqa: E402

FLOOD = int(os.environ.get("MUSTER_FLOOD", "100000"))
NODES = ("web1", "web2", "web3")


class Lockout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker().start()
        cls.fleet = Fleet(cls.broker.url)
        for n in NODES:
            cls.fleet.add(n, commands={"check_ok": f"{PLUGINS}/check_dummy 0 fine"},
                          extra={"main": {"log_level": "info"}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()
        cls.broker.stop()

    def ping_all(self):
        r = self.fleet.run("muster", "ping", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        for n in NODES:
            self.assertIn(n, r.stdout, r.stdout + r.stderr)
        return r

    def responder_queues_drained(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            depth = sum(messages for name, messages, _ in self.broker.list_queues() if name.startswith("amq.gen-"))
            if depth == 0:
                return
            time.sleep(3)   # rabbitmqctl is costly on a small machine
        self.fail(f"responder queues still hold {depth} message(s) after {timeout}s")

    def test_flood_of_filtered_requests_locks_nobody_out(self):
        self.ping_all()
        rss_before = {n: self.fleet.nodes[n].rss_kib() for n in NODES}

        # One body; its request id rewritten for each message, each signed.
        template = json.dumps(build_request("discovery", "ping", filt={"identity": ["nowhere"]},
                                            ttl=604800, requestid="0" * 32)).encode()
        at = template.index(b"0" * 32)
        raw = RawClient(self.broker.url, self.fleet.psk)
        pika = raw.pika
        t0 = time.monotonic()
        try:
            for i in range(FLOOD):
                body = template[:at] + b"%032x" % (i + 1) + template[at + 32:]
                props = pika.BasicProperties(headers={"x-muster-signature-scheme": "hmac-sha256",
                                                      "x-muster-signature": sign(self.fleet.psk, body)},
                                             reply_to=raw.reply_queue)
                raw.ch.basic_publish("muster.broadcast", "muster.agent.discovery", body, props)
                if i % 5000 == 4999:
                    raw.conn.process_data_events(0)   # let the broker's flow control breathe
        finally:
            published = time.monotonic() - t0
        self.responder_queues_drained(timeout=900)
        flooded = time.monotonic() - t0
        # No node answered any of them: they were for "nowhere".
        self.assertEqual(raw.replies(wait=0.5), [])
        raw.close()

        self.ping_all()
        rss_after = {n: self.fleet.nodes[n].rss_kib() for n in NODES}
        for n in NODES:
            log = self.fleet.nodes[n].stderr()
            self.assertNotIn("replay-cache-full", log)
            self.assertNotIn("replay-quota", log)
        print(f"\n# flood of {FLOOD} filtered-out requests (ttl 604800) to {len(NODES)} responders: "
              f"published in {published:.1f} s, all consumed after {flooded:.1f} s "
              f"({FLOOD * len(NODES) / flooded:.0f} deliveries/s); VmRSS kB before -> after: "
              + ", ".join(f"{n} {rss_before[n]} -> {rss_after[n]}" for n in NODES), file=sys.stderr)
        # AddressSanitizer's quarantine keeps freed memory: RSS says nothing
        # there; the plain build checks it. Remembering the flood's ids took
        # about 64 bytes each (6 MB for 100,000, 70 MB for 1,100,000).
        sanitized = "__asan_init" in subprocess.run(["nm", "-D", binary("muster-responder")], capture_output=True,
                                                    text=True).stdout
        if not sanitized:
            for n in NODES:
                self.assertLess(rss_after[n] - rss_before[n], 2048, f"{n}: memory must stay flat")

    def test_reply_to_not_direct_reply_to(self):
        """A captured request replayed with the attacker's reply_to: it does
        not run, nothing is sent there, and its id is not burnt."""
        raw = RawClient(self.broker.url, self.fleet.psk)
        try:
            own = raw.ch.queue_declare("", exclusive=True).method.queue
            body = json.dumps(build_request("discovery", "ping")).encode()
            props = raw.pika.BasicProperties(headers={"x-muster-signature-scheme": "hmac-sha256",
                                                      "x-muster-signature": sign(self.fleet.psk, body)},
                                             reply_to=own)
            raw.ch.basic_publish("muster.broadcast", "muster.agent.discovery", body, props)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                method, _, _ = raw.ch.basic_get(own, auto_ack=True)
                self.assertIsNone(method, "a reply went to a queue that is not a direct reply-to name")
                raw.conn.sleep(0.1)
            for n in NODES:
                self.assertIn("reply-to-refused", self.fleet.nodes[n].stderr())
            # The genuine sender's request, with its direct reply-to, still runs once.
            props.reply_to = raw.reply_queue
            raw.ch.basic_publish("muster.broadcast", "muster.agent.discovery", body, props)
            replies = raw.replies(wait=5, expect=len(NODES))
            self.assertEqual(sorted(r["senderid"] for r in replies), sorted(NODES))
            self.assertTrue(all(r["statuscode"] == 0 for r in replies), replies)
        finally:
            raw.close()

    def test_caller_is_the_verified_key(self):
        """The request claims callerid "user=test"; the check is logged for
        the key that signed it (psk), the claim kept apart."""
        raw = RawClient(self.broker.url, self.fleet.psk)
        try:
            node = self.fleet.nodes["web1"]
            before = node.stderr().count("Check check_ok finished")
            raw.publish(build_request("nrpe", "runcommand", {"command": "check_ok"}, filt={"identity": ["web1"]}),
                        routing_key="muster.agent.nrpe")
            replies = raw.replies(wait=10, expect=1)
            self.assertEqual(len(replies), 1)
            self.assertEqual(replies[0]["data"]["exitcode"], 0)
            deadline = time.monotonic() + 5
            while node.stderr().count("Check check_ok finished") == before and time.monotonic() < deadline:
                time.sleep(0.05)
            line = [l for l in node.stderr().splitlines() if "Check check_ok finished" in l][-1]
            self.assertIn(" for psk:", line)
            self.assertNotIn("user=test", line)
        finally:
            raw.close()


if __name__ == "__main__":
    from harness import main
    main()
