#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A private RabbitMQ node for the integration tests and the demo.

    with Broker() as broker:          # or b = Broker(); b.start(); ...; b.stop()
        broker.url                    # amqp://guest:guest@127.0.0.1:PORT/
        broker.publish("", "q", b"x", headers={"k": "v"})
        broker.list_queues()          # [(name, messages, consumers), ...]
        broker.restart()              # same port, same data dir
        broker.kill(); broker.start_again()

Each Broker gets its own temp dir under /tmp, its own AMQP, Erlang
distribution and epmd ports (all bound to 127.0.0.1 only), its own Erlang
cookie and an empty plugin list. Nothing system-wide is touched: not the
system epmd on 4369, not /var/lib/rabbitmq, not /etc/rabbitmq. Brokers are
stopped on exit, on SIGINT/SIGTERM and when a `with` block raises.

Only the standard library is needed; pika (Debian's python3-pika) is used
for publish()/get()/declare_queue() when importable, amqp-tools otherwise.

Command line, for scripts that need a broker outliving the command:

    python3 harness.py start --state FILE   # prints the URL, writes JSON state
    python3 harness.py stop --state FILE    # stops it, removes its dir
"""

import argparse
import atexit
import collections
import glob
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

try:
    import pika  # Debian: python3-pika
except ImportError:  # pragma: no cover - depends on the interpreter
    pika = None

RABBITMQ_BIN = "/usr/lib/rabbitmq/bin"
SERVER = os.path.join(RABBITMQ_BIN, "rabbitmq-server")
CTL = os.path.join(RABBITMQ_BIN, "rabbitmqctl")
MARKER = "MUSTER_TEST_BROKER"       # env var set on every process of a node
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
AVOID_PORTS = {4369, 5671, 5672, 15672, 25672, 61613, 61614, 1883, 8883}
AVOID_PORTS |= set(range(35672, 35683))   # rabbitmqctl's default dist ports

Message = collections.namedtuple("Message", "body headers properties")


class BrokerError(RuntimeError):
    pass


class _PortClash(BrokerError):
    pass


# --------------------------------------------------------------------------
# process helpers


def _proc_state(pid):
    """The /proc state letter of pid, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3].decode()


def _alive(pid):
    return pid is not None and _proc_state(pid) not in (None, "Z", "X")


def _proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _proc_starttime(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def marked_processes(broker_id):
    """Pids of live processes whose environment carries this broker's marker:
    the rabbitmq-server wrapper, beam.smp, erl_child_setup, epmd,
    inet_gethost, the disk monitor, rabbitmqctl runs ..."""
    needle = f"{MARKER}={broker_id}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle in env.split(b"\0") and _alive(int(name)):
            found.append(int(name))
    return found


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pids, timeout, popens=()):
    deadline = time.monotonic() + timeout
    while True:
        for p in popens:
            if p is not None:
                p.poll()        # reap our own children so they do not linger as zombies
        left = [p for p in pids if _alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


# --------------------------------------------------------------------------
# ports


def _local_port_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_taken_ports = set()     # handed out by this process and still in use
_ports_lock = threading.RLock()   # re-entrant: the signal handler may stop brokers


def _port_is_free(port):
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0")):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def pick_ports(n):
    """n distinct free TCP ports on 127.0.0.1, chosen at random below the
    kernel's ephemeral range (so an outgoing connection cannot grab the
    port while the broker is down during a restart) and away from the
    well-known RabbitMQ/epmd ports."""
    lo_eph, hi_eph = _local_port_range()
    lo, hi = (10000, lo_eph - 1) if lo_eph > 12000 else (hi_eph + 1, 65535)
    rng = random.SystemRandom()
    out = []
    with _ports_lock:
        for _ in range(2000):
            port = rng.randint(lo, hi)
            if port in AVOID_PORTS or port in _taken_ports or port in out:
                continue
            if _port_is_free(port):
                out.append(port)
                if len(out) == n:
                    _taken_ports.update(out)
                    return out
    raise BrokerError("could not find free TCP ports")


def _amqp_answers(port, timeout=1.0):
    """True if something on 127.0.0.1:port answers the AMQP 0-9-1 protocol
    header with a Connection.Start method frame."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"AMQP\x00\x00\x09\x01")
            head = b""
            while len(head) < 11:
                chunk = s.recv(11 - len(head))
                if not chunk:
                    return False
                head += chunk
            # frame type 1 (method), channel 0, class 10 (connection), method 10 (start)
            return head[0] == 1 and head[1:3] == b"\0\0" and head[7:11] == b"\0\x0a\0\x0a"
    except OSError:
        return False


def epmd_names(port, timeout=1.0):
    """Node names registered with the epmd on 127.0.0.1:port ({} if none)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"\x00\x01n")     # NAMES_REQ
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"name (\S+) at port (\d+)", data[4:].decode(errors="replace"))}


