#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The benchmark runner: one full run of the real tools and daemons against
a private RabbitMQ (tests/integration/harness.py) and a node simulator,
recording every figure per round in Bench.results. bench/driver.py is the
command line, bench/report.py turns the results into Markdown.

It builds nothing itself. Everything it starts (the broker, muster-simulator,
broker-floor, muster-responder, muster-collector, clients) is stopped when it
ends, fails or is interrupted; children also die with it (PR_SET_PDEATHSIG).
"""

import contextlib
import ctypes
import json
import urllib.parse
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
from harness import Broker, marked_processes  # noqa: E402
from fleet import NotifySocket, build_registration, signature_headers, write_config  # noqa: E402
from report import summary  # noqa: E402

try:
    import pika  # Debian: python3-pika
except ImportError:  # pragma: no cover
    pika = None

CHECK_DUMMY = "/usr/lib/nagios/plugins/check_dummy"
TIME = "/usr/bin/time"
COLLECTIVE = "muster"
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


class BenchError(RuntimeError):
    pass


class Interrupted(BaseException):
    pass


# --------------------------------------------------------------------------
# processes


def _child_setup(nice):
    def setup():
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if nice:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, nice)
            except OSError:
                pass
    return setup


def clean_env(extra=None):
    e = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "LISTEN_FDS",
                                                            "LISTEN_PID", "LISTEN_FDNAMES")}
    e["LC_ALL"] = "C.UTF-8"
    e.update(extra or {})
    return e


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid):
    """utime + stime of a live process from /proc/PID/stat (all its threads,
    those that exited included), in seconds; None when it is gone. The
    kernel counts in ticks (10 ms here), which the rounds' figures (tens of
    ms at 10 nodes, seconds at 10,000) easily carry."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # after the comm: state is field 3, utime 14 and stime 15 (1-based)
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def proc_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile, RssShmem (KiB) and Pss, Pss_Anon (KiB) of pid."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    out[k] = int(v.split()[0])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Pss", "Pss_Anon", "Pss_File"):
                    out[k] = int(v.split()[0])
    except (OSError, ValueError):
        pass
    return out


def proc_rss_by_mapping(pid):
    """Rss (KiB) per mapped file ("[anon]" for the rest), largest first."""
    rows = {}
    cur = "[anon]"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                parts = line.split()
                if parts and "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                    cur = os.path.basename(parts[5]) if len(parts) > 5 and parts[5].startswith("/") else "[anon]"
                elif line.startswith("Rss:"):
                    rows[cur] = rows.get(cur, 0) + int(parts[1])
    except (OSError, ValueError, IndexError):
        pass
    return sorted(rows.items(), key=lambda kv: -kv[1])


def write_registration(registry, identity, facts):
    """A registry file for a real responder, as the collector would write it."""
    reg = build_registration(identity, COLLECTIVE, facts=facts)
    reg.update(agents=["discovery", "rpcutil", "nrpe"], received=reg["msgtime"])
    reg.pop("version")
    with open(os.path.join(registry, identity), "w") as f:
        json.dump(reg, f)


def machine_busy_seconds():
    with open("/proc/stat") as f:
        parts = f.readline().split()
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in parts[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Procs:
    """Long-running helper processes; all stopped by stop_all()."""

    def __init__(self, nice):
        self.nice = nice
        self.procs = []

    def start(self, argv, stdout, stderr, env=None):
        p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                             env=clean_env(env), preexec_fn=_child_setup(self.nice))
        self.procs.append(p)
        return p

    def stop(self, p, timeout=30):
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                self.stop(p, timeout=10)
            except Exception as e:  # keep going
                print(f"driver: stopping {p.args[0]}: {e}", file=sys.stderr)
        self.procs = []


class Run:
    """One timed run of a whole process."""

    def __init__(self, argv, wall, status, stdout, stderr, maxrss_kib, cpu):
        self.argv, self.wall, self.status = argv, wall, status
        self.stdout, self.stderr, self.maxrss_kib, self.cpu = stdout, stderr, maxrss_kib, cpu


def run_timed(argv, tmpdir, timeout, nice, env=None):
    """Run argv to completion: wall time from spawn to exit; max RSS and CPU
    time of the child from GNU time. (wait4() from here would not do: the
    kernel keeps the larger of the pre-exec and the post-exec peak RSS, and
    before exec the child is a copy of this Python process. time(1) is
    small, so its copy never exceeds what the tool itself uses.)"""
    out_path = os.path.join(tmpdir, "run.out")
    err_path = os.path.join(tmpdir, "run.err")
    time_path = os.path.join(tmpdir, "run.time")
    full = [TIME, "-q", "-f", "%M %U %S", "-o", time_path, *argv]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=clean_env(env),
                             preexec_fn=_child_setup(nice))
        pidfd = os.pidfd_open(p.pid)
        try:
            ready, _, _ = select.select([pidfd], [], [], timeout)
            if not ready:
                p.kill()
            # rusage of time(1) includes the tool it waited for: CPU to the microsecond.
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.monotonic() - t0
        finally:
            os.close(pidfd)
        p.returncode = os.waitstatus_to_exitcode(status)
        if not ready:
            raise BenchError(f"{argv[0]} timed out after {timeout}s")
    with open(out_path, "rb") as f:
        stdout = f.read().decode(errors="replace")
    with open(err_path, "rb") as f:
        stderr = f.read().decode(errors="replace")
    with open(time_path) as f:
        fields = f.read().split("\n")[-2].split()
    return Run(argv, wall, p.returncode, stdout, stderr, int(fields[0]), ru.ru_utime + ru.ru_stime)


# --------------------------------------------------------------------------
# check_mcollective against find(1), shared by Bench and bench/check-mcollective.py

FIND_MMIN = "+5.5"  # older than --interval 300 + 30 s, the same question


