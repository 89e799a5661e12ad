# SPDX-License-Identifier: LGPL-2.1-or-later
"""A private RabbitMQ node for tests and the demo.

Its own node name, Erlang cookie, data and log directories in a temp dir,
free ports on 127.0.0.1 for AMQP, Erlang distribution and a private epmd.
It is stopped by its pid, also when a test fails or the test process is
interrupted."""

import atexit
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_live = set()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_all(*_):
    for b in list(_live):
        try:
            b.stop()
        except Exception:
            pass


def _on_signal(signum, frame):
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


atexit.register(_stop_all)
for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(_sig) in (signal.SIG_DFL, signal.default_int_handler):
        signal.signal(_sig, _on_signal)


class Broker:
    def __init__(self, name_prefix="muster-test", port=None):
        self.name_prefix = name_prefix
        self.dir = None
        self.proc = None
        self.port = port
        self.dist_port = None
        self.epmd_port = None
        self.node = None
        self.env = None

    # -- setup ----------------------------------------------------------------

    def _prepare(self):
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.name_prefix}-"))
        os.chmod(self.dir, 0o755)
        self.port = self.port or free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"{self.name_prefix}-{self.port}@localhost"
        for d in ("mnesia", "log", "home"):
            (self.dir / d).mkdir()
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text(
            "loopback_users = none\n"
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "log.console = false\n"
            "log.file.level = info\n"
        )
        cookie = self.dir / "home" / ".erlang.cookie"
        cookie.write_text(os.urandom(16).hex())
        os.chmod(cookie, 0o400)
        try:
            pw = pwd.getpwnam("rabbitmq")
            for p in [self.dir] + list(self.dir.rglob("*")):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        except KeyError:
            pass
        self.env = dict(os.environ)
        self.env.update({
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "HOME": str(self.dir / "home"),
            "RABBITMQ_CTL_ERL_ARGS": f"-setcookie {cookie.read_text()}",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": f"-setcookie {cookie.read_text()}",
        })

    @property
    def url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _spawn(self):
        log = open(self.dir / "server.out", "ab")
        self.proc = subprocess.Popen(["rabbitmq-server"], env=self.env, stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        _live.add(self)

    def _wait_ready(self, timeout=60):
        # The AMQP listener opens last in RabbitMQ's boot: poll it (cheap),
        # then let rabbitmqctl confirm (each call starts an Erlang VM).
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if not self._port_open():
                time.sleep(0.1)
                continue
            r = subprocess.run(["rabbitmqctl", "-n", self.node, "-q", "await_startup", "--timeout", "5"],
                               env=self.env, capture_output=True, timeout=30)
            if r.returncode == 0:
                return
            time.sleep(0.3)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"private RabbitMQ did not start within {timeout}s:\n{tail}")

    def _port_open(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log_tail(self, n=40):
        out = []
        for p in [self.dir / "server.out"] + sorted((self.dir / "log").glob("*.log")):
            if p.exists():
                out += p.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(out)

    # -- life cycle ---------------------------------------------------------------

    def start(self):
        t0 = time.monotonic()
        self._prepare()
        self._spawn()
        self._wait_ready()
        self.start_seconds = time.monotonic() - t0
        return self

    def _pids(self):
        """Every process of this node: the server's session, plus anything
        whose command line names our node or our epmd port."""
        pids = set()
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environ = (d / "environ").read_bytes()
            except OSError:
                continue
            if (self.node and self.node in cmd) or f"ERL_EPMD_PORT={self.epmd_port}".encode() in environ:
                pids.add(int(d.name))
            elif self.proc is not None:
                try:
                    if os.getsid(int(d.name)) == self.proc.pid:
                        pids.add(int(d.name))
                except OSError:
                    pass
        pids.discard(os.getpid())
        return pids

    def kill_processes(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return
        pids = self._pids()
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._pids():
            time.sleep(0.1)
        for p in self._pids():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._pids():
            time.sleep(0.1)
        self.proc = None

    def stop(self):
        """Stop every process of the node and remove its directory."""
        self.kill_processes(signal.SIGTERM)
        _live.discard(self)
        if self.dir and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self):
        """SIGKILL the node, keep its data: for fault tests."""
        self.kill_processes(signal.SIGKILL, timeout=5)

    def start_again(self):
        """Bring a stopped or killed node back on the same port and data."""
        self._spawn()
        self._wait_ready()

    def restart(self):
        self.kill_processes(signal.SIGTERM)
        self.start_again()

    def ctl(self, *args, timeout=60):
        return subprocess.run(["rabbitmqctl", "-n", self.node, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def list_queues(self):
        r = self.ctl("-q", "list_queues", "name", "messages", "consumers", "--formatter", "json")
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return [(q["name"], q["messages"], q["consumers"]) for q in json.loads(r.stdout or "[]")]

    def queue_messages(self, name):
        for q, messages, _ in self.list_queues():
            if q == name:
                return messages
        return None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _cli():
    import argparse
    ap = argparse.ArgumentParser(description="start or stop a private RabbitMQ node")
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--state", required=True)
    a = ap.parse_args()
    if a.action == "start":
        b = Broker().start()
        _live.discard(b)  # keep running after we exit
        Path(a.state).write_text(json.dumps({"dir": str(b.dir), "port": b.port, "node": b.node,
                                             "epmd_port": b.epmd_port, "pid": b.proc.pid, "url": b.url}))
        print(b.url)
    else:
        s = json.loads(Path(a.state).read_text())
        b = Broker()
        b.dir, b.port, b.node, b.epmd_port = Path(s["dir"]), s["port"], s["node"], s["epmd_port"]

        class _P:
            pid = s["pid"]

            def wait(self, t=None):
                return 0
        b.proc = _P()
        b.stop()
        Path(a.state).unlink()


if __name__ == "__main__":
    sys.exit(_cli())
