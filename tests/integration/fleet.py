# SPDX-License-Identifier: LGPL-2.1-or-later
"""Responder processes, client configuration and helpers for integration
tests and the demo. Everything lives in one temp dir; every process is
stopped at the end."""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

SOURCE = Path(os.environ.get("MUSTER_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("MUSTER_BUILD_DIR", SOURCE / "build"))
PLUGINS = Path("/usr/lib/nagios/plugins")


def binary(name):
    for sub in ("daemons", "tools", ""):
        p = BUILD / sub / name
        if p.exists():
            return str(p)
    raise FileNotFoundError(f"{name} not built in {BUILD}")


class NotifySocket:
    """Receives sd_notify() datagrams the way systemd would: always
    drained, by a thread, so the daemon never blocks on a full socket."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.closed = False
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _reader(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536).decode(errors="replace")
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append(data)

    def poll(self, timeout=0.0):
        if timeout > 0:
            time.sleep(timeout)
        return list(self.messages)

    def wait_for(self, needle, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.poll(0.1):
                if any(line == needle or line.startswith(needle) for line in m.split("\n")):
                    return m
        raise TimeoutError(f"no {needle!r} notification within {timeout}s; got {self.messages!r}")

    def has(self, needle):
        self.poll()
        return any(needle in m.split("\n") or any(l.startswith(needle) for l in m.split("\n"))
                   for m in self.messages)

    def close(self):
        self.closed = True
        self.thread.join(1)
        self.sock.close()


def write_config(path, sections):
    lines = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        for k, v in keys.items():
            lines.append(f"{k}={v}")
        lines.append("")
    Path(path).write_text("\n".join(lines))


class Node:
    def __init__(self, fleet, identity, facts=None, classes=(), commands=None, agents=None, extra=None):
        self.fleet = fleet
        self.identity = identity
        self.dir = fleet.root / "nodes" / identity
        self.dir.mkdir(parents=True)
        (self.dir / "facts.d").mkdir()
        (self.dir / "nrpe.d").mkdir()
        (self.dir / "conf.d").mkdir()
        (self.dir / "facts.d" / "facts.json").write_text(json.dumps(facts or {}))
        (self.dir / "classes.txt").write_text("".join(c + "\n" for c in classes))
        cfg = "".join(f"command[{k}]={v}\n" for k, v in (commands or {}).items())
        (self.dir / "nrpe.d" / "commands.cfg").write_text(cfg)
        sections = {
            "main": {"identity": identity, "collective": fleet.collective, "log_level": "debug",
                     "log_target": "console"},
            "broker": {"url": fleet.broker_url, "heartbeat": "10s", "reconnect_min": "200ms",
                       "reconnect_max": "2s", "connect_timeout": "2s"},
            "security": {"psk_file": fleet.psk},
            "responder": {"facts_dir": self.dir / "facts.d", "classes_file": self.dir / "classes.txt",
                          "control_socket": self.dir / "control"},
            # Checks drop to an unprivileged user when the tests run as root
            # (muster-check does not exist here); otherwise they run as us.
            "nrpe": {"command_dir": self.dir / "nrpe.d", "command_timeout": "5s",
                     "user": "nobody" if os.geteuid() == 0 else ""},
        }
        if agents is not None:
            sections["responder"]["agents"] = " ".join(agents)
        for section, keys in (extra or {}).items():
            sections.setdefault(section, {}).update(keys)
        self.config = self.dir / "muster.conf"
        write_config(self.config, sections)
        self.proc = None
        self.notify = None
        self.log = None

    def start(self, wait=True, watchdog_usec=None, env=None, wrapper=()):
        if self.notify:
            self.notify.close()
        sock = self.dir / "notify"
        if sock.exists():
            sock.unlink()
        self.notify = NotifySocket(sock)
        e = dict(os.environ)
        e["NOTIFY_SOCKET"] = str(sock)
        e.pop("JOURNAL_STREAM", None)
        if watchdog_usec:
            e["WATCHDOG_USEC"] = str(watchdog_usec)
        e.update(env or {})
        self.log = open(self.dir / "stderr.log", "ab")
        self.proc = subprocess.Popen([*wrapper, binary("muster-responder"), "--config", str(self.config)],
                                     stdout=self.log, stderr=self.log, env=e)
        self.fleet.procs.append(self.proc)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20.0):
        try:
            self.notify.wait_for("READY=1", timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.identity} not ready: {self.stderr()[-2000:]}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def stderr(self):
        p = self.dir / "stderr.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None


class Fleet:
    """A private set of responders and a client config around one broker."""

    def __init__(self, broker_url, collective="muster"):
        self.root = Path(tempfile.mkdtemp(prefix="muster-fleet-"))
        self.broker_url = broker_url
        self.collective = collective
        self.psk = self.root / "psk"
        self.psk.write_text(secrets.token_hex(32) + "\n")
        os.chmod(self.psk, 0o640)
        self.registry = self.root / "registrations"
        self.registry.mkdir()
        self.nodes = {}
        self.procs = []
        self.client_config = self.root / "client.conf"
        write_config(self.client_config, {
            "main": {"identity": "monitor", "collective": collective},
            "broker": {"url": broker_url, "connect_timeout": "2s"},
            "security": {"psk_file": self.psk},
            "client": {"discovery_timeout": "1s", "timeout": "10s", "registry_dir": self.registry},
        })

    def add(self, identity, **kw):
        node = Node(self, identity, **kw)
        self.nodes[identity] = node
        return node

    def register(self, identity, facts=None, classes=(), agents=("discovery", "rpcutil", "nrpe"),
                 interval=300, age=0):
        """Write a registration file as the collector would."""
        now = int(time.time())
        reg = {"protocol": "muster:registration:1", "identity": identity, "collective": self.collective,
               "msgtime": now - age, "interval": interval, "facts": facts or {}, "classes": list(classes),
               "agents": list(agents), "received": now - age}
        p = self.registry / identity
        p.write_text(json.dumps(reg))
        os.utime(p, (now - age, now - age))

    def run(self, *args, timeout=60, check=False, env=None):
        """Run a tool with the client config; returns CompletedProcess."""
        tool, rest = args[0], list(args[1:])
        e = dict(os.environ)
        e.pop("JOURNAL_STREAM", None)
        e.update(env or {})
        cmd = [binary(tool), "--config", str(self.client_config)] + rest
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check, env=e)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for n in self.nodes.values():
            if n.notify:
                n.notify.close()
            if n.log:
                n.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def process_group_alive(pattern):
    """PIDs of processes whose command line holds pattern."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if pattern in cmd:
            out.append(int(d.name))
    return out


def psk_bytes(path):
    data = Path(path).read_bytes()
    if data.endswith(b"\n"):
        data = data[:-1]
    if data.endswith(b"\r"):
        data = data[:-1]
    return data


def sign(psk_path, body):
    import hashlib
    import hmac
    return hmac.new(psk_bytes(psk_path), body, hashlib.sha256).hexdigest()


def signature_headers(psk_path, body):
    """The AMQP headers of a message signed with the PSK (HMAC-SHA256)."""
    return {"x-muster-signature-scheme": "hmac-sha256", "x-muster-signature": sign(psk_path, body)}


def build_request(agent, action, data=None, filt=None, collective="muster", ttl=60, msgtime=None,
                  requestid=None, senderid="tester"):
    return {
        "protocol": "muster:request:1",
        "requestid": requestid or secrets.token_hex(16),
        "senderid": senderid,
        "callerid": "user=test",
        "collective": collective,
        "agent": agent,
        "action": action,
        "msgtime": int(time.time()) if msgtime is None else msgtime,
        "ttl": ttl,
        "filter": filt or {},
        "data": data or {},
    }


class RawClient:
    """A bare AMQP client (pika) for sending crafted requests and reading
    replies, to test what the daemons do with hostile input."""

    def __init__(self, broker_url, psk_path, prefix="muster"):
        import pika
        self.pika = pika
        self.psk = psk_path
        self.prefix = prefix
        self.conn = pika.BlockingConnection(pika.URLParameters(broker_url))
        self.ch = self.conn.channel()
        for kind, typ in (("broadcast", "topic"), ("directed", "direct"), ("registration", "topic")):
            self.ch.exchange_declare(f"{prefix}.{kind}", typ, durable=True)
        # Replies come through RabbitMQ's direct reply-to, the only reply_to
        # a responder answers by default (responder.allowed_reply_to).
        self.reply_queue = "amq.rabbitmq.reply-to"
        self._replies = []
        self.ch.basic_consume(self.reply_queue, lambda ch, method, props, body: self._replies.append(body),
                              auto_ack=True)

    def confirm(self):
        self.ch.confirm_delivery()

    def publish(self, body, exchange_kind="broadcast", routing_key="muster.agent.discovery", signed=True,
                signature=None, scheme="hmac-sha256", reply=True, persistent=False):
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        headers = {}
        if signed:
            headers["x-muster-signature-scheme"] = scheme
            headers["x-muster-signature"] = signature or sign(self.psk, body)
        props = self.pika.BasicProperties(headers=headers or None,
                                          reply_to=self.reply_queue if reply else None,
                                          delivery_mode=2 if persistent else None)
        self.ch.basic_publish(f"{self.prefix}.{exchange_kind}", routing_key, body, props)

    def replies(self, wait=1.0, expect=None):
        """Collect reply bodies (dicts) for wait seconds or until expect arrived."""
        out = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not self._replies:
                self.conn.process_data_events(time_limit=0.02)
                continue
            out.append(json.loads(self._replies.pop(0)))
            if expect is not None and len(out) >= expect:
                break
        return out

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


class Collector:
    """A muster-collector process with its own state directory."""

    def __init__(self, fleet, name="default", state_dir=None, extra=None):
        self.fleet = fleet
        self.name = name
        self.dir = fleet.root / f"collector-{name}-{secrets.token_hex(3)}"
        self.dir.mkdir()
        self.state_dir = Path(state_dir) if state_dir else fleet.registry
        sections = {
            "main": {"collective": fleet.collective, "log_level": "debug", "log_target": "console"},
            "broker": {"url": fleet.broker_url, "heartbeat": "10s", "reconnect_min": "200ms",
                       "reconnect_max": "1s", "connect_timeout": "2s"},
            "security": {"psk_file": fleet.psk},
            "collector": {"name": name, "state_dir": self.state_dir, "sweep_interval": "1s",
                          "stale_grace": "2s", "control_socket": self.dir / "control"},
        }
        for section, keys in (extra or {}).items():
            sections.setdefault(section, {}).update(keys)
        self.config = self.dir / "muster.conf"
        write_config(self.config, sections)
        self.proc = None
        self.notify = None
        self.log = None

    def start(self, wait=True, env=None, wrapper=()):
        if self.notify:
            self.notify.close()
        sock = self.dir / "notify"
        if sock.exists():
            sock.unlink()
        self.notify = NotifySocket(sock)
        e = dict(os.environ)
        e["NOTIFY_SOCKET"] = str(sock)
        e.pop("JOURNAL_STREAM", None)
        e.update(env or {})
        self.log = open(self.dir / "stderr.log", "ab")
        self.proc = subprocess.Popen([*wrapper, binary("muster-collector"), "--config", str(self.config)],
                                     stdout=self.log, stderr=self.log, env=e)
        self.fleet.procs.append(self.proc)
        if wait:
            try:
                self.notify.wait_for("READY=1", 20)
            except TimeoutError:
                raise TimeoutError(f"collector not ready: {self.stderr()[-2000:]}")
        return self

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            return self.proc.wait(timeout)
        return self.proc.returncode if self.proc else None

    def stderr(self):
        p = self.dir / "stderr.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def wait_log(self, needle, count=1, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stderr().count(needle) >= count:
                return
            time.sleep(0.05)
        raise TimeoutError(f"collector never logged {needle!r} x{count}:\n{self.stderr()[-3000:]}")

    def status(self):
        for m in reversed(self.notify.poll()):
            for line in m.split("\n"):
                if line.startswith("STATUS="):
                    return line[7:]
        return None

    def wait_status(self, pattern, timeout=10):
        """The latest STATUS= once it matches pattern: the datagram is sent
        after the log line, and a thread receives it, so a test that has
        just seen the log waits for the status rather than racing it."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status() or ""
            if re.search(pattern, status) or time.monotonic() >= deadline:
                return status
            time.sleep(0.05)


def node_config(fleet, identity, facts=None, classes=(), interval="300s", broker_url=None):
    """A config for muster-heartbeat of one node; returns its path."""
    d = fleet.root / "hb" / identity
    (d / "facts.d").mkdir(parents=True)
    (d / "facts.d" / "facts.json").write_text(json.dumps(facts or {}))
    (d / "classes.txt").write_text("".join(c + "\n" for c in classes))
    conf = d / "muster.conf"
    write_config(conf, {
        "main": {"identity": identity, "collective": fleet.collective, "log_target": "console"},
        "broker": {"url": broker_url or fleet.broker_url, "connect_timeout": "2s"},
        "security": {"psk_file": fleet.psk},
        "responder": {"facts_dir": d / "facts.d", "classes_file": d / "classes.txt"},
        "client": {"timeout": "5s"},
        "heartbeat": {"interval": interval},
    })
    return conf


def heartbeat(conf, timeout=30, wrapper=()):
    e = dict(os.environ)
    e.pop("JOURNAL_STREAM", None)
    return subprocess.run([*wrapper, binary("muster-heartbeat"), "--config", str(conf)], capture_output=True,
                          text=True, timeout=timeout, env=e)


def build_registration(identity, collective="muster", msgtime=None, interval=300, facts=None):
    return {
        "protocol": "muster:registration:1",
        "identity": identity,
        "collective": collective,
        "msgtime": int(time.time()) if msgtime is None else msgtime,
        "interval": interval,
        "facts": facts or {},
        "classes": [],
        "agents": ["discovery"],
        "version": "test",
    }