def make_check_directory(d, n, stale_share=100):
    """n node files in d (made when missing), 1 in stale_share an hour old,
    the others 10 s old: set again on every call, so that a directory kept
    for minutes still has the same stale ones. Returns how many are stale."""
    os.makedirs(d, exist_ok=True)
    now = time.time()
    stale = n // stale_share
    for i in range(n):
        path = os.path.join(d, f"node{i:06d}")
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b'{"identity":"x"}\n')
            os.close(fd)
        t = now - 3600 if i < stale else now - 10
        os.utime(path, (t, t))
    return stale


def check_vs_find(check, d, n, stale, rounds, timed):
    """check_mcollective and `find DIR -type f -mmin +5.5` on the same warm
    directory, run for run in turn, which one goes first alternating round
    by round. timed(argv) returns a Run (wall and the child's CPU from its
    rusage). One untimed run of each first warms the caches for both. The
    ratios are taken round by round (each pair ran seconds apart under the
    same load): their median is the figure, their min-max the spread."""
    argv = [check, "--directory", d, "--interval", "300"]
    find = ["/usr/bin/find", d, "-type", "f", "-mmin", FIND_MMIN]
    notes = []
    first = timed(argv)
    timed(find)
    walls, cpus, maxrss, fwalls, fcpus = [], [], [], [], []
    for i in range(rounds):
        if i % 2 == 0:
            r = timed(argv)
            f = timed(find)
        else:
            f = timed(find)
            r = timed(argv)
        if f.status != 0 or len(f.stdout.splitlines()) != stale:
            notes.append(f"find -mmin listed {len(f.stdout.splitlines())} files, expected {stale}")
        if not r.stdout.startswith(f"CRITICAL: {stale} / {n} hosts"):
            notes.append(f"check_mcollective printed {r.stdout.strip()[:100]!r} in round {i + 1}")
        walls.append(r.wall * 1000)
        cpus.append(r.cpu * 1000)
        maxrss.append(r.maxrss_kib)
        fwalls.append(f.wall * 1000)
        fcpus.append(f.cpu * 1000)
    out = first.stdout.strip()
    expected = f"CRITICAL: {stale} / {n} hosts"
    if not out.startswith(expected):
        notes.append(f"check_mcollective printed {out!r}, expected {expected!r}...")
    ratios = [a / b for a, b in zip(walls, fwalls) if b > 0]
    cpu_ratios = [a / b for a, b in zip(cpus, fcpus) if b > 0]
    return {"files": n, "rounds": rounds, "first_ms": first.wall * 1000, "wall": summary(walls),
            "cpu": summary(cpus), "find_wall": summary(fwalls), "find_cpu": summary(fcpus),
            "ratios": ratios, "cpu_ratios": cpu_ratios, "ratio_wall": summary(ratios),
            "ratio_cpu": summary(cpu_ratios), "maxrss_kib": max(maxrss), "output": out, "notes": notes}