# --------------------------------------------------------------------------
# a trimmed RABBITMQ_HOME: only the applications the core broker needs
#
# rabbitmq-server puts every directory under $RABBITMQ_HOME/plugins (about
# 70 applications) on the Erlang code path, and at boot RabbitMQ loads
# every module of every loaded application to find boot steps and feature
# flags; each module lookup walks the whole code path. With only the ~20
# applications the core needs on the path, a node boots about twice as
# fast. Set MUSTER_BROKER_FULL_HOME=1 to use the stock layout.


def _rabbitmq_home():
    return os.path.dirname(os.path.dirname(os.path.realpath(SERVER)))


def _app_deps(plugins_dir, app_dirs, app):
    if app not in app_dirs:
        return []
    with open(os.path.join(plugins_dir, app_dirs[app], "ebin", app + ".app")) as f:
        text = f.read()
    deps = []
    for key in ("applications", "included_applications", "optional_applications"):
        m = re.search(r"\{\s*" + key + r"\s*,\s*\[([^\]]*)\]", text)
        if m:
            deps += [d.strip() for d in m.group(1).split(",") if d.strip()]
    return deps


def _make_slim_home(dest, extra_apps=()):
    home = _rabbitmq_home()
    plugins = os.path.join(home, "plugins")
    app_dirs = {}
    for d in os.listdir(plugins):
        if os.path.isdir(os.path.join(plugins, d)) and os.path.isdir(os.path.join(plugins, d, "ebin")):
            app_dirs[d.rsplit("-", 1)[0]] = d
    needed, todo = set(), ["rabbit", "rabbitmq_prelaunch", *extra_apps]
    while todo:
        app = todo.pop()
        if app not in needed:
            needed.add(app)
            todo += _app_deps(plugins, app_dirs, app)
    if "rabbit" not in needed or "rabbit" not in app_dirs:
        raise BrokerError("cannot find the rabbit application")
    os.makedirs(os.path.join(dest, "plugins"))
    for sub in ("sbin", "escript"):
        os.symlink(os.path.join(home, sub), os.path.join(dest, sub))
    for app in sorted(needed & set(app_dirs)):
        os.symlink(os.path.join(plugins, app_dirs[app]), os.path.join(dest, "plugins", app_dirs[app]))
    return dest


# --------------------------------------------------------------------------
# every live Broker of this process is stopped at exit and on SIGINT/SIGTERM

_live = set()
_live_lock = threading.RLock()
_prev_handlers = {}
_atexit_registered = False


def stop_all(timeout=5.0):
    with _live_lock:
        brokers = [b for b in _live if b._owner_pid == os.getpid()]   # not after a fork
    for b in brokers:
        try:
            b.stop(timeout=timeout)
        except Exception as e:  # keep going: stop the others
            print(f"harness: stopping {b.node}: {e}", file=sys.stderr)


