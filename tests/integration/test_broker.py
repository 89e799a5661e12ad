#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-test of harness.py: a private RabbitMQ node that starts, answers,
restarts on the same port, listens on 127.0.0.1 only, and leaves nothing
behind when stopped (also when its test process is interrupted)."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402
from harness import Broker  # noqa: E402

HARNESS = str(HERE / "harness.py")


def node_processes(*needles):
    """Pids of live processes whose command line or environment mentions
    any of needles (node name, marker, temp dir)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if harness._alive(int(name)) and any(n.encode() in cmd or n.encode() in env for n in needles if n):
            found.append((int(name), cmd.replace(b"\0", b" ").decode(errors="replace")[:200]))
    return found


def listeners(port):
    """Local addresses of LISTEN sockets on TCP port, from /proc/net/tcp{,6}."""
    out = []
    for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            addr, hexport = fields[1].split(":")
            if fields[3] != "0A" or int(hexport, 16) != port:      # 0A = LISTEN
                continue
            raw = bytes.fromhex(addr)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            out.append(socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, raw))
    return out


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def report(what, seconds):
    print(f"\n  [timing] {what}: {seconds:.2f} s", file=sys.stderr, end="")


class SharedBroker(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(name_prefix="muster-selftest")
        cls.broker.start()
        report("start to ready (fresh node)", cls.broker.start_seconds)

    @classmethod
    def tearDownClass(cls):
        b = cls.broker
        b.stop()
        report("stop", b.stop_seconds)

    def test_attributes(self):
        b = self.broker
        self.assertEqual(b.url, f"amqp://guest:guest@127.0.0.1:{b.port}/")
        self.assertTrue(b.node.endswith("@localhost"))
        self.assertTrue(b.dir.startswith("/tmp/muster-selftest-"))
        self.assertEqual(b.env["RABBITMQ_NODENAME"], b.node)
        self.assertEqual(b.env["RABBITMQ_NODE_PORT"], str(b.port))
        self.assertEqual(len({b.port, b.dist_port, b.epmd_port}), 3)
        self.assertNotIn(4369, (b.port, b.dist_port, b.epmd_port))
        self.assertTrue(b.is_running())
        self.assertEqual(harness._proc_comm(b.pids["beam"])[:4], "beam")

    def test_publish_get_and_list_queues(self):
        b = self.broker
        b.declare_queue("selftest.q")
        b.publish("", "selftest.q", b"hello\0world", headers={"muster": "yes", "n": 3}, reply_to="replies")
        self.assertIn(("selftest.q", 1, 0), b.list_queues())
        self.assertEqual(b.queue_messages("selftest.q"), 1)
        m = b.get("selftest.q")
        self.assertEqual(m.body, b"hello\0world")
        if harness.pika is not None:
            self.assertEqual(m.headers, {"muster": "yes", "n": 3})
            self.assertEqual(m.properties.reply_to, "replies")
        self.assertIsNone(b.get("selftest.q"))
        self.assertIn(("selftest.q", 0, 0), b.list_queues())

    def test_amqp_tools_fallback(self):
        b = self.broker
        saved, harness.pika = harness.pika, None      # as if python3-pika were missing
        try:
            b.declare_queue("selftest.tools")
            b.publish("", "selftest.tools", b"via amqp-publish", headers={"h": "v"}, reply_to="r")
            b.publish("", "selftest.tools", b"second")
            self.assertEqual(b.queue_messages("selftest.tools"), 2)
        finally:
            harness.pika = saved
        m = b.get("selftest.tools")
        self.assertEqual(m.body, b"via amqp-publish")
        if saved is not None:
            self.assertEqual((m.headers, m.properties.reply_to), ({"h": "v"}, "r"))
        harness.pika = None
        try:
            self.assertEqual(b.get("selftest.tools").body, b"second")     # via amqp-get
            self.assertIsNone(b.get("selftest.tools"))
        finally:
            harness.pika = saved

    def test_rabbitmqctl(self):
        b = self.broker
        r = b.ctl("await_startup")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = b.ctl("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b.node, r.stdout)
        self.assertNotIn("rabbitmq_management", r.stdout)     # no plugins
        # Debian's /usr/sbin/rabbitmqctl (su to rabbitmq when root) works with b.env too.
        r = subprocess.run(["rabbitmqctl", "-n", b.node, "-q", "list_queues", "name"], env=b.env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_loopback_only(self):
        b = self.broker
        for what, port in (("amqp", b.port), ("distribution", b.dist_port), ("epmd", b.epmd_port)):
            addrs = listeners(port)
            self.assertTrue(addrs, f"nothing listens on the {what} port {port}")
            for a in addrs:
                self.assertIn(a, ("127.0.0.1", "::1"), f"{what} port {port} bound to {a}")
        # and the same from ss, if it is there
        try:
            ss = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, timeout=10).stdout
        except FileNotFoundError:
            return
        for line in ss.splitlines():
            local = line.split()[3]
            port = int(local.rsplit(":", 1)[1])
            if port in (b.port, b.dist_port, b.epmd_port):
                self.assertTrue(local.startswith(("127.0.0.1:", "[::1]:")), line)

    def test_private_epmd_and_cookie(self):
        b = self.broker
        self.assertIn(b.id, harness.epmd_names(b.epmd_port))
        system = harness.epmd_names(4369) or {}
        self.assertNotIn(b.id, system)
        cookie = os.stat(os.path.join(b.dir, ".erlang.cookie"))
        self.assertEqual(stat.S_IMODE(cookie.st_mode), 0o400)
        if os.geteuid() == 0:
            import pwd
            self.assertEqual(pwd.getpwuid(cookie.st_uid).pw_name, "rabbitmq")
            self.assertEqual(pwd.getpwuid(os.stat(b.dir).st_uid).pw_name, "rabbitmq")

    def test_restart_same_port_and_data(self):
        b = self.broker
        port, d, node = b.port, b.dir, b.node
        b.declare_queue("selftest.durable", durable=True)
        b.publish("", "selftest.durable", b"persistent", delivery_mode=2)
        old_beam = b.pids["beam"]
        b.restart()
        report("restart: stop", b.stop_seconds)
        report("restart: start to ready", b.start_seconds)
        self.assertEqual((b.port, b.dir, b.node), (port, d, node))
        self.assertNotEqual(b.pids["beam"], old_beam)
        self.assertTrue(harness._amqp_answers(b.port))
        self.assertIn(("selftest.durable", 1, 0), b.list_queues())
        self.assertEqual(b.get("selftest.durable").body, b"persistent")
        self.assertTrue(all(a in ("127.0.0.1", "::1") for a in listeners(b.port)))

    def test_kill_and_start_again(self):
        b = self.broker
        port = b.port
        old_beam = b.pids["beam"]
        b.kill()
        self.assertFalse(harness._alive(old_beam))
        self.assertTrue(refused(port))
        self.assertFalse(b.is_running())
        self.assertTrue(os.path.isdir(b.dir))
        b.start_again()
        report("start_again after kill", b.start_seconds)
        self.assertEqual(b.port, port)
        self.assertTrue(harness._amqp_answers(port))
        r = b.ctl("await_startup")
        self.assertEqual(r.returncode, 0, r.stderr)


def assert_gone(tc, node, marker, d, ports):
    """No process mentions the node, its marker or its dir; the dir and the
    listening sockets are gone."""
    deadline = time.monotonic() + 5
    while node_processes(node, marker, d) and time.monotonic() < deadline:
        time.sleep(0.1)
    tc.assertEqual(node_processes(node, marker, d), [])
    tc.assertFalse(os.path.exists(d), d)
    for p in ports:
        tc.assertEqual(listeners(p), [], f"port {p} still listened on")


class Cleanup(unittest.TestCase):
    def assertGone(self, node, marker, d, ports):
        assert_gone(self, node, marker, d, ports)

    def test_stop_leaves_nothing(self):
        b = Broker()
        b.start()
        node, marker, d = b.node, b.id, b.dir
        ports = (b.port, b.dist_port, b.epmd_port)
        self.assertTrue(node_processes(node))
        b.stop()
        report("stop", b.stop_seconds)
        self.assertGone(node, marker, d, ports)
        self.assertIsNone(b.dir)
        b.stop()                    # idempotent

    def test_with_block_stops_on_error(self):
        with self.assertRaises(ZeroDivisionError):
            with Broker() as b:
                node, marker, d = b.node, b.id, b.dir
                ports = (b.port, b.dist_port, b.epmd_port)
                1 / 0
        self.assertGone(node, marker, d, ports)

    def _child_then_signal(self, sig):
        code = ("import json, sys, time; sys.path.insert(0, %r); import harness\n"
                "b = harness.Broker(); b.start()\n"
                "print(json.dumps({'node': b.node, 'id': b.id, 'dir': b.dir,"
                " 'ports': [b.port, b.dist_port, b.epmd_port]}), flush=True)\n"
                "time.sleep(600)\n" % str(HERE))
        with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as child:
            try:
                info = json.loads(child.stdout.readline())
                self.assertTrue(harness._amqp_answers(info["ports"][0]))
                child.send_signal(sig)
                child.wait(30)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
            err = child.stderr.read()
        self.assertGone(info["node"], info["id"], info["dir"], info["ports"])
        return child.returncode, err

    def test_sigterm_of_test_process(self):
        rc, _ = self._child_then_signal(signal.SIGTERM)
        self.assertEqual(rc, -signal.SIGTERM)

    def test_sigint_of_test_process(self):
        rc, err = self._child_then_signal(signal.SIGINT)
        self.assertIn("KeyboardInterrupt", err)


class CommandLine(unittest.TestCase):
    def test_two_detached_brokers_in_parallel(self):
        with tempfile.TemporaryDirectory() as tmp:
            states = [os.path.join(tmp, f"b{i}.json") for i in (1, 2)]
            t0 = time.monotonic()
            procs = [subprocess.Popen([sys.executable, HARNESS, "start", "--state", s],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for s in states]
            outs = [p.communicate(timeout=120) for p in procs]
            report("two brokers started in parallel", time.monotonic() - t0)
            for p, (out, err) in zip(procs, outs):
                self.assertEqual(p.returncode, 0, err)
            infos = []
            for s, (out, _) in zip(states, outs):
                with open(s) as f:
                    info = json.load(f)
                self.assertEqual(out.strip(), info["url"])
                infos.append(info)
            a, b = infos
            self.assertNotEqual(a["node"], b["node"])
            self.assertFalse({a["port"], a["dist_port"], a["epmd_port"]}
                             & {b["port"], b["dist_port"], b["epmd_port"]})
            try:
                # The CLI has exited; the brokers must still be there.
                for info in infos:
                    self.assertTrue(harness._amqp_answers(info["port"]), info["url"])
                    self.assertTrue(harness._alive(info["pids"]["beam"]))
                    r = subprocess.run(info["ctl"] + ["await_startup"], env=info["env"],
                                       capture_output=True, text=True, timeout=60)
                    self.assertEqual(r.returncode, 0, r.stderr)
            finally:
                for s in states:
                    t0 = time.monotonic()
                    r = subprocess.run([sys.executable, HARNESS, "stop", "--state", s],
                                       capture_output=True, text=True, timeout=120)
                    report("CLI stop", time.monotonic() - t0)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertFalse(os.path.exists(s))
            for info in infos:
                assert_gone(self, info["node"], info["id"], info["dir"],
                                   [info["port"], info["dist_port"], info["epmd_port"]])


if __name__ == "__main__":
    from harness import main
    main()