def wait_line(path, prefix, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(prefix):
                        return line.strip()
        except OSError:
            pass
        if proc.poll() is not None:
            raise BenchError(f"{proc.args[0]} exited with {proc.returncode} before printing {prefix!r}")
        time.sleep(0.05)
    raise BenchError(f"{proc.args[0]} did not print {prefix!r} within {timeout}s")


# --------------------------------------------------------------------------
# the benchmark


# Erlang schedulers spin a while when they run out of work before they
# sleep: CPU the broker reports without doing anything. --broker-busy-wait
# none turns the spin off.
BUSY_WAIT_OFF = ("+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none")


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.nice = args.nice
        self.procs = Procs(self.nice)
        self.broker = None
        self.tmp = tempfile.mkdtemp(prefix="muster-bench-", dir=args.tmpdir)
        self.psk = os.path.join(self.tmp, "psk")
        with open(self.psk, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(self.psk, 0o600)
        self.nrpe_dir = os.path.join(self.tmp, "nrpe.d")
        os.mkdir(self.nrpe_dir)
        with open(os.path.join(self.nrpe_dir, "bench.cfg"), "w") as f:
            # check_sim is answered in-process by the simulator; check_dummy is executed.
            f.write(f"command[check_dummy]={CHECK_DUMMY} 0 'OK - dummy'\n")
            f.write(f"command[check_sim]={CHECK_DUMMY} 0 'OK - not run'\n")
        self.results = {}      # (scenario, N) -> dict of lists
        self.notes = []
        self.extra = {}        # other measurements
        self.background = []   # cores busy outside the benchmark, per run
        self.roles = {}        # pid -> "simulator", "floor", ...
        self.idle_rate = {}    # pid -> CPU seconds per second when idle

    # -- paths and configs ------------------------------------------------

    def binary(self, name):
        for sub in ("bench", "tools", "daemons"):
            p = os.path.join(self.build, sub, name)
            if os.path.exists(p):
                return p
        raise BenchError(f"{name} not found in {self.build}; configure it with -Dbench=true and build it")

    def config(self, name, sections):
        path = os.path.join(self.tmp, name)
        write_config(path, sections)
        return path

    def base_sections(self, identity="monitor"):
        return {
            "main": {"identity": identity, "collective": COLLECTIVE, "log_level": "notice",
                     "log_target": "console"},
            "broker": {"url": self.broker.url, "heartbeat": "60s", "connect_timeout": "10s"},
            "security": {"psk_file": self.psk},
        }

    def client_config(self, registry_dir, ttl=None):
        s = self.base_sections()
        if ttl:
            s["security"]["ttl"] = ttl
        s["client"] = {"discovery_method": "broadcast", "discovery_timeout": "2s", "timeout": "1000s",
                       "registry_dir": registry_dir}
        return self.config(f"client-{os.path.basename(registry_dir)}.conf", s)

    def sim_config(self):
        s = self.base_sections("simulator")
        s["responder"] = {"control_socket": "", "facts_dir": os.path.join(self.tmp, "none"),
                          "classes_file": os.path.join(self.tmp, "none")}
        s["nrpe"] = {"command_dir": self.nrpe_dir, "command_timeout": "60s"}
        return self.config("sim.conf", s)

    # -- helpers ----------------------------------------------------------

    def our_pids(self):
        """pid -> role of every process of ours that is running."""
        pids = {p: "broker" for p in marked_processes(self.broker.id)} if self.broker and self.broker.id else {}
        for p in self.procs.procs:
            if p.poll() is None:
                pids[p.pid] = self.roles.get(p.pid, "other")
        return pids

    def measure_idle(self, seconds=3.0):
        """CPU per second each of our daemons burns when nobody asks anything
        (the broker's timers for thousands of queues, heartbeats), so that it
        is not charged to whichever run happens to last longest. Measured
        once the broker has finished hibernating what the warm-up woke (the
        lowest rate over a few windows), so that the trailing work is not
        taken for idle."""
        pids = self.our_pids()
        best = None
        for _ in range(4):
            c0 = {p: proc_cpu_seconds(p) or 0.0 for p in pids}
            t0 = time.monotonic()
            time.sleep(seconds)
            dt = time.monotonic() - t0
            rate = {p: max(0.0, ((proc_cpu_seconds(p) or c0[p]) - c0[p]) / dt) for p in pids}
            if best is None or sum(rate.values()) < sum(best.values()):
                best = rate
        self.idle_rate = best
        return sum(best.values())

    def timed(self, argv, timeout=300, env=None, n=0):
        """run_timed() plus the CPU time every process of ours spent for it
        (r.cpu_by_role, seconds, less their idle rate), and how busy the
        machine was outside them. The broker, the simulator and the floor
        keep working a little after the client is gone (acks, queue
        bookkeeping); that trailing work is counted too, by waiting until
        they are back at their idle rate, so that a client that exits at once
        and one that waits out --dt are charged alike."""
        pids = self.our_pids()
        idle = {p: self.idle_rate.get(p, 0.0) for p in pids}
        t0 = time.monotonic()
        cpu0 = {p: proc_cpu_seconds(p) or 0.0 for p in pids}
        busy0 = machine_busy_seconds()
        r = run_timed(argv, self.tmp, timeout, self.nice, env)
        busy1 = machine_busy_seconds()
        cpu1 = {p: proc_cpu_seconds(p) or cpu0[p] for p in pids}
        if r.wall > 0.05:
            ours = r.cpu + sum(cpu1[p] - cpu0[p] for p in pids)
            self.background.append(max(0.0, busy1 - busy0 - ours) / r.wall)
        # Settle: the broker keeps working for seconds after a round that
        # touched every queue (each woken queue process hibernates again
        # after a backoff of 1 to 10 s, a garbage collection apiece, and its
        # 5 s RAM-duration timer fires once more: at 10,000 nodes 1-2 CPU
        # seconds spread over up to 15 s). That work is the round's, so for
        # a fleet of n >= 1000 wait at least SETTLE_MIN_S (spread thin over
        # 15 s, 1,000 queues' hibernation is below any quiet margin: without
        # a floor the settle stopped in it and the next run paid for it),
        # then until QUIET_WINDOWS consecutive windows of QUIET_WINDOW_S each
        # are back within QUIET_MARGIN of a CPU of the idle rate, up to
        # SETTLE_MAX_S (SETTLE_MAX_LARGE_S above 20,000 nodes, where that
        # work is CPU-bound and lasts longer); otherwise (small fleets,
        # single programs) one window of 0.1 s.
        if n >= 1000:
            self.settle(pids, idle, cpu0, self.QUIET_WINDOWS, self.QUIET_WINDOW_S,
                        self.SETTLE_MAX_LARGE_S if n > 20000 else self.SETTLE_MAX_S, self.SETTLE_MIN_S, t0)
        else:
            self.settle(pids, idle, cpu0, 1, 0.1, 10)
        elapsed = time.monotonic() - t0
        r.cpu_by_role = {"client": r.cpu}
        for p, role in pids.items():
            d = (proc_cpu_seconds(p) or cpu0[p]) - cpu0[p] - idle[p] * elapsed
            r.cpu_by_role[role] = r.cpu_by_role.get(role, 0.0) + max(0.0, d)
        return r

    QUIET_WINDOW_S = 0.5
    QUIET_WINDOWS = 8
    QUIET_MARGIN = 0.04
    SETTLE_MAX_S = 40
    SETTLE_MAX_LARGE_S = 60
    SETTLE_MIN_S = 15

    def settle(self, pids, idle, cpu0, windows, window_s, max_s, min_s=0.0, t_start=None):
        """Wait until `windows` consecutive windows are quiet and at least
        min_s have passed since t_start (the run's start), at most max_s
        after the run."""
        deadline = time.monotonic() + max_s
        not_before = (t_start if t_start is not None else time.monotonic()) + min_s
        prev, t_prev = sum(proc_cpu_seconds(p) or cpu0[p] for p in pids), time.monotonic()
        quiet = 0
        while time.monotonic() < deadline and (quiet < windows or time.monotonic() < not_before):
            time.sleep(window_s)
            now, t_now = sum(proc_cpu_seconds(p) or cpu0[p] for p in pids), time.monotonic()
            quiet = quiet + 1 if now - prev <= (sum(idle.values()) + self.QUIET_MARGIN) * (t_now - t_prev) else 0
            prev, t_prev = now, t_now
        if quiet < windows and windows > 1:
            self.notes.append(f"not settled within {max_s} s after a run")

    def record_cpu(self, scenario, n, r, nodes_role):
        c = r.cpu_by_role
        self.record(scenario, n, cpu_broker=c.get("broker", 0.0) * 1000, cpu_nodes=c.get(nodes_role, 0.0) * 1000,
                    cpu_client=c["client"] * 1000)

    def record(self, scenario, n, **values):
        d = self.results.setdefault((scenario, n), {})
        for k, v in values.items():
            d.setdefault(k, []).append(v)

    def renice_broker(self):
        if not self.nice:
            return
        for pid in marked_processes(self.broker.id):
            try:
                os.setpriority(os.PRIO_PROCESS, pid, self.nice)
                for tid in os.listdir(f"/proc/{pid}/task"):
                    os.setpriority(os.PRIO_PROCESS, int(tid), self.nice)
            except OSError:
                pass

    # -- fleets -------------------------------------------------------------

    def start_simulator(self, n, registry_dir, extra_args=()):
        out = os.path.join(self.tmp, f"sim-{n}.out")
        err = open(os.path.join(self.tmp, f"sim-{n}.err"), "wb")
        argv = [self.binary("muster-simulator"), "--config", self.sim_config(), "--nodes", str(n),
                "--registry-dir", registry_dir, "--check-mode", "exec", "--inproc-command", "check_sim",
                "--connections", str(self.args.connections), *extra_args]
        with open(out, "wb") as f:
            p = self.procs.start(argv, f, err)
        err.close()
        self.roles[p.pid] = "simulator"
        t0 = time.monotonic()
        wait_line(out, "READY", p, timeout=60 + n / 50)
        self.extra.setdefault("sim_setup_s", {})[n] = time.monotonic() - t0
        return p, out

    def start_floor(self, n):
        out = os.path.join(self.tmp, f"floor-{n}.out")
        argv = [self.binary("broker-floor"), "serve", "--config", self.sim_config(), "--queues", str(n),
                "--connections", str(self.args.connections)]
        with open(out, "wb") as f, open(os.path.join(self.tmp, f"floor-{n}.err"), "wb") as e:
            p = self.procs.start(argv, f, e)
        self.roles[p.pid] = "floor"
        t0 = time.monotonic()
        wait_line(out, "READY", p, timeout=60 + n / 50)
        self.extra.setdefault("floor_setup_s", {})[n] = time.monotonic() - t0
        return p

    def replay_ids(self, proc, out):
        st = self.sim_stats(proc, out)
        return st.get("replay_ids") if st else None

    def sim_stats(self, proc, out):
        """Ask the simulator for its counters (SIGUSR1) and return the newest."""
        def stats_lines():
            with open(out) as f:
                return [l for l in f.read().splitlines() if l.startswith("STATS ")]

        before = len(stats_lines())
        proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = stats_lines()
            if len(lines) > before:
                return json.loads(lines[-1][6:])
            time.sleep(0.02)
        return None

    # -- scenarios ------------------------------------------------------------

    def dt_for(self, n):
        return self.args.dt or ("1s" if n <= 100 else "2s" if n <= 1000 else "30s" if n <= 10000 else "90s")

    FLOORS = (
        ("floor-fanout", ["--mode", "fanout"]),
        ("floor-direct", ["--mode", "direct"]),
        # muster's message shape, for the broadcast and the registry pattern
        ("floor-topic-shaped", ["--mode", "topic", "--muster-like", "--expiration", "60000"]),
        ("floor-direct-shaped", ["--mode", "direct", "--muster-like", "--expiration", "60000"]),
    )

    def run_floor(self, n, conf):
        for name, args in self.FLOORS:
            if name != "floor-fanout" and name not in self.args.floors:
                continue
            limit = max(120, n // 50)
            r = self.timed([self.binary("broker-floor"), "ping", "--config", conf, "--queues", str(n),
                            "--timeout", f"{limit}s", *args], timeout=limit + 80, n=n)
            if r.status != 0:
                raise BenchError(f"broker-floor ping {args} failed ({r.status}): {r.stderr[-1000:]}{r.stdout}")
            d = json.loads(r.stdout)
            self.record(name, n, wall=r.wall * 1000, rtt=d["rtt_ms"][0], maxrss=r.maxrss_kib)
            self.record_cpu(name, n, r, "floor")

    def run_ping(self, scenario, n, conf, method, expect, filt=()):
        argv = [self.binary("muster"), "--config", conf, "ping", "--dm", method, "--json", *filt]
        # Registry discovery must not wait for the discovery timeout: a long
        # one makes any fixed wait show.
        argv += ["--dt", self.dt_for(n) if method == "broadcast" else "30s"]
        r = self.timed(argv, timeout=max(300, n // 40), n=n)
        try:
            d = json.loads(r.stdout)
        except ValueError:
            raise BenchError(f"{scenario} N={n}: no JSON (exit {r.status}): {r.stderr[-1000:]}")
        got = d["stats"]["responses"]
        last = max((x["rtt_ms"] for x in d["replies"]), default=None)
        if got != expect:
            self.notes.append(f"{scenario} N={n}: {got} of {expect} replies in one run")
        # Broadcast: total_ms is the discovery wait; the round trip is the last reply.
        rtt = last if method == "broadcast" else d["stats"]["total_ms"]
        self.record(scenario, n, wall=r.wall * 1000, rtt=rtt if got == expect else None, maxrss=r.maxrss_kib,
                    replies=got, discovery=d["stats"]["discovery_ms"])
        self.record_cpu(scenario, n, r, "simulator")

    def run_nrpe(self, scenario, n, conf, command, method, expect):
        limit = max(300, n // 50)
        argv = [self.binary("check-mc-nrpe"), "--config", conf, command, "--dm", method, "-t", f"{limit}s",
                "--dt", self.dt_for(n) if method == "broadcast" else "30s"]
        r = self.timed(argv, timeout=limit + 100, n=n)
        self.record_cpu(scenario, n, r, "simulator")
        first = r.stdout.splitlines()[0] if r.stdout else ""
        m = re.search(r"total=(\d+) ok=(\d+).*checktime=([0-9.]+)", first)
        if r.status != 0 or not m or int(m.group(2)) != expect:
            self.notes.append(f"{scenario} N={n}: exit {r.status}: {first[:160]}")
            self.record(scenario, n, wall=r.wall * 1000, rtt=None, maxrss=r.maxrss_kib)
            return
        self.record(scenario, n, wall=r.wall * 1000, rtt=float(m.group(3)) * 1000, maxrss=r.maxrss_kib)

    def run_check_cost(self, n):
        conf = self.sim_config()
        reps = self.args.repeats if n < self.args.exec_slow_n else self.args.exec_slow_repeats
        for _ in range(max(1, reps)):
            r = self.timed([self.binary("muster-simulator"), "--config", conf, "--bench-checks", str(n),
                            "--bench-command", "check_dummy"], timeout=600)
            line = next((l for l in r.stdout.splitlines() if l.startswith("CHECKS ")), None)
            if r.status != 0 or not line:
                raise BenchError(f"--bench-checks failed: {r.stderr[-1000:]}")
            d = json.loads(line[7:])
            self.record("checks-cost", n, wall=r.wall * 1000, rtt=d["wall_ms"])

    def bench_size(self, n):
        print(f"driver: N={n}: starting the simulator and the floor", file=sys.stderr, flush=True)
        registry = os.path.join(self.tmp, f"registry-{n}")
        # One message per node through one broker on two CPUs takes longer
        # than the default 60 s request lifetime at 50,000 nodes.
        conf = self.client_config(registry, ttl="240s" if n > 20000 else None)
        floor = self.start_floor(n)
        sim, sim_out = self.start_simulator(n, registry)
        try:
            only = self.args.only
            tenth = n // 10
            # Warm-up: one of each, not recorded.
            limit = max(120, n // 50)
            self.timed([self.binary("broker-floor"), "ping", "--config", conf, "--queues", str(n),
                        "--timeout", f"{limit}s"], timeout=limit + 80, n=n)
            self.timed([self.binary("muster"), "--config", conf, "ping", "--dm", "registry", "--json"],
                       timeout=max(900, limit + 80), n=n)
            time.sleep(1)
            self.extra.setdefault("broker", {})[n] = self.broker_memory(limits=True)
            self.extra.setdefault("idle_cpu", {})[n] = self.measure_idle()
            rounds = self.args.repeats_at.get(n, self.args.repeats)
            for rep in range(rounds):
                print(f"driver: N={n}: round {rep + 1}/{rounds}", file=sys.stderr, flush=True)
                self.run_floor(n, conf)
                if not only or "ping" in only:
                    self.run_ping("ping-broadcast", n, conf, "broadcast", n)
                    self.run_ping("ping-registry", n, conf, "registry", n)
                if (not only or "filter" in only) and tenth > 0:
                    self.run_ping("filter10-broadcast", n, conf, "broadcast", tenth, ("-F", "group=0"))
                    self.run_ping("filter10-registry", n, conf, "registry", tenth, ("-F", "group=0"))
                if not only or only & {"nrpe", "nrpe-inproc"}:
                    self.run_nrpe("nrpe-inproc-registry", n, conf, "check_sim", "registry", n)
                    if (not only or "nrpe" in only) and (n < self.args.exec_slow_n or
                                                         rep < self.args.exec_slow_repeats):
                        self.run_nrpe("nrpe-exec-registry", n, conf, "check_dummy", "registry", n)
                    if not only or "nrpe" in only or n < self.args.broadcast_nrpe_max:
                        self.run_nrpe("nrpe-inproc-broadcast", n, conf, "check_sim", "broadcast", n)
            stats = self.sim_stats(sim, sim_out)
            self.extra.setdefault("sim_stats", {})[n] = stats
            self.extra.setdefault("sim_rss", {})[n] = proc_status(sim.pid)
            if stats and (stats["dropped"] or stats["publish_failures"] or stats["unknown_consumer_tag"]):
                self.notes.append(f"simulator N={n}: {stats}")
        finally:
            self.procs.stop(sim)
            self.procs.stop(floor)
            self.procs.procs = [p for p in self.procs.procs if p not in (sim, floor)]
        if not self.args.only or "nrpe" in self.args.only:
            self.run_check_cost(n)

    def broker_status(self):
        r = self.broker.ctl("status", "--formatter", "json", timeout=120)
        # rabbitmqctl may print a deprecation notice before the JSON.
        line = next(l for l in reversed(r.stdout.splitlines()) if l.startswith("{"))
        return json.loads(line)

    def broker_memory(self, limits=False, queues=False):
        """The broker's RSS (KiB), its own memory breakdown (MB, the largest
        parts) and, with limits, what could stop it holding more queues: the
        memory high watermark, file descriptors, Erlang processes."""
        out = {}
        beam = self.broker.beam_pid()
        if beam:
            out["rss_kib"] = proc_status(beam).get("VmRSS")
        try:
            st = self.broker_status()
            mem = st["memory"]
            parts = {k: v for k, v in mem.items() if isinstance(v, (int, float)) and k != "total"}
            out["parts_mb"] = {k: round(v / 1e6) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])[:6]}
            total = mem.get("total")
            out["total_mb"] = round((total.get("erlang") if isinstance(total, dict) else total or 0) / 1e6)
            if limits:
                out["limit_mb"] = round(st.get("vm_memory_high_watermark_limit", 0) / 1e6)
                out["watermark"] = st.get("vm_memory_high_watermark_setting")
                out["alarms"] = st.get("alarms")
                out["fds"] = [st.get("file_descriptors", {}).get(k) for k in ("total_used", "total_limit")]
                out["queues"] = st.get("totals", {}).get("queue_count")
                out["procs"] = [st.get("processes", {}).get(k) for k in ("used", "limit")]
            if queues:
                # Messages sitting in queues (ready or unacked), all queues together:
                # growth there would be ours (a consumer not acking), not the broker's.
                r = self.broker.ctl("list_queues", "--quiet", "--no-table-headers", "messages_ready",
                                    "messages_unacknowledged", timeout=120)
                ready = unacked = 0
                for line in r.stdout.splitlines():
                    f = line.split()
                    if len(f) == 2 and f[0].isdigit() and f[1].isdigit():
                        ready += int(f[0])
                        unacked += int(f[1])
                out["parts_mb"]["messages ready"] = ready
                out["parts_mb"]["messages unacked"] = unacked
        except Exception as e:
            out["error"] = str(e)[:200]
        return out

    # -- collector --------------------------------------------------------

    def registrations(self, count, gen, msgtime):
        """(identity, body, AMQP headers) of count signed registrations."""
        for i in range(count):
            identity = f"reg{i + 1:06d}"
            reg = build_registration(identity, COLLECTIVE, msgtime=msgtime,
                                     facts={"group": str(i % 10), "role": "web", "gen": str(gen)})
            reg.update(classes=["sim"], agents=["discovery", "rpcutil", "nrpe"],
                       boot_id="00000000-0000-4000-8000-000000000000", uptime=3600, version="bench")
            body = json.dumps(reg, separators=(",", ":")).encode()
            yield identity, body, signature_headers(self.psk, body)

    def preload(self, queue, qtype, count, gen, msgtime):
        params = pika.URLParameters(self.broker.url)
        conn = pika.BlockingConnection(params)
        try:
            ch = conn.channel()
            ch.exchange_declare("muster.registration", "topic", durable=True)
            ch.queue_declare(queue, durable=True, arguments={"x-queue-type": qtype})
            ch.queue_bind(queue, "muster.registration", f"{COLLECTIVE}.registration.#")
            ch.queue_purge(queue)      # what a stopped consumer handed back
            for identity, body, headers in self.registrations(count, gen, msgtime):
                props = pika.BasicProperties(content_type="application/json", delivery_mode=2, headers=headers)
                ch.basic_publish("muster.registration", f"{COLLECTIVE}.registration.{identity}", body, props)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                q = ch.queue_declare(queue, durable=True, passive=True)
                if q.method.message_count >= count:
                    return
                conn.sleep(0.1)
            raise BenchError(f"only {q.method.message_count} of {count} registrations reached {queue}")
        finally:
            conn.close()

    def collector_status(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(path)
            s.sendall(b'{"verb":"status"}\n')
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        return json.loads(data)

    @contextlib.contextmanager
    def daemon(self, argv, notify_path, stderr_path=None, timeout=30):
        """Start a process with NOTIFY_SOCKET, yield it once it said READY=1,
        stop it afterwards."""
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        notify = NotifySocket(notify_path)
        err = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
        p = self.procs.start(argv, subprocess.DEVNULL, err, env={"NOTIFY_SOCKET": notify_path})
        if stderr_path:
            err.close()
        try:
            notify.wait_for("READY=1", timeout)
            yield p
        finally:
            self.procs.stop(p)
            self.procs.procs.remove(p)
            notify.close()

    def run_collector_once(self, conf, control, state_dir, count, phase):
        t0 = time.monotonic()
        with self.daemon([self.binary("muster-collector"), "--config", conf],
                         os.path.join(self.tmp, "collector.notify"),
                         os.path.join(self.tmp, f"collector-{phase}.err"), timeout=60) as p:
            t_ready = time.monotonic()
            cpu0 = proc_cpu_seconds(p.pid) or 0.0
            deadline = t_ready + 300
            done = 0
            while time.monotonic() < deadline:
                try:
                    st = self.collector_status(control)
                except OSError:
                    st = None
                if st:
                    done = st["written"] + st["touched"] + sum(st["rejected"].values())
                    if done >= count:
                        break
                time.sleep(0.005)
            t_done = time.monotonic()
            cpu = (proc_cpu_seconds(p.pid) or cpu0) - cpu0
            if done < count:
                raise BenchError(f"collector stored only {done} of {count} registrations")
            files = sum(1 for e in os.scandir(state_dir) if not e.name.startswith("."))
            rss = proc_status(p.pid)
            return {"phase": phase, "count": count, "startup_s": t_ready - t0, "drain_s": t_done - t_ready,
                    "per_sec": count / (t_done - t_ready), "written": st["written"], "touched": st["touched"],
                    "rejected": sum(st["rejected"].values()), "files": files, "rss_kib": rss.get("VmRSS"),
                    "cpu_us_per_reg": cpu * 1e6 / count, "cpu_busy": cpu / (t_done - t_ready)}

    def bench_collector(self):
        if pika is None:
            self.notes.append("collector: python3-pika missing, skipped")
            return
        count = self.args.registrations
        out = []
        for qtype in self.args.queue_types:
            state_dir = os.path.join(self.tmp, f"collector-state-{qtype}")
            os.mkdir(state_dir)
            control = os.path.join(self.tmp, f"collector-{qtype}.control")
            s = self.base_sections()
            s["main"]["log_level"] = "info"
            s["collector"] = {"name": f"bench-{qtype}", "state_dir": state_dir, "control_socket": control,
                              "sweep_interval": "300s", "queue_type": qtype}
            conf = self.config(f"collector-{qtype}.conf", s)
            queue = f"muster.registrations.bench-{qtype}"
            now = int(time.time())
            for phase, gen, msgtime in (("new files", 1, now - 60), ("unchanged (mtime only)", 1, now - 30),
                                        ("changed (rewrite+rename)", 2, now)):
                print(f"driver: collector ({qtype} queue): {phase}", file=sys.stderr, flush=True)
                # The broker's own ceiling: the same queue drained with acks, no files.
                self.preload(queue, qtype, count, gen, msgtime)
                r = self.timed([self.binary("broker-floor"), "drain", "--config", conf, "--queue", queue,
                                "--count", str(count), "--prefetch", "256", "--timeout", "300s"], timeout=400)
                if r.status != 0:
                    raise BenchError(f"broker-floor drain failed: {r.stderr[-1000:]}")
                floor = json.loads(r.stdout)
                self.preload(queue, qtype, count, gen, msgtime)
                res = self.run_collector_once(conf, control, state_dir, count, f"{qtype}: {phase}")
                res["floor_per_sec"] = floor["per_sec"]
                out.append(res)
        self.extra["collector"] = out

    # -- check_mcollective ------------------------------------------------

    def bench_check_mcollective(self):
        n = self.args.files
        d = os.path.join(self.tmp, "check-mcollective")
        print(f"driver: check_mcollective: creating {n} files", file=sys.stderr, flush=True)
        stale = make_check_directory(d, n)
        res = check_vs_find(self.binary("check_mcollective"), d, n, stale, max(7, self.args.repeats * 2),
                            lambda argv: self.timed(argv))
        self.notes.extend(res.pop("notes"))
        floors = []
        for i in range(self.args.repeats * 2):
            r = self.timed([self.binary("stat-floor"), d])
            if r.status == 0:
                floors.append(json.loads(r.stdout))
        res["floor"] = ({k: statistics.median(f[k] for f in floors) for k in ("readdir_ms", "stat_ms", "syscall_ns")}
                        if floors else None)
        self.extra["check_mcollective"] = res
        shutil.rmtree(d, ignore_errors=True)

    # -- responder memory -------------------------------------------------

    def bench_responder_rss(self):
        d = os.path.join(self.tmp, "responder")
        os.makedirs(os.path.join(d, "facts.d"))
        with open(os.path.join(d, "facts.d", "facts.json"), "w") as f:
            json.dump({"group": "0", "role": "web", "rack": "r00", "os": "debian"}, f)
        with open(os.path.join(d, "classes.txt"), "w") as f:
            f.write("sim\nweb\n")
        s = self.base_sections("bench-responder")
        s["main"]["log_level"] = "info"
        s["responder"] = {"facts_dir": os.path.join(d, "facts.d"), "classes_file": os.path.join(d, "classes.txt"),
                          "control_socket": os.path.join(d, "control")}
        # Checks drop to [nrpe] user; muster-check exists only where the package is installed.
        s["nrpe"] = {"command_dir": self.nrpe_dir, "user": "nobody" if os.geteuid() == 0 else ""}
        conf = self.config("responder.conf", s)
        with self.daemon([self.binary("muster-responder"), "--config", conf], os.path.join(d, "notify"),
                         os.path.join(d, "stderr")) as p:
            time.sleep(2)
            idle = proc_status(p.pid)
            idle_maps = proc_rss_by_mapping(p.pid)
            # After some work: pings and checks through the broker.
            reg = os.path.join(d, "registry")
            os.mkdir(reg)
            write_registration(reg, "bench-responder", {})
            conf_c = self.client_config(reg)
            for _ in range(50):
                self.timed([self.binary("muster"), "--config", conf_c, "ping", "--dm", "registry"])
            for _ in range(20):
                self.timed([self.binary("check-mc-nrpe"), "--config", conf_c, "check_dummy", "--dm", "registry"])
            time.sleep(1)
            busy = proc_status(p.pid)
            self.extra["responder_rss"] = {"idle": idle, "after": busy, "idle_maps": idle_maps,
                                           "floor": self.idle_floor_rss(),
                                           "floor_hmac": self.idle_floor_rss(hmac=True)}

    def idle_floor_rss(self, hmac=False):
        """bench/idle-floor: the same shared libraries, each used the least a
        responder must, then idle. Measured the same way, in the same run."""
        d = os.path.join(self.tmp, "idle-floor")
        os.makedirs(d, exist_ok=True)
        u = urllib.parse.urlparse(self.broker.url)
        argv = [self.binary("idle-floor"), u.hostname, str(u.port or 5672)] + (["hmac"] if hmac else [])
        with self.daemon(argv, os.path.join(d, "notify")) as p:
            time.sleep(2)
            return {"status": proc_status(p.pid), "maps": proc_rss_by_mapping(p.pid)}

    # -- client memory ------------------------------------------------------

    def client_memory(self):
        rows = []
        for n in self.args.sizes:
            d = self.results.get(("ping-registry", n))
            if d and d.get("maxrss"):
                rows.append((n, statistics.median(d["maxrss"])))
        out = []
        for (n0, m0), (n1, m1) in zip(rows, rows[1:]):
            out.append({"from": n0, "to": n1, "kib_per_node": (m1 - m0) / (n1 - n0)})
        self.extra["client_memory"] = {"maxrss": rows, "slopes": out}

    # -- soak -------------------------------------------------------------

    def soak(self, seconds, n):
        print(f"driver: soak: {seconds}s at N={n}", file=sys.stderr, flush=True)
        registry = os.path.join(self.tmp, f"registry-soak-{n}")
        conf = self.client_config(registry)
        sim, sim_out = self.start_simulator(n, registry)
        # A real responder in the fleet, and a real collector fed all along.
        d = os.path.join(self.tmp, "soak-responder")
        os.makedirs(os.path.join(d, "facts.d"))
        s = self.base_sections("soak-responder")
        s["main"]["log_level"] = "notice"
        s["responder"] = {"facts_dir": os.path.join(d, "facts.d"), "classes_file": os.path.join(d, "none"),
                          "control_socket": os.path.join(d, "control")}
        # Checks drop to [nrpe] user; muster-check exists only where the package is installed.
        s["nrpe"] = {"command_dir": self.nrpe_dir, "user": "nobody" if os.geteuid() == 0 else ""}
        rconf = self.config("soak-responder.conf", s)
        write_registration(registry, "soak-responder", {"group": "0"})
        rerr = open(os.path.join(d, "stderr"), "wb")
        resp = self.procs.start([self.binary("muster-responder"), "--config", rconf], subprocess.DEVNULL, rerr)
        rerr.close()
        state_dir = os.path.join(self.tmp, "soak-collector")
        os.mkdir(state_dir)
        cs = self.base_sections()
        cs["collector"] = {"name": "soak", "state_dir": state_dir, "control_socket": os.path.join(self.tmp, "soak.ctl"),
                           "sweep_interval": "10s", "queue_type": self.args.queue_types[0]}
        cconf = self.config("soak-collector.conf", cs)
        cerr = open(os.path.join(self.tmp, "soak-collector.err"), "wb")
        coll = self.procs.start([self.binary("muster-collector"), "--config", cconf], subprocess.DEVNULL, cerr)
        cerr.close()
        stop = threading.Event()
        published = [0]

        def feeder():
            conn = pika.BlockingConnection(pika.URLParameters(self.broker.url))
            try:
                ch = conn.channel()
                ch.exchange_declare("muster.registration", "topic", durable=True)
                i = 0
                while not stop.is_set():
                    t = int(time.time())
                    batch = list(self.registrations(n, 1, t))
                    for identity, body, headers in batch:
                        if stop.is_set():
                            break
                        props = pika.BasicProperties(delivery_mode=2, headers=headers)
                        ch.basic_publish("muster.registration", f"{COLLECTIVE}.registration.{identity}", body,
                                         props)
                        published[0] += 1
                        i += 1
                        if i % 100 == 0:
                            conn.sleep(0.1)     # about 1,000 a second
            finally:
                try:
                    conn.close()
                except Exception:
                    pass

        samples = []
        client_runs = []
        qconn = pika.BlockingConnection(pika.URLParameters(self.broker.url))
        qch = qconn.channel()
        soak_control = os.path.join(self.tmp, "soak.ctl")

        def backlog():
            try:
                return qch.queue_declare("muster.registrations.soak", passive=True).method.message_count
            except Exception:
                return None

        def stored():
            try:
                st = self.collector_status(soak_control)
                return st["written"] + st["touched"]
            except (OSError, ValueError, KeyError):
                return None

        def broker_memory():
            m = self.broker_memory(queues=True)
            return m.get("parts_mb") or {"error": m.get("error")}

        mem_before = broker_memory()
        th = threading.Thread(target=feeder, daemon=True)
        th.start()
        try:
            time.sleep(1)
            t0 = time.monotonic()
            next_sample = t0
            while time.monotonic() - t0 < seconds:
                r = self.timed([self.binary("muster"), "--config", conf, "ping", "--dm", "registry", "--json"])
                try:
                    got = json.loads(r.stdout)["stats"]["responses"]
                except ValueError:
                    got = None
                client_runs.append((time.monotonic() - t0, "ping", r.maxrss_kib, r.wall, got))
                r = self.timed([self.binary("check-mc-nrpe"), "--config", conf, "check_sim", "--dm", "registry"])
                client_runs.append((time.monotonic() - t0, "nrpe", r.maxrss_kib, r.wall, r.status))
                if time.monotonic() >= next_sample:
                    beam = self.broker.beam_pid()
                    samples.append({"t": time.monotonic() - t0,
                                    "simulator": proc_status(sim.pid).get("VmRSS"),
                                    "responder": proc_status(resp.pid).get("VmRSS"),
                                    "responder_pss": proc_status(resp.pid).get("Pss"),
                                    "collector": proc_status(coll.pid).get("VmRSS"),
                                    "broker": proc_status(beam).get("VmRSS") if beam else None,
                                    "published": published[0], "stored": stored(), "backlog": backlog(),
                                    "replay_ids": self.replay_ids(sim, sim_out)})
                    next_sample += max(5.0, seconds / 40)
            mem_after = broker_memory()
        finally:
            stop.set()
            th.join(10)
            try:
                qconn.close()
            except Exception:
                pass
            self.procs.stop(sim)
            self.procs.stop(resp)
            self.procs.stop(coll)
        self.extra["soak"] = {"seconds": seconds, "n": n, "samples": samples, "client_runs": client_runs,
                              "published": published[0], "broker_memory": [mem_before, mem_after]}

    # -- the whole run ----------------------------------------------------

    def start_broker(self):
        print("driver: starting a private RabbitMQ", file=sys.stderr, flush=True)
        # 50,000 nodes wake 100,000 queue processes at once (68 KB each):
        # the default watermark (0.4) blocks publishers near 9.6 GB of 24 GiB.
        # Every 120 s rabbit_core_metrics_gc walks the metrics of every queue:
        # 1.8-2.8 CPU s at 10,000 queues (more at 100,000), with
        # nothing asked. Which round it lands in is chance (a 45 s broadcast
        # round more often than a 17 s floor), so it made the broker's CPU
        # for the same round vary 1.5-2x. Off, it runs once a day.
        env = [("vm_memory_high_watermark", "0.7")]
        if self.args.broker_metrics_gc == "off":
            env.append(("core_metrics_gc_interval", "86400000"))
        self.broker = Broker(name_prefix="muster-bench", rabbit_env=env,
                             erl_args=BUSY_WAIT_OFF if self.args.broker_busy_wait == "none" else ())
        self.broker.start()
        self.renice_broker()

    def run(self):
        self.started = time.time()
        self.start_broker()
        only = self.args.only
        for n in self.args.sizes:
            if not only or only & {"ping", "filter", "nrpe", "nrpe-inproc"}:
                try:
                    self.bench_size(n)
                except BenchError as e:
                    # One size that breaks (50,000 nodes on a small machine)
                    # does not lose the others' figures; the report names it.
                    self.notes.append(f"N={n}: stopped: {e}")
                    self.extra.setdefault("failed_sizes", {})[n] = str(e)
        self.client_memory()
        if not only or "collector" in only:
            self.bench_collector()
        if not only or "check_mcollective" in only:
            self.bench_check_mcollective()
        if not only or "rss" in only:
            self.bench_responder_rss()
        if self.args.soak > 0:
            self.soak(self.args.soak, self.args.soak_nodes)
        self.finished = time.time()

    def close(self):
        self.procs.stop_all()
        if self.broker:
            self.broker.stop()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def rabbitmq_version(self):
        try:
            out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "rabbitmq-server"],
                                 capture_output=True, text=True, timeout=10).stdout
            return out or "?"
        except OSError:
            return "?"