def _on_signal(signum, frame):
    stop_all(timeout=3.0)
    prev = _prev_handlers.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)           # SIGINT: default_int_handler raises KeyboardInterrupt
        return
    if prev == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)      # die of the same signal


def _install_handlers():
    """atexit hook, and SIGINT/SIGTERM/SIGHUP handlers that stop every live
    broker of this process, then let the signal do what it did before."""
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(stop_all)
    if _prev_handlers or threading.current_thread() is not threading.main_thread():
        return                        # done already, or not possible from this thread
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        prev = signal.getsignal(sig)
        if prev is None:
            prev = signal.SIG_DFL
        if sig == signal.SIGHUP and prev != signal.SIG_DFL:
            continue                  # somebody else's SIGHUP policy
        _prev_handlers[sig] = prev
        signal.signal(sig, _on_signal)


def cleanup_stale(name_prefix="muster-test"):
    """Stop and remove brokers left behind by test processes that died
    without cleaning up (SIGKILL, OOM). Brokers started with the CLI
    ("detached") and brokers whose owner still runs are left alone."""
    for d in glob.glob(os.path.join("/tmp", name_prefix + "-*")):
        try:
            with open(os.path.join(d, "owner.json")) as f:
                owner = json.load(f)
        except (OSError, ValueError):
            continue
        if owner.get("detached"):
            continue
        pid = owner.get("pid")
        if _alive(pid) and _proc_starttime(pid) == owner.get("starttime"):
            continue
        pids = marked_processes(owner.get("id", "\0"))
        for p in pids:
            _signal(p, signal.SIGKILL)
        _wait_gone(pids, 5)
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------


