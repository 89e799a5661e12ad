#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-client Ed25519 signatures and the authorization policy: forged
signatures, unknown and withdrawn keys, denied callers, replays, expired
requests, pre-shared-key requests where only keys are accepted, and node
keys used to sign requests. None of them runs a check."""

import json
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import (Fleet, Collector, RawClient, binary, build_registration, build_request,  # noqa: E402
                   heartbeat, node_config, write_config, PLUGINS)


def genkey(d, name):
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(d / f"{name}.key")], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(d / f"{name}.key"), "-pubout", "-out", str(d / f"{name}.pub")],
                   check=True, capture_output=True)


def ed25519_sign(keyfile, body):
    # pkeyutl needs a file for one-shot (Ed25519) signing.
    with tempfile.NamedTemporaryFile() as f:
        f.write(body)
        f.flush()
        r = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", str(keyfile), "-in", f.name],
                           capture_output=True, check=True)
    return r.stdout.hex()


class Auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker().start()
        cls.fleet = Fleet(cls.broker.url)
        root = cls.fleet.root
        cls.keys = root / "keys"
        cls.keys.mkdir()
        for name in ("alice", "bob", "mallory", "node1", "node2"):
            genkey(cls.keys, name)
        cls.clients = root / "clients.d"
        cls.clients.mkdir()
        for name in ("alice", "bob"):
            (cls.clients / f"{name}.pem").write_bytes((cls.keys / f"{name}.pub").read_bytes())
        cls.nodes_d = root / "nodes.d"
        cls.nodes_d.mkdir()
        for name in ("node1", "node2"):
            (cls.nodes_d / f"{name}.pem").write_bytes((cls.keys / f"{name}.pub").read_bytes())
        cls.policy = root / "policy.conf"
        cls.policy.write_text("# who may call what\npolicy default deny\nallow alice * *\n"
                              "allow bob discovery ping\n")
        security = {"accept_psk": "no", "client_keys_dir": cls.clients, "private_key": cls.keys / "node1.key",
                    "policy_file": cls.policy}
        cls.node = cls.fleet.add("node1", commands={"check_ok": f"{PLUGINS}/check_dummy 0 fine"},
                                 extra={"security": security})
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()
        cls.broker.stop()

    def client_config(self, who):
        p = self.fleet.root / f"{who}.conf"
        write_config(p, {
            "main": {"identity": "monitor"},
            "broker": {"url": self.fleet.broker_url},
            "security": {"psk_file": self.fleet.psk, "accept_psk": "no", "private_key": self.keys / f"{who}.key",
                         "key_id": who, "node_keys_dir": self.nodes_d},
            "client": {"discovery_timeout": "1s", "timeout": "5s"},
        })
        return p

    def run_as(self, who, *args):
        return subprocess.run([binary(args[0]), "--config", str(self.client_config(who)), *args[1:]],
                              capture_output=True, text=True, timeout=60)

    def checks_run(self):
        return self.node.stderr().count("Check check_ok finished")

    def wait_log(self, needle, before):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.node.stderr().count(needle) > before:
                return
            time.sleep(0.05)
        self.fail(f"no {needle!r} in the responder's log:\n{self.node.stderr()[-2000:]}")

    def raw_publish(self, body, scheme="ed25519", key_id=None, signature=None):
        raw = RawClient(self.broker.url, self.fleet.psk)
        try:
            headers = {"x-muster-signature-scheme": scheme, "x-muster-signature": signature}
            if key_id:
                headers["x-muster-key-id"] = key_id
            props = raw.pika.BasicProperties(headers=headers, reply_to=raw.reply_queue)
            raw.ch.basic_publish("muster.broadcast", "muster.agent.nrpe", body, props)
            return raw.replies(wait=1.5)
        finally:
            raw.close()

    def nrpe_body(self, **kw):
        return json.dumps(build_request("nrpe", "runcommand", {"command": "check_ok"}, **kw)).encode()

    def test_allowed_client(self):
        before = self.checks_run()
        r = self.run_as("alice", "check-mc-nrpe", "check_ok")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.startswith("check_ok: OK: 1 WARNING: 0"), r.stdout)
        self.assertEqual(self.checks_run(), before + 1)

    def test_denied_caller(self):
        before = self.checks_run()
        r = self.run_as("bob", "muster", "ping")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("node1", r.stdout)
        denied = self.node.stderr().count("Denied nrpe runcommand to caller bob")
        r = self.run_as("bob", "muster", "rpc", "nrpe", "runcommand", "command=check_ok", "--json")
        j = json.loads(r.stdout)
        self.assertEqual(j["replies"][0]["statuscode"], 1)
        self.assertEqual(j["replies"][0]["statusmsg"], "Not authorized: bob may not call nrpe runcommand")
        self.wait_log("Denied nrpe runcommand to caller bob", denied)
        self.assertEqual(self.checks_run(), before)

    def test_unknown_key(self):
        before = self.node.stderr().count("Dropped request (unknown-key)")
        r = self.run_as("mallory", "muster", "ping")
        self.assertEqual(r.returncode, 1)
        self.wait_log("Dropped request (unknown-key)", before)

    def test_forged_signature(self):
        before, checks = self.node.stderr().count("Dropped request (bad-signature)"), self.checks_run()
        body = self.nrpe_body()
        replies = self.raw_publish(body, key_id="alice", signature=ed25519_sign(self.keys / "mallory.key", body))
        self.assertEqual(replies, [])
        self.wait_log("Dropped request (bad-signature)", before)
        # A body changed after signing fails too.
        good = ed25519_sign(self.keys / "alice.key", body)
        self.assertEqual(self.raw_publish(body.replace(b"check_ok", b"check_ko"), key_id="alice", signature=good), [])
        self.assertEqual(self.checks_run(), checks)

    def test_replay_and_expired(self):
        body = self.nrpe_body()
        sig = ed25519_sign(self.keys / "alice.key", body)
        self.assertEqual(len(self.raw_publish(body, key_id="alice", signature=sig)), 1)
        checks = self.checks_run()
        before = self.node.stderr().count("Dropped request (replayed)")
        self.assertEqual(self.raw_publish(body, key_id="alice", signature=sig), [])
        self.wait_log("Dropped request (replayed)", before)
        old = self.nrpe_body(msgtime=int(time.time()) - 3600, ttl=60)
        before = self.node.stderr().count("Dropped request (expired)")
        self.assertEqual(self.raw_publish(old, key_id="alice", signature=ed25519_sign(self.keys / "alice.key", old)),
                         [])
        self.wait_log("Dropped request (expired)", before)
        self.assertEqual(self.checks_run(), checks)

    def test_psk_refused(self):
        from fleet import sign
        before, checks = self.node.stderr().count("Dropped request (psk-refused)"), self.checks_run()
        body = self.nrpe_body()
        self.assertEqual(self.raw_publish(body, scheme="hmac-sha256", signature=sign(self.fleet.psk, body)), [])
        self.wait_log("Dropped request (psk-refused)", before)
        self.assertEqual(self.checks_run(), checks)

    def test_node_key_cannot_command(self):
        """A stolen node key is not a client key."""
        before, checks = self.node.stderr().count("Dropped request (unknown-key)"), self.checks_run()
        body = self.nrpe_body()
        self.assertEqual(self.raw_publish(body, key_id="node1", signature=ed25519_sign(self.keys / "node1.key", body)),
                         [])
        self.wait_log("Dropped request (unknown-key)", before)
        self.assertEqual(self.checks_run(), checks)

    def test_withdrawn_key(self):
        extra = self.clients / "carol.pem"
        genkey(self.keys, "carol")
        extra.write_bytes((self.keys / "carol.pub").read_bytes())
        self.policy.write_text(self.policy.read_text() + "allow carol discovery ping\n")
        self.node.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        self.assertIn("node1", self.run_as("carol", "muster", "ping").stdout)
        extra.unlink()
        self.node.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        before = self.node.stderr().count("Dropped request (unknown-key)")
        r = self.run_as("carol", "muster", "ping")
        self.assertEqual(r.returncode, 1)
        self.wait_log("Dropped request (unknown-key)", before)

    def test_reply_signed_by_node_key(self):
        """The client checks replies against the node keys: a client that
        does not know node1's key ignores its answers."""
        conf = self.client_config("alice")
        empty = self.fleet.root / "no-nodes.d"
        empty.mkdir(exist_ok=True)
        conf.write_text(conf.read_text().replace(str(self.nodes_d), str(empty)))
        r = subprocess.run([binary("muster"), "--config", str(conf), "ping"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("No responses received", r.stdout)

    def test_registration_keys(self):
        col = Collector(self.fleet, name="keyed", extra={"security": {"accept_psk": "no",
                                                                      "node_keys_dir": self.nodes_d}}).start()
        conf = node_config(self.fleet, "node1")
        text = conf.read_text().replace("[security]", f"[security]\nprivate_key={self.keys / 'node1.key'}\n"
                                                       "accept_psk=no")
        conf.write_text(text)
        r = heartbeat(conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        col.wait_log("Node node1 registered for the first time")
        # node1's key cannot register node2.
        body = json.dumps(build_registration("node2")).encode()
        raw = RawClient(self.broker.url, self.fleet.psk)
        headers = {"x-muster-signature-scheme": "ed25519", "x-muster-key-id": "node1",
                   "x-muster-signature": ed25519_sign(self.keys / "node1.key", body)}
        raw.ch.basic_publish("muster.registration", "muster.registration.node2", body,
                             raw.pika.BasicProperties(headers=headers, delivery_mode=2))
        raw.close()
        col.wait_log("a node may only register itself")
        self.assertFalse((self.fleet.registry / "node2").exists())
        col.stop()


if __name__ == "__main__":
    from harness import main
    main()
