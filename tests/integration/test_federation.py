#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two sites joined by RabbitMQ federation, as muster(7) "TWO SITES" sets
them up (sites.py): site A, with the collector and the checks, and site B,
whose nodes answer with responder.federated_replies=yes, each on its own
private RabbitMQ node, the WAN between them a TCP forwarder that the test
cuts.

What the user sees: at A, one muster ping and one check-mc-nrpe result name
the nodes of both sites; B's registrations land in A's state directory.
With the link cut, each site still works on its own, a check at A names
B's nodes as UNKNOWN (never OK), and B's heartbeats still succeed: their
registrations wait at B and all of them reach A's collector once the link
is back. A node of B that stops is named UNKNOWN at once, not after the
check's timeout."""

import json
import os
import re
import secrets
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402
from fleet import (Fleet, Collector, RawClient, build_registration, heartbeat, node_config,  # noqa: E402
                   PLUGINS)
from sites import TwoSites  # noqa: E402

CHECK_OK = f"{PLUGINS}/check_dummy 0 fine"
A_NODES = ["a1", "a2"]
B_NODES = ["b1", "b2"]
BURST = 300


def registry_names(d):
    return {f for f in os.listdir(d) if not f.startswith(".")}


def ping_names(stdout):
    """Identities on muster ping's per-node lines ("NAME   time=1.23 ms")."""
    return {m.group(1) for m in re.finditer(r"^(\S+)\s+time=[0-9.]+ ms$", stdout, re.M)}


class TwoSiteTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.sites = TwoSites()
        try:
            cls._set_up(t0)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _set_up(cls, t0):
        s = cls.sites
        cls.collective = f"c{secrets.token_hex(3)}"
        cls.fa = Fleet(s.a_url, collective=cls.collective)
        cls.fb = Fleet(s.b_url, collective=cls.collective)
        cls.fb.psk.write_text(cls.fa.psk.read_text())      # one collective, one key
        for n in A_NODES:
            cls.fa.add(n, facts={"site": "a"}, commands={"check_ok": CHECK_OK}).start(wait=False)
        for n in B_NODES:
            cls.fb.add(n, facts={"site": "b"}, commands={"check_ok": CHECK_OK},
                       extra={"responder": {"federated_replies": "yes"}}).start(wait=False)
        for node in [*cls.fa.nodes.values(), *cls.fb.nodes.values()]:
            node.wait_ready()
        cls.collector = Collector(cls.fa).start()
        # Linked: B's nodes answer a ping from A addressed to them by name
        # (their bindings reached A, the shovel carries replies), and a
        # heartbeat at B is taken (A's collector binding reached B).
        s.wait("B's nodes answering at A", cls.b_nodes_answer_at_a)
        b1 = node_config(cls.fb, "b1", facts={"site": "b", "gen": "0"}, broker_url=s.b_url)
        s.wait("a heartbeat at B taken", lambda: heartbeat(b1).returncode == 0)
        print(f"\ntwo sites up and linked in {time.monotonic() - t0:.1f} s "
              f"(brokers {s.start_seconds:.1f} s)", file=sys.stderr)

    @classmethod
    def b_nodes_answer_at_a(cls):
        r = cls.fa.run("muster", "ping", *[a for n in B_NODES for a in ("-I", n)], "-t", "2")
        return ping_names(r.stdout) == set(B_NODES)

    @classmethod
    def tearDownClass(cls):
        for f in ("fa", "fb"):
            if hasattr(cls, f):
                getattr(cls, f).close()
        cls.sites.close()

    def beat(self, fleet, identity, broker_url, facts):
        conf = node_config(fleet, identity, facts=facts, broker_url=broker_url) \
            if not (fleet.root / "hb" / identity).exists() else fleet.root / "hb" / identity / "muster.conf"
        (fleet.root / "hb" / identity / "facts.d" / "facts.json").write_text(json.dumps(facts))
        r = heartbeat(conf)
        self.assertEqual(r.returncode, 0, f"heartbeat of {identity}: {r.stdout}{r.stderr}")

    def stored(self, identity):
        p = self.fa.registry / identity
        return json.loads(p.read_text()) if p.exists() else None

    def wait_stored(self, identity, gen, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reg = self.stored(identity)
            if reg and reg.get("facts", {}).get("gen") == gen:
                return reg
            time.sleep(0.1)
        self.fail(f"registration {gen} of {identity} never reached A's collector:\n"
                  f"{self.collector.stderr()[-2000:]}")

    def check(self, *args, timeout=30):
        return self.fa.run("check-mc-nrpe", "check_ok", *args, timeout=timeout)

    def test_1_registrations_of_both_sites_reach_the_collector_at_a(self):
        for n in A_NODES:
            self.beat(self.fa, n, self.sites.a_url, {"site": "a", "gen": "1"})
        for n in B_NODES:
            self.beat(self.fb, n, self.sites.b_url, {"site": "b", "gen": "1"})
        for n in A_NODES + B_NODES:
            reg = self.wait_stored(n, "1")
            self.assertEqual(reg["identity"], n)
            self.assertEqual(reg["facts"]["site"], n[0])

    def test_2_client_at_a_reaches_both_sites(self):
        # Broadcast: one ping at A, answers from both sites.
        r = self.fa.run("muster", "ping", "--dt", "3s")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(ping_names(r.stdout), set(A_NODES + B_NODES), r.stdout)

        # Registry discovery: directed requests to all four, one result.
        r = self.check("--dm", "registry", "-t", "10")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"^check_ok: OK: 4 WARNING: 0 CRITICAL: 0 UNKNOWN: 0\| total=4 ok=4 ")

        # Broadcast discovery through check-mc-nrpe, and a filter on B's fact.
        r = self.check("--dm", "broadcast", "--dt", "3s")
        self.assertRegex(r.stdout, r"^check_ok: OK: 4 WARNING: 0 CRITICAL: 0 UNKNOWN: 0\| total=4 ")
        r = self.check("--dm", "broadcast", "--dt", "3s", "-F", "site=b")
        self.assertRegex(r.stdout, r"^check_ok: OK: 2 WARNING: 0 CRITICAL: 0 UNKNOWN: 0\| total=2 ")

        # Directed, by name: a node of site B answers a request addressed to it alone.
        r = self.fa.run("muster", "ping", "-I", "b2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(ping_names(r.stdout), {"b2"}, r.stdout)

        # The replies took the shovel: B's nodes answered A's client through
        # muster.reply, and their own site's default exchange for nothing.
        for n in B_NODES:
            self.assertNotIn("Failed to publish reply", self.fb.nodes[n].stderr())

    def test_3_cut_link_each_site_alone_nothing_lost(self):
        s = self.sites
        s.cut()
        try:
            # A on its own: A's nodes answer; B's expected nodes are UNKNOWN, by name.
            r = self.check("--dm", "registry", "-t", "4")
            self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"^check_ok: OK: 2 WARNING: 0 CRITICAL: 0 UNKNOWN: 2\| total=2 ok=2 warn=0 "
                                       r"crit=0 unknown=2 ")
            self.assertRegex(r.stdout, r"(?m)^UNKNOWN: b1 b2$")
            r = self.fa.run("muster", "ping", "--dt", "1s")
            self.assertEqual(ping_names(r.stdout), set(A_NODES), r.stdout)

            # B on its own: a client at B reaches B's nodes (replies to a local
            # request take the default exchange, federated_replies or not).
            r = self.fb.run("muster", "ping", "--dt", "1s")
            self.assertEqual(ping_names(r.stdout), set(B_NODES), r.stdout + r.stderr)
            r = self.fb.run("check-mc-nrpe", "check_ok", "--dm", "broadcast", "--dt", "1s")
            self.assertRegex(r.stdout, r"^check_ok: OK: 2 WARNING: 0 CRITICAL: 0 UNKNOWN: 0\| total=2 ")

            # B's heartbeats succeed (confirmed by B's broker) and wait at B.
            for n in B_NODES:
                self.beat(self.fb, n, s.b_url, {"site": "b", "gen": "2"})
            raw = RawClient(s.b_url, self.fb.psk)
            raw.confirm()
            burst = [f"q{i:04d}" for i in range(BURST)]
            for n in burst:
                raw.publish(json.dumps(build_registration(n, collective=self.collective)).encode(), "registration",
                            f"{self.collective}.registration.{n}", reply=False, persistent=True)
            raw.close()
            waiting = {q: m for q, m in s.queues(s.b).items() if q.startswith("federation: muster.registration")}
            self.assertEqual(sum(waiting.values()), BURST + len(B_NODES), waiting)
            time.sleep(1)
            self.assertFalse(registry_names(self.fa.registry) & set(burst), "a registration crossed a cut link")
            self.assertEqual(self.stored("b1")["facts"]["gen"], "1")
        finally:
            s.restore()

        # The link is back: every registration that waited at B arrives.
        t0 = time.monotonic()
        deadline = t0 + 60
        while time.monotonic() < deadline and not set(burst) <= registry_names(self.fa.registry):
            time.sleep(0.2)
        missing = set(burst) - registry_names(self.fa.registry)
        self.assertFalse(missing, f"{len(missing)} of {BURST} registrations lost")
        for n in B_NODES:
            self.wait_stored(n, "2")
        print(f"\n{BURST + len(B_NODES)} registrations queued at B during the cut arrived at A "
              f"{time.monotonic() - t0:.1f} s after the link came back", file=sys.stderr)
        s.wait("B's federation queue drained", lambda: sum(
            m for q, m in s.queues(s.b).items() if q.startswith("federation: muster.registration")) == 0)

        # And A's check sees B's nodes again.
        s.wait("B's nodes answering at A again", self.b_nodes_answer_at_a)
        r = self.check("--dm", "registry", "-I", "/^[ab][0-9]$/", "-t", "10")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"^check_ok: OK: 4 WARNING: 0 CRITICAL: 0 UNKNOWN: 0\| total=4 ")

    def test_4_stopped_node_of_b_is_reported_at_once(self):
        # A node of B that stops takes its queue and bindings with it; the
        # federation link withdraws its binding at A too, so A's broker
        # returns a directed request for it at once and the check need not
        # wait out its timeout to name it.
        node = self.fb.nodes["b2"]
        node.stop()
        try:
            deadline = time.monotonic() + 30
            while True:
                t0 = time.monotonic()
                r = self.check("--dm", "registry", "-I", "/^[ab][0-9]$/", "-t", "10")
                took = time.monotonic() - t0
                if r.returncode == 3 and took < 5 or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"^check_ok: OK: 3 WARNING: 0 CRITICAL: 0 UNKNOWN: 1\| ")
            self.assertRegex(r.stdout, r"(?m)^UNKNOWN: b2$")
            self.assertLess(took, 5, f"the check waited {took:.1f} s for a node that has no queue")
            print(f"\ncheck at A named the stopped node of B in {took:.2f} s (timeout 10 s)", file=sys.stderr)
        finally:
            node.start()
        self.sites.wait("b2 answering at A again", self.b_nodes_answer_at_a)


if __name__ == "__main__":
    harness.main()