class Broker:
    """A private RabbitMQ node on 127.0.0.1.

    Attributes once started: port (AMQP), dist_port, epmd_port, url, node,
    dir, env (the environment for rabbitmqctl & co), pids
    ({"server", "beam", "epmd"}), start_seconds/stop_seconds (last timings).
    """

    def __init__(self, name_prefix="muster-test", port=None, plugins=(), rabbit_env=(), erl_args=()):
        # rabbit_env: extra {Key, Value} terms for the rabbit application
        # (Erlang terms as text, e.g. ("vm_memory_high_watermark", "0.7")).
        # erl_args: extra emulator flags, e.g. ("+sbwt", "none").
        self.rabbit_env = tuple(rabbit_env)
        self.erl_args = tuple(erl_args)
        self.name_prefix = re.sub(r"[^A-Za-z0-9_-]", "-", name_prefix) or "muster-test"
        self._fixed_port = port      # AMQP port to use instead of a random free one
        self.plugins = tuple(plugins)  # enabled at boot, e.g. ("rabbitmq_federation",)
        self.port = self.dist_port = self.epmd_port = None
        self.url = self.node = self.dir = None
        self.env = {}
        self.id = None
        self.detached = False
        self.start_seconds = self.stop_seconds = None
        self._server = None          # Popen of the rabbitmq-server wrapper
        self._epmd = None            # Popen of the node's private epmd
        self._server_pid = self._epmd_pid = None
        self._lock = threading.RLock()
        self._owner_pid = os.getpid()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("rabbitmq")
            self._uid, self._gid = pw.pw_uid, pw.pw_gid
            self._user_kw = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        else:
            self._uid = self._gid = None
            self._user_kw = {}

    # -- context manager ----------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def __repr__(self):
        return f"<Broker {self.node} {self.url}>"

    # -- paths --------------------------------------------------------------

    @property
    def log_file(self):
        return os.path.join(self.dir, "log", "rabbit.log")

    @property
    def pid_file(self):
        return os.path.join(self.dir, "rabbitmq.pid")

    @property
    def server_out(self):
        return os.path.join(self.dir, "server.out")

    @property
    def pids(self):
        return {"server": self._server_pid, "beam": self.beam_pid(), "epmd": self._epmd_pid}

    def beam_pid(self):
        """Pid of the node's Erlang VM (beam.smp), or None if it is not running."""
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
            if _alive(pid) and _proc_comm(pid).startswith("beam"):
                return pid
        except (OSError, ValueError, TypeError):
            pass
        if self.id:
            for pid in marked_processes(self.id):
                if _proc_comm(pid).startswith("beam"):
                    return pid
        return None

    def log_tail(self, lines=40):
        if not self.dir:
            return "(no broker dir)"
        out = []
        for path in (self.server_out, self.log_file, os.path.join(self.dir, "epmd.out")):
            try:
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-lines:]
            except (OSError, TypeError):
                continue
            if tail:
                out.append(f"--- {path}\n" + "".join(tail))
        return "\n".join(out) or "(no log output)"

    # -- start --------------------------------------------------------------

    def start(self, timeout=START_TIMEOUT, await_ctl=False):
        """Start the node and wait until it accepts AMQP connections. With
        await_ctl, also wait for `rabbitmqctl await_startup` to succeed
        (costs a CLI run, about a second)."""
        with self._lock:
            if self.dir is not None:
                raise BrokerError(f"{self!r} is already started")
            _install_handlers()
            try:
                cleanup_stale(self.name_prefix)
            except Exception:
                pass
            with _live_lock:
                _live.add(self)
            t0 = time.monotonic()
            try:
                for attempt in range(3):
                    self._prepare()
                    try:
                        self._launch(t0 + timeout)
                        break
                    except _PortClash:
                        if attempt == 2:
                            raise
                        self._kill_processes(timeout=5, include_epmd=True)
                        self._remove_dir()
                if await_ctl:
                    self.await_ctl(t0 + timeout - time.monotonic())
            except BaseException:
                self.stop(timeout=5)
                raise
            self.start_seconds = time.monotonic() - t0
            return self

    def _prepare(self):
        self.id = f"{self.name_prefix}-{os.getpid()}-{random.SystemRandom().randrange(16**6):06x}"
        self.node = f"{self.id}@localhost"
        self.dir = tempfile.mkdtemp(prefix=self.name_prefix + "-", dir="/tmp")
        if self._fixed_port:
            if not _port_is_free(self._fixed_port):
                raise BrokerError(f"port {self._fixed_port} is in use")
            self.port = self._fixed_port
            self.dist_port, self.epmd_port = pick_ports(2)
        else:
            self.port, self.dist_port, self.epmd_port = pick_ports(3)
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        d = self.dir
        for sub in ("mnesia", "log"):
            os.mkdir(os.path.join(d, sub))
        cookie = os.urandom(20).hex().upper()
        self._write(".erlang.cookie", cookie, 0o400)
        self._write("enabled_plugins", f"[{','.join(self.plugins)}].\n")
        self._write("rabbitmq-env.conf", "")
        # Classic Erlang-term config: no .conf file for cuttlefish to parse.
        extra_rabbit = "".join(f",\n   {{{k}, {v}}}" for k, v in self.rabbit_env)
        self._write("rabbitmq.config", f"""\
%% Written by tests/integration/harness.py for {self.node}
[
 {{rabbit, [
   {{loopback_users, []}},
   {{tcp_listeners, [{{"127.0.0.1", {self.port}}}]}},
   {{ssl_listeners, []}},
   {{default_user, <<"guest">>}},
   {{default_pass, <<"guest">>}},
   {{disk_free_limit, 5000000}},
   {{log, [{{file, [{{level, info}}]}}, {{console, [{{enabled, false}}]}}]}}{extra_rabbit}
 ]}},
 {{kernel, [{{inet_dist_use_interface, {{127,0,0,1}}}}]}}
].
""")
        with open(os.path.join(d, "owner.json"), "w") as f:
            json.dump({"pid": os.getpid(), "starttime": _proc_starttime(os.getpid()),
                       "id": self.id, "detached": self.detached}, f)
        dist_if = "-kernel inet_dist_use_interface {127,0,0,1}"
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": d,                          # the private ~/.erlang.cookie
            # The same cookie for CLI tools run through Debian's /usr/sbin
            # wrappers, which su to rabbitmq and so reset HOME.
            "RABBITMQ_ERLANG_COOKIE": cookie,
            MARKER: self.id,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
            "RABBITMQ_LOGS": os.path.join(d, "log", "rabbit.log"),
            "RABBITMQ_PID_FILE": os.path.join(d, "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq.config"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(d, "advanced.config"),  # absent
            "RABBITMQ_CONF_ENV_FILE": os.path.join(d, "rabbitmq-env.conf"),       # empty
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": " ".join((dist_if,) + self.erl_args),
            # rabbitmqctl: loopback only, any free port for its own dist listener
            "RABBITMQ_CTL_ERL_ARGS": dist_if,
            "RABBITMQ_CTL_DIST_PORT_MIN": "0",
            "RABBITMQ_CTL_DIST_PORT_MAX": "0",
        }
        if os.environ.get("MUSTER_BROKER_FULL_HOME") != "1":
            try:
                home = _make_slim_home(os.path.join(d, "rabbitmq-home"), self.plugins)
                env["RABBITMQ_SCRIPTS_DIR"] = os.path.join(home, "sbin")
                env["RABBITMQ_PLUGINS_DIR"] = os.path.join(home, "plugins")
            except Exception as e:
                print(f"harness: using the stock RABBITMQ_HOME ({e})", file=sys.stderr)
        self.env = env
        if self._uid is not None:
            for root, dirs, files in os.walk(d):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.lchown(name, self._uid, self._gid)

    def _write(self, name, text, mode=0o644):
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def _popen(self, argv, out_name):
        # The server and epmd read the cookie from $HOME; RABBITMQ_ERLANG_COOKIE
        # would only make the server log an "overriding Erlang cookie" warning.
        env = {k: v for k, v in self.env.items() if k != "RABBITMQ_ERLANG_COOKIE"}
        out = open(os.path.join(self.dir, out_name), "ab")
        try:
            return subprocess.Popen(argv, env=env, cwd=self.dir, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, **self._user_kw)
        finally:
            out.close()

    def _ensure_epmd(self, deadline):
        if _alive(self._epmd_pid):
            return
        epmd = shutil.which("epmd", path=self.env["PATH"]) or "epmd"
        self._epmd = self._popen([epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1"], "epmd.out")
        self._epmd_pid = self._epmd.pid
        while epmd_names(self.epmd_port, 0.2) is None:
            if self._epmd.poll() is not None:
                raise _PortClash(f"epmd on port {self.epmd_port} exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise BrokerError(f"epmd on port {self.epmd_port} did not start")
            time.sleep(0.02)

    def _launch(self, deadline):
        self._ensure_epmd(deadline)
        # After a kill, wait until epmd has noticed the old node is gone.
        short = self.id
        while short in (epmd_names(self.epmd_port) or {}) and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            os.unlink(self.pid_file)
        except OSError:
            pass
        self._server = self._popen([SERVER], "server.out")
        self._server_pid = self._server.pid
        while True:
            if self._server.poll() is not None:
                tail = self.log_tail()
                cls = _PortClash if re.search(r"eaddrinuse|address already in use", tail, re.I) else BrokerError
                raise cls(f"rabbitmq-server {self.node} exited with status "
                          f"{self._server.returncode} while starting:\n{tail}")
            if _amqp_answers(self.port):
                return
            if time.monotonic() > deadline:
                raise BrokerError(f"rabbitmq-server {self.node} not ready on port {self.port} "
                                  f"in time:\n{self.log_tail()}")
            time.sleep(0.1)

    def await_ctl(self, timeout=30.0):
        """Poll `rabbitmqctl await_startup` until it succeeds (it exits 69
        at once while the node is still booting)."""
        deadline = time.monotonic() + max(timeout, 1.0)
        while True:
            r = self.ctl("await_startup", "--timeout", "10", timeout=30)
            if r.returncode == 0:
                return r
            if time.monotonic() > deadline:
                raise BrokerError(f"rabbitmqctl await_startup: exit {r.returncode}\n"
                                  f"{r.stdout}{r.stderr}\n{self.log_tail()}")
            time.sleep(0.2)

    # -- stop ---------------------------------------------------------------

    def _node_pids(self, include_epmd):
        pids = set(marked_processes(self.id)) if self.id else set()
        for p in (self._server_pid, self.beam_pid() if self.dir else None):
            if _alive(p):
                pids.add(p)
        if include_epmd:
            if _alive(self._epmd_pid):
                pids.add(self._epmd_pid)
        else:
            pids = {p for p in pids if p != self._epmd_pid and _proc_comm(p) != "epmd"}
        return pids

    def _kill_processes(self, timeout=STOP_TIMEOUT, include_epmd=True):
        """SIGTERM the node's VM (RabbitMQ shuts down cleanly on it), SIGKILL
        whatever of the node is left after timeout. The data dir stays."""
        popens = (self._server, self._epmd)
        beam = self.beam_pid() if self.dir else None
        first = beam or (self._server_pid if _alive(self._server_pid) else None)
        if first:
            _signal(first, signal.SIGTERM)
            _wait_gone([p for p in (beam, self._server_pid) if p], timeout, popens)
        if include_epmd and _alive(self._epmd_pid):
            _signal(self._epmd_pid, signal.SIGTERM)
            _wait_gone([self._epmd_pid], 2, popens)
        left = self._node_pids(include_epmd)
        if left:
            for p in left:
                _signal(p, signal.SIGKILL)
            left = _wait_gone(left, 5, popens)
        for p in popens:
            if p is not None and p.poll() is None and (p is self._server or include_epmd):
                try:
                    p.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
        self._server = None
        if include_epmd:
            self._epmd = None
            self._epmd_pid = None
        return left

    def _remove_dir(self):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        with _ports_lock:
            _taken_ports.difference_update({self.port, self.dist_port, self.epmd_port})
        self.dir = None

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop the node (SIGTERM, then SIGKILL after timeout; timeout=0
        kills at once), its epmd and every other process of it; remove its
        temp dir. Idempotent."""
        with self._lock:
            t0 = time.monotonic()
            try:
                if self.dir is not None or self._server_pid or self._epmd_pid:
                    self._kill_processes(timeout=timeout, include_epmd=True)
            finally:
                self._remove_dir()
                with _live_lock:
                    _live.discard(self)
            self.stop_seconds = time.monotonic() - t0

    # -- faults and restarts --------------------------------------------------

    def kill(self):
        """SIGKILL every process of the node at once, as a crash would; its
        epmd, ports and data dir stay for start_again()."""
        with self._lock:
            pids = self._node_pids(include_epmd=False)
            for p in pids:
                _signal(p, signal.SIGKILL)
            _wait_gone(pids, 5, (self._server,))
            if self._server is not None:
                self._server.poll()
            self._server = None

    def start_again(self, timeout=START_TIMEOUT):
        """Start the node again on the same ports and data dir (after
        kill(), or after it died)."""
        with self._lock:
            if self.dir is None:
                raise BrokerError("start_again() needs a broker that was started and not stopped")
            if _alive(self.beam_pid()):
                raise BrokerError(f"{self.node} is still running")
            leftovers = self._node_pids(include_epmd=False)
            for p in leftovers:
                _signal(p, signal.SIGKILL)
            _wait_gone(leftovers, 5)
            t0 = time.monotonic()
            self._launch(t0 + timeout)
            self.start_seconds = time.monotonic() - t0
            return self

    def restart(self, timeout=START_TIMEOUT):
        """Stop the node cleanly and start it again on the same ports and
        data dir: durable queues and persistent messages survive."""
        with self._lock:
            if self.dir is None:
                raise BrokerError("restart() needs a started broker")
            t0 = time.monotonic()
            self._kill_processes(include_epmd=False)
            self.stop_seconds = time.monotonic() - t0
            return self.start_again(timeout)

    def is_running(self):
        return _alive(self.beam_pid()) if self.dir else False

    # -- rabbitmqctl ----------------------------------------------------------

    def ctl_argv(self, *args):
        return [CTL, "-n", self.node, *args]

    def ctl(self, *args, timeout=60, check=False, input=None):
        """Run rabbitmqctl against this node (as the node's user, with its
        environment and cookie); returns the CompletedProcess (text)."""
        return subprocess.run(self.ctl_argv(*args), env=self.env, cwd=self.dir, input=input,
                              capture_output=True, text=True, timeout=timeout, check=check,
                              **self._user_kw)

    def list_queues(self, vhost="/"):
        """[(name, messages, consumers), ...] sorted by name."""
        r = self.ctl("list_queues", "-p", vhost, "-q", "--formatter", "json",
                     "name", "messages", "consumers")
        if r.returncode != 0:
            raise BrokerError(f"rabbitmqctl list_queues: exit {r.returncode}\n{r.stdout}{r.stderr}")
        rows = json.loads(r.stdout or "[]")
        return sorted((q["name"], int(q["messages"] or 0), int(q["consumers"] or 0)) for q in rows)

    def queue_messages(self, name, vhost="/"):
        """Messages ready in queue name, or None if there is no such queue."""
        for q, messages, _ in self.list_queues(vhost):
            if q == name:
                return messages
        return None

    # -- AMQP helpers -------------------------------------------------------------

    @property
    def tools_url(self):
        """The URL for amqp-tools/librabbitmq: amqp_parse_url() reads the
        trailing "/" of url as the empty vhost name, so leave it out."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}"

    def _connect(self):
        params = pika.URLParameters(self.url)
        params.connection_attempts = 3
        params.retry_delay = 0.5
        return pika.BlockingConnection(params)

    def declare_queue(self, name, durable=False, auto_delete=False, arguments=None):
        if pika is not None:
            conn = self._connect()
            try:
                conn.channel().queue_declare(name, durable=durable, auto_delete=auto_delete,
                                             arguments=arguments)
            finally:
                conn.close()
            return
        argv = ["amqp-declare-queue", "-u", self.tools_url, "-q", name]
        if durable:
            argv.append("-d")
        if auto_delete:
            argv.append("-a")
        subprocess.run(argv, check=True, capture_output=True, timeout=30)

    def publish(self, exchange, routing_key, body, headers=None, reply_to=None, **properties):
        """Publish body (bytes) to exchange ("" = the default exchange) with
        routing_key. headers: AMQP table; other properties (pika names:
        content_type, correlation_id, delivery_mode, expiration, message_id,
        timestamp, type, user_id, app_id, ...) need pika."""
        if isinstance(body, str):
            body = body.encode()
        if pika is not None:
            conn = self._connect()
            try:
                ch = conn.channel()
                ch.confirm_delivery()
                ch.basic_publish(exchange, routing_key, body,
                                 pika.BasicProperties(headers=headers, reply_to=reply_to, **properties))
            finally:
                conn.close()
            return
        argv = ["amqp-publish", "-u", self.tools_url, "-e", exchange, "-r", routing_key]
        if reply_to:
            argv += ["-t", reply_to]
        if properties.get("content_type"):
            argv += ["-C", properties.pop("content_type")]
        if properties.get("delivery_mode") == 2:
            properties.pop("delivery_mode")
            argv.append("-p")
        if properties:
            raise BrokerError(f"properties {sorted(properties)} need python3-pika")
        for k, v in (headers or {}).items():
            argv += ["-H", f"{k}: {v}"]
        subprocess.run(argv, input=body, check=True, capture_output=True, timeout=30)

    def get(self, queue):
        """Take one message off queue (auto-ack): Message(body, headers,
        properties) or None if the queue is empty. Without pika, headers and
        properties are None."""
        if pika is not None:
            conn = self._connect()
            try:
                method, props, body = conn.channel().basic_get(queue, auto_ack=True)
            finally:
                conn.close()
            if method is None:
                return None
            return Message(body, props.headers, props)
        r = subprocess.run(["amqp-get", "-u", self.tools_url, "-q", queue], capture_output=True, timeout=30)
        if r.returncode == 0:
            return Message(r.stdout, None, None)
        if r.returncode == 2:      # amqp-get: queue empty
            return None
        raise BrokerError(f"amqp-get: exit {r.returncode}: {r.stderr.decode(errors='replace')}")

    # -- state for the command line ------------------------------------------------

    def state(self):
        return {"port": self.port, "url": self.url, "node": self.node, "dir": self.dir,
                "id": self.id, "dist_port": self.dist_port, "epmd_port": self.epmd_port,
                "pids": self.pids, "env": self.env, "log": self.log_file,
                "ctl": self.ctl_argv(), "user": "rabbitmq" if self._uid is not None else None}

    @classmethod
    def from_state(cls, state):
        b = cls()
        b.port, b.url, b.node, b.dir, b.id = (state[k] for k in ("port", "url", "node", "dir", "id"))
        b.dist_port, b.epmd_port, b.env = state["dist_port"], state["epmd_port"], state["env"]
        b._server_pid = state["pids"].get("server")
        b._epmd_pid = state["pids"].get("epmd")
        b.detached = True
        return b


# --------------------------------------------------------------------------
# running a test file


def main():
    """unittest.main() for the test files, with meson's exit codes: 1 when a
    test failed or none ran; 77 (meson shows SKIP) when a test was skipped and
    none failed, after one "SKIP test: reason" line per skip on stdout; 0 when
    every test ran and passed. A skip never looks like a pass."""
    import unittest
    prog = unittest.main(module="__main__", verbosity=2, exit=False)
    result = prog.result
    sys.stdout.flush()
    sys.stderr.flush()
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun == 0 and not result.skipped:
        print("FAIL: no test ran", flush=True)
        sys.exit(1)
    if result.skipped:
        for test, reason in result.skipped:
            name = test.id() if hasattr(test, "id") else str(test)
            print(f"SKIP {name}: {reason}", flush=True)
        sys.exit(77)
    sys.exit(0)


# --------------------------------------------------------------------------
# command line


def _main(argv=None):
    ap = argparse.ArgumentParser(description="Start or stop a private RabbitMQ node on 127.0.0.1.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start", help="start a detached broker, print its URL")
    p.add_argument("--state", required=True, help="JSON state file to write")
    p.add_argument("--prefix", default="muster-test", help="temp dir and node name prefix")
    p = sub.add_parser("stop", help="stop the broker of a state file and remove its dir")
    p.add_argument("--state", required=True)
    args = ap.parse_args(argv)

    if args.cmd == "start":
        b = Broker(name_prefix=args.prefix)
        b.detached = True
        b.start()
        with _live_lock:
            _live.discard(b)          # outlive this command
        try:
            tmp = args.state + ".tmp"
            # 0600: the env in it carries the node's Erlang cookie
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                json.dump(b.state(), f, indent=2)
                f.write("\n")
            os.replace(tmp, args.state)
        except BaseException:
            b.stop()
            raise
        print(b.url, flush=True)
        print(f"harness: {b.node} ready in {b.start_seconds:.2f} s, dir {b.dir}", file=sys.stderr)
        return 0

    with open(args.state) as f:
        state = json.load(f)
    b = Broker.from_state(state)
    b.stop()
    os.unlink(args.state)
    print(f"harness: {b.node} stopped in {b.stop_seconds:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
