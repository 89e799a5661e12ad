#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Past one broker: a three-node RabbitMQ cluster on loopback (three node
names, ports and data dirs, one private epmd, joined with rabbitmqctl
join_cluster). The registration queue as a quorum queue survives the
loss of its leader mid-burst; a responder fails over when its broker
dies; collectors share a queue as competing consumers or each own one."""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402
from harness import Broker  # noqa: E402
from fleet import Fleet, Collector, RawClient, build_registration, PLUGINS, write_config  # noqa: E402


class ClusterNode(Broker):
    def __init__(self, cluster, index):
        super().__init__(name_prefix=f"muster-cl{index}")
        self.cluster = cluster

    def _prepare(self):
        super()._prepare()
        self.epmd_port = self.cluster.epmd_port
        self.env["ERL_EPMD_PORT"] = str(self.epmd_port)
        self.env["RABBITMQ_ERLANG_COOKIE"] = self.cluster.cookie
        cookie = Path(self.dir) / ".erlang.cookie"
        os.chmod(cookie, 0o600)
        cookie.write_text(self.cluster.cookie)
        os.chmod(cookie, 0o400)

    def _ensure_epmd(self, deadline):
        pass  # the cluster's one epmd


class Cluster:
    def __init__(self, n=3):
        (self.epmd_port,) = harness.pick_ports(1)
        self.cookie = secrets.token_hex(20).upper()
        self.epmd = subprocess.Popen(["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while harness.epmd_names(self.epmd_port, 0.2) is None:
            time.sleep(0.05)
        self.nodes = []
        try:
            for i in range(n):
                self.nodes.append(ClusterNode(self, i).start())
            first = self.nodes[0].node
            for b in self.nodes[1:]:
                for args in (("stop_app",), ("join_cluster", first), ("start_app",)):
                    r = b.ctl(*args, timeout=120)
                    if r.returncode != 0:
                        raise RuntimeError(f"{b.node} {args}: {r.stdout}{r.stderr}")
            r = self.nodes[0].ctl("-q", "cluster_status", "--formatter", "json")
            try:
                running = json.loads(r.stdout).get("running_nodes", [])
            except ValueError:
                running = []
            if len(running) != n:
                raise RuntimeError(f"cluster did not form: {r.stdout}{r.stderr}")
        except BaseException:
            self.stop()
            raise

    def urls(self, exclude=()):
        return " ".join(f"amqp://127.0.0.1:{b.port}/" for b in self.nodes if b not in exclude)

    def by_port(self, port):
        return next(b for b in self.nodes if b.port == port)

    def queue_leader(self, name):
        for b in self.nodes:
            if not b.is_running():
                continue
            r = b.ctl("list_queues", "-q", "--formatter", "json", "name", "leader")
            if r.returncode == 0:
                for q in json.loads(r.stdout or "[]"):
                    if q["name"] == name:
                        return next(n for n in self.nodes if n.node == q["leader"])
        return None

    def stop(self):
        for b in self.nodes:
            try:
                b.stop()
            except Exception:
                pass
        self.epmd.terminate()
        self.epmd.wait(5)


def wait_files(d, n, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = [f for f in os.listdir(d) if not f.startswith(".")]
        if len(names) >= n:
            return names
        time.sleep(0.2)
    return [f for f in os.listdir(d) if not f.startswith(".")]


class ClusterTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.cluster = Cluster(3)
        print(f"\nthree-node cluster formed in {time.monotonic() - t0:.1f} s", file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def setUp(self):
        self.fleet = Fleet(self.cluster.urls(), collective=f"c{secrets.token_hex(3)}")
        write_config(self.fleet.client_config, {
            "main": {"identity": "monitor", "collective": self.fleet.collective},
            "broker": {"url": self.cluster.urls(), "connect_timeout": "2s"},
            "security": {"psk_file": self.fleet.psk},
            "client": {"discovery_timeout": "1s", "timeout": "10s"},
        })

    def tearDown(self):
        self.fleet.close()

    def publish(self, via, names, collective):
        """Publish with confirms; a NACK (the quorum queue electing a new
        leader) is retried, as the heartbeat's next run would."""
        import pika
        raw = RawClient(f"amqp://guest:guest@127.0.0.1:{via.port}/", self.fleet.psk)
        raw.confirm()
        nacked = 0
        for n in names:
            deadline = time.monotonic() + 60
            while True:
                try:
                    raw.publish(json.dumps(build_registration(n, collective=collective)).encode(), "registration",
                                f"{collective}.registration.{n}", reply=False, persistent=True)
                    break
                except pika.exceptions.NackError:
                    # Like the next muster-heartbeat run: a new connection.
                    nacked += 1
                    if time.monotonic() > deadline:
                        raise
                    raw.close()
                    time.sleep(0.2)
                    raw = RawClient(f"amqp://guest:guest@127.0.0.1:{via.port}/", self.fleet.psk)
                    raw.confirm()
        raw.close()
        return nacked

    def test_1_quorum_leader_killed_during_burst(self):
        q = {"collector": {"queue_type": "quorum", "name": "quorum"}}
        c = Collector(self.fleet, name="quorum", extra=q).start()
        queue = "muster.registrations.quorum"
        leader = self.cluster.queue_leader(queue)
        self.assertIsNotNone(leader)
        other = next(b for b in self.cluster.nodes if b is not leader)
        k = 400
        names = [f"q{i:04d}" for i in range(k)]
        self.publish(other, names[:k // 2], self.fleet.collective)
        leader.kill()
        try:
            nacked = self.publish(other, names[k // 2:], self.fleet.collective)
            print(f"\nleader {leader.node} killed mid-burst; {nacked} publish(es) NACKed and retried",
                  file=sys.stderr)
            got = wait_files(self.fleet.registry, k, timeout=90)
            self.assertEqual(sorted(got), names, f"{k - len(got)} registrations lost:\n{c.stderr()[-2000:]}")
        finally:
            leader.start_again()
            c.stop()

    def test_2_responder_fails_over(self):
        node = self.fleet.add("node1", commands={"check_ok": f"{PLUGINS}/check_dummy 0 fine"},
                              extra={"main": {"collective": self.fleet.collective}}).start()
        r = self.fleet.run("check-mc-nrpe", "check_ok")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        port = int(re.search(r"Connected to broker amqp://127\.0\.0\.1:(\d+)/", node.stderr()).group(1))
        victim = self.cluster.by_port(port)
        victim.kill()
        try:
            t0 = time.monotonic()
            deadline = t0 + 30
            while time.monotonic() < deadline:
                r = self.fleet.run("check-mc-nrpe", "check_ok", "-t", "5")
                if r.returncode == 0:
                    break
                time.sleep(0.2)
            print(f"\nresponder answered again {time.monotonic() - t0:.1f} s after its broker was killed",
                  file=sys.stderr)
            self.assertEqual(r.returncode, 0, r.stdout + node.stderr()[-2000:])
            self.assertRegex(r.stdout, r"^check_ok: OK: 1 WARNING: 0 CRITICAL: 0 UNKNOWN: 0\| total=1")
            self.assertEqual(node.stderr().count("Connected to broker"), 2)
            self.assertLess(time.monotonic() - t0, 10, "failover within the reconnect backoff")
        finally:
            victim.start_again()

    def test_3_competing_collectors_write_each_once(self):
        d1, d2 = self.fleet.root / "s1", self.fleet.root / "s2"
        d1.mkdir()
        d2.mkdir()
        c1 = Collector(self.fleet, name="shared", state_dir=d1).start()
        c2 = Collector(self.fleet, name="shared", state_dir=d2).start()
        k = 300
        names = [f"s{i:04d}" for i in range(k)]
        self.publish(self.cluster.nodes[0], names, self.fleet.collective)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            a = {f for f in os.listdir(d1) if not f.startswith(".")}
            b = {f for f in os.listdir(d2) if not f.startswith(".")}
            if len(a | b) >= k:
                break
            time.sleep(0.2)
        a, b = {f for f in os.listdir(d1) if not f.startswith(".")}, {f for f in os.listdir(d2) if not f.startswith(".")}
        self.assertEqual(a | b, set(names))
        self.assertEqual(a & b, set(), "a registration was written by both collectors")
        self.assertTrue(a and b, "both collectors should have taken a share")
        c1.stop()
        c2.stop()

    def test_4_collectors_with_own_queues_each_see_all(self):
        d1, d2 = self.fleet.root / "o1", self.fleet.root / "o2"
        d1.mkdir()
        d2.mkdir()
        c1 = Collector(self.fleet, name="mon1", state_dir=d1).start()
        c2 = Collector(self.fleet, name="mon2", state_dir=d2).start()
        k = 200
        names = [f"o{i:04d}" for i in range(k)]
        self.publish(self.cluster.nodes[1], names, self.fleet.collective)
        self.assertEqual(sorted(wait_files(d1, k)), names)
        self.assertEqual(sorted(wait_files(d2, k)), names)
        c1.stop()
        c2.stop()


if __name__ == "__main__":
    from harness import main
    main()
