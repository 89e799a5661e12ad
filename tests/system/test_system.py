#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""muster under a real, booted systemd: a debootstrapped Debian 12 with the
built .deb packages installed, booted with systemd-nspawn --boot on the
host's network, talking to a private RabbitMQ on 127.0.0.1.

The rootfs is cached under .cache/ (keyed by its package list); each run
boots a fresh copy. systemd runs only inside the container, which has its
own /tmp, /run and /dev."""

import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

SOURCE = Path(os.environ.get("MUSTER_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("MUSTER_BUILD_DIR", SOURCE / "build"))
sys.path.insert(0, str(SOURCE / "tests" / "integration"))
from harness import Broker  # noqa: E402

PACKAGES = ["systemd", "systemd-sysv", "dbus", "libsystemd0", "librabbitmq4", "libinih1", "libjansson4",
            "libmicrohttpd12", "libssl3", "monitoring-plugins-basic", "procps", "openssl"]
MIRROR = "http://deb.debian.org/debian"
CACHE = SOURCE / ".cache"
UNITS = ["muster-responder.service", "muster-responder.socket", "muster-collector.service",
         "muster-collector.socket", "muster-collector-metrics.socket", "muster-heartbeat.service",
         "muster-heartbeat.timer", "muster-check.socket", "muster-check@.service", "muster-checks.slice"]


def sh(*args, check=True, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def cached_rootfs():
    key = hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:12]
    root = CACHE / f"rootfs-bookworm-{key}"
    if (root / "usr/lib/systemd/systemd").exists() or (root / "lib/systemd/systemd").exists():
        return root
    CACHE.mkdir(exist_ok=True)
    tmp = CACHE / f"rootfs-bookworm-{key}.new"
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.monotonic()
    sh("debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", "bookworm", str(tmp), MIRROR)
    tmp.rename(root)
    print(f"debootstrap: {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return root


def build_debs(workdir):
    src = workdir / "src"
    src.mkdir()
    tar = subprocess.Popen(["git", "-C", str(SOURCE), "ls-files", "-z"], stdout=subprocess.PIPE)
    files = tar.communicate()[0].split(b"\0")
    for f in files:
        if not f:
            continue
        p = SOURCE / f.decode()
        if p.is_file():
            d = src / f.decode()
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, d)
    shutil.copytree(src / "packaging" / "debian", src / "debian")
    t0 = time.monotonic()
    sh("dpkg-buildpackage", "-b", "-us", "-uc", cwd=src)
    print(f"dpkg-buildpackage: {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return sorted(d for d in workdir.glob("muster-*.deb") if "dbgsym" not in d.name)


class Container:
    def __init__(self, root):
        self.root = root
        self.proc = None
        self.leader = None

    def boot(self, timeout=60):
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", str(self.root), "--boot", "--register=no", "--keep-unit", "--quiet",
             "--machine", f"muster-{secrets.token_hex(3)}", "--console=pipe"],
            stdin=subprocess.DEVNULL, stdout=open(self.root.parent / "console.log", "wb"),
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("systemd-nspawn exited: " + (self.root.parent / "console.log").read_text())
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            pids = kids.read_text().split() if kids.exists() else []
            if pids:
                self.leader = int(pids[0])
                r = self.run("systemctl", "is-system-running", check=False)
                if r.stdout.strip() in ("running", "degraded"):
                    return
            time.sleep(0.3)
        raise RuntimeError("container did not reach running: " + self.run("systemctl", "--failed",
                                                                          check=False).stdout)

    def run(self, *args, check=True, timeout=60):
        return sh("nsenter", "-t", str(self.leader), "-a", *args, check=check, timeout=timeout)

    def shutdown(self):
        if self.proc and self.proc.poll() is None:
            if self.leader:
                subprocess.run(["nsenter", "-t", str(self.leader), "-a", "systemctl", "poweroff"],
                               capture_output=True, timeout=30)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


HOSTILE = r"""#!/bin/sh
# A hostile NRPE check: tries to take what muster must keep from it.
details=""
ok=0
attempt() {
        what=$1
        shift
        if out=$("$@" 2>&1 </dev/null); then
                ok=$((ok + 1))
                details="$details
$what: SUCCEEDED: $out"
        else
                details="$details
$what: refused: $(printf '%s' "$out" | tr '\n' ' ')"
        fi
}
attempt "read the PSK" cat /etc/muster/psk
attempt "read the broker password" cat /etc/muster/broker-password
attempt "read the node key" cat /etc/muster/node.key
attempt "list the client keys" ls /etc/muster/clients.d
attempt "read a client key" cat /etc/muster/clients.d/admin.pem
attempt "write in /run/muster" touch /run/muster/hostile
attempt "write in the state directory" touch /var/lib/muster/hostile
attempt "write in the registrations" touch /var/lib/muster/registrations/hostile
attempt "connect to the control socket" perl -MSocket -e 'socket(S, PF_UNIX, SOCK_STREAM, 0) or die "$!\n";
connect(S, pack_sockaddr_un($ARGV[0])) or die "$!\n"; print "connected\n"' /run/muster/responder.control
attempt "muster --local ping" muster --local ping
attempt "connect to the collector's control socket" perl -MSocket -e 'socket(S, PF_UNIX, SOCK_STREAM, 0) or die "$!\n";
connect(S, pack_sockaddr_un($ARGV[0])) or die "$!\n"; print "connected\n"' /run/muster/collector.control
attempt "connect to the check runner" perl -MSocket -e 'socket(S, PF_UNIX, SOCK_SEQPACKET, 0) or die "$!\n";
connect(S, pack_sockaddr_un($ARGV[0])) or die "$!\n"; print "connected\n"' /run/muster/check.socket
echo "hostile check as $(id -un): $ok attempt(s) succeeded$details"
"""
PUSHED_FLAG = r"""#!/bin/sh
# A pushed check whose state the system test flips: the state in
# /etc/muster-test/flag, and the user the check runs as.
state=$(cat /etc/muster-test/flag)
case $state in
0) word=OK ;;
1) word=WARNING ;;
2) word=CRITICAL ;;
*) word=UNKNOWN ;;
esac
echo "FLAG $word as $(id -un)|state=$state"
exit "$state"
"""
HOSTILE_ATTEMPTS = ["read the PSK", "read the broker password", "read the node key", "list the client keys",
                    "read a client key", "write in /run/muster", "write in the state directory",
                    "write in the registrations", "connect to the control socket", "muster --local ping",
                    "connect to the collector's control socket", "connect to the check runner"]
README = SOURCE / "packaging" / "debian" / "muster-node.README.Debian"


def journal_seqnum(entry):
    """A journal entry's sequence number, from its cursor."""
    return int(dict(f.split("=", 1) for f in entry["__CURSOR"].split(";"))["i"], 16)


def quick_start_steps():
    """The command lines of README.Debian's one-host quick start, in order:
    [(step number, command line)]."""
    text = README.read_text()
    start = text.index("Quick start: one host")
    end = text.index("If step 5 comes before step 4")
    steps, step = [], None
    for line in text[start:end].splitlines():
        m = re.match(r"^ (\d)\. ", line)
        if m:
            step = int(m.group(1))
        elif line.startswith("      ") and line.strip():
            steps.append((step, line.strip()))
    return steps


class System(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise RuntimeError("the system tests need root (debootstrap, systemd-nspawn)")
        for tool in ("debootstrap", "systemd-nspawn", "dpkg-buildpackage", "nsenter"):
            if not shutil.which(tool):
                raise RuntimeError(f"the system tests need {tool}; ./run test installs it")
        cls.work = Path(tempfile.mkdtemp(prefix="muster-system-", dir="/var/tmp"))
        cls.container = None
        cls.broker = None
        try:
            rootfs = cached_rootfs()
            debs = build_debs(cls.work)
            cls.root = cls.work / "root"
            sh("cp", "-a", "--reflink=auto", str(rootfs), str(cls.root))
            cls.broker = Broker().start(await_ctl=True)
            cls.setup_root(debs)
            cls.container = Container(cls.root)
            t0 = time.monotonic()
            cls.container.boot()
            print(f"booted in {time.monotonic() - t0:.1f} s", file=sys.stderr)
            cls.follow_quick_start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def setup_root(cls, debs):
        """What the quick start does not do: the packages are copied in
        (step 1 installs them from here), Nagios's user exists, and the
        test's own tuning: its identity, short intervals, test commands."""
        root = cls.root
        # Not /tmp: systemd-nspawn mounts a fresh tmpfs there.
        (root / "var/cache/muster-debs").mkdir(parents=True)
        for d in debs:
            shutil.copy2(d, root / "var/cache/muster-debs")
        cls.debs = [f"/var/cache/muster-debs/{d.name}" for d in debs]
        (root / "etc/muster/conf.d").mkdir(parents=True, exist_ok=True)
        (root / "etc/muster/nrpe.d").mkdir(parents=True, exist_ok=True)
        # 60-test.conf comes after the quick start's 50-local.conf. The client
        # key below (for the hostile check to go after) would make nodes
        # refuse the PSK the quick start signs with: accept_psk=yes says so.
        (root / "etc/muster/conf.d/60-test.conf").write_text(
            "[main]\nidentity=sysnode\n[security]\naccept_psk=yes\n"
            "[heartbeat]\ninterval=10s\n[nrpe]\ncommand_timeout=5s\n[collector]\nsweep_interval=2s\n")
        (root / "usr/local/lib/muster-test").mkdir(parents=True)
        (root / "usr/local/lib/muster-test/hostile").write_text(HOSTILE)
        os.chmod(root / "usr/local/lib/muster-test/hostile", 0o755)
        (root / "etc/muster/nrpe.d/test.cfg").write_text(
            "command[check_ok]=/usr/lib/nagios/plugins/check_dummy 0 'system test fine'\n"
            "command[check_true]=/bin/true\n"
            "command[check_id]=/usr/bin/id\n"
            "command[check_cgroup]=cat /proc/self/cgroup\n"
            "command[check_hostile]=/usr/local/lib/muster-test/hostile\n"
            # 1000 processes: more than TasksMax= lets the unit have, bounded
            # even where the limit would not hold.
            "command[check_fork_flood]=n=0; while [ $n -lt 1000 ]; do sleep 30 & n=$((n + 1)); done; "
            "echo started\n"
            "command[check_daemonize]=setsid sh -c 'echo up > /tmp/muster-daemon; exec sleep 3021' "
            ">/dev/null 2>&1 </dev/null & while [ ! -s /tmp/muster-daemon ]; do sleep 0.05; done; "
            "rm -f /tmp/muster-daemon; echo launched\n")
        for unit, text in (
                ("muster-heartbeat.timer", "[Timer]\nOnBootSec=2s\nOnUnitActiveSec=5s\nRandomizedDelaySec=0\n"
                                           "AccuracySec=1s\n"),
                ("muster-collector.service", "[Service]\nWatchdogSec=3s\nRestartSec=1s\n")):
            d = root / "etc/systemd/system" / f"{unit}.d"
            d.mkdir(parents=True, exist_ok=True)
            (d / "test.conf").write_text(text)
        (root / "etc/hostname").write_text("sysnode\n")
        # The host's private broker is on 127.0.0.1: the container shares the network.
        shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf") if Path("/etc/resolv.conf").exists() else None
        # Nagios is installed: its user exists.
        sh("chroot", str(root), "adduser", "--system", "--group", "--no-create-home", "--quiet", "nagios")

    @classmethod
    def follow_quick_start(cls):
        """README.Debian's one-host quick start, word for word, with two
        substitutions: "apt install" installs the packages built here
        (dpkg -i, on the booted system, as apt would), and rabbitmqctl
        runs against the test's private broker on the host, which
        amqp://localhost/ then names with its port."""
        c = cls.container
        cls.quick_start = []
        url = f"amqp://127.0.0.1:{cls.broker.port}/"
        for step, line in quick_start_steps():
            if step == 4 and not (cls.root / "etc/muster/clients.d/admin.pem").exists():
                # Between steps 3 and 4 (test fixture): a client key for the
                # hostile check to go after, owned as the keys are.
                cls.install_keys()
            if line.startswith("apt install ") and "muster-node" in line:
                r = c.run("dpkg", "-i", *cls.debs, check=False, timeout=300)
            elif line.startswith("apt install "):
                # In the cached root file system already: check that it is.
                r = c.run("dpkg", "-s", *line.split()[2:], check=False)
            elif line.startswith("rabbitmqctl "):
                line_here = re.sub(r"\$\(cat (/etc/muster/[^)]+)\)",
                                   lambda m: (cls.root / m.group(1).lstrip("/")).read_text().strip(), line)
                r = cls.broker.ctl(*shlex.split(line_here)[1:])
            else:
                line = line.replace("amqp://localhost/", url)
                r = c.run("sh", "-c", line, check=False, timeout=120)
                if step >= 6 and r.returncode != 0:
                    # A check right after the start may come too early: retry for a while.
                    deadline = time.monotonic() + 40
                    while r.returncode != 0 and time.monotonic() < deadline:
                        time.sleep(1)
                        r = c.run("sh", "-c", line, check=False, timeout=120)
            cls.quick_start.append((step, line, r))
            if r.returncode != 0:
                raise RuntimeError(f"quick start step {step}: {line}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        # The host's client: the quick start's broker user and key.
        cls.psk = (cls.root / "etc/muster/psk").read_text().strip()
        (cls.work / "psk").write_text(cls.psk + "\n")
        os.chmod(cls.work / "psk", 0o600)
        pw = (cls.root / "etc/muster/broker-password").read_text().strip()
        cls.client = cls.work / "client.conf"
        cls.client.write_text(f"[main]\nidentity=monitor\n[broker]\nurl=amqp://127.0.0.1:{cls.broker.port}/muster\n"
                              f"username=muster\npassword={pw}\n[security]\npsk_file={cls.work / 'psk'}\n"
                              f"node_keys_dir={cls.root / 'etc/muster/nodes.d'}\n"
                              f"[client]\ndiscovery_timeout=2s\ntimeout=10s\n")

    @classmethod
    def install_keys(cls):
        gid = int(next(line.split(":")[2] for line in (cls.root / "etc/group").read_text().splitlines()
                       if line.startswith("muster:")))
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(cls.work / "admin.key")],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", str(cls.work / "admin.key"), "-pubout", "-out",
                        str(cls.root / "etc/muster/clients.d/admin.pem")], check=True, capture_output=True)
        os.chown(cls.root / "etc/muster/clients.d/admin.pem", 0, gid)
        os.chmod(cls.root / "etc/muster/clients.d/admin.pem", 0o640)

    @classmethod
    def tearDownClass(cls):
        if cls.container:
            cls.container.shutdown()
        if cls.broker:
            cls.broker.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def systemctl(self, *args, check=True):
        return self.container.run("systemctl", *args, check=check)

    def show(self, unit, prop):
        return self.systemctl("show", "-P", prop, unit).stdout.strip()

    def wait(self, cond, timeout=30, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.3)
        self.fail(f"timed out waiting for {what}")

    def quick_start_output(self, needle):
        for step, line, r in self.quick_start:
            if needle in line:
                return r
        self.fail(f"no quick start step runs {needle!r}")

    def test_00_quick_start(self):
        """README.Debian's quick start, followed word for word, ends with
        the node answering and registered, for root and for nagios."""
        self.assertGreaterEqual(len(self.quick_start), 15)
        self.assertEqual([step for step, _, _ in self.quick_start], sorted(step for step, _, _ in self.quick_start))
        self.assertIn("sysnode", self.quick_start_output("muster ping").stdout)
        self.assertIn("sysnode", self.quick_start_output("muster nodes").stdout)
        for r in (self.quick_start_output("check-mc-nrpe check_users"),
                  self.quick_start_output("runuser -u nagios -- /usr/lib/nagios/plugins/check-mc-nrpe")):
            self.assertRegex(r.stdout, r"^check_users: OK: 1 WARNING: 0 CRITICAL: 0 UNKNOWN: 0\| total=1 ok=1 ")
        for r in (self.quick_start_output("check_mcollective -i 300"),
                  self.quick_start_output("runuser -u nagios -- /usr/lib/nagios/plugins/check_mcollective")):
            self.assertEqual(r.stdout, "OK: 1 / 1 hosts checked in within 300 seconds| totalhosts=1 oldhosts=0 "
                                       "currenthosts=1\n")
        # The collector came first: the heartbeat the quick start runs did not fail.
        self.assertEqual(self.show("muster-heartbeat.service", "Result"), "success")
        failed = self.container.run("systemctl", "list-units", "--failed", "--plain", "--no-legend", "muster*").stdout
        self.assertEqual(failed.strip(), "")

    def test_01_active(self):
        """Every unit active, the responder's socket too although the quick
        start only started the service."""
        for unit in ("muster-responder.socket", "muster-responder.service", "muster-collector.socket",
                     "muster-collector-metrics.socket", "muster-collector.service", "muster-heartbeat.timer"):
            self.wait(lambda: self.show(unit, "ActiveState") == "active", 30, f"{unit} active")
        self.assertEqual(self.show("muster-responder.service", "Type"), "notify")
        self.assertRegex(self.show("muster-responder.service", "StatusText"), r"^Connected to amqp://127\.0\.0\.1")

    def test_01a_socket_pulled_by_the_service_and_survives_restart(self):
        """systemctl start/restart muster-responder.service leaves the
        control socket listening (it used to stay dead and refuse to
        start: "Socket service muster-responder.service already active")."""
        self.assertIn("muster-responder.socket", self.show("muster-responder.service", "Wants").split())
        self.assertIn("muster-responder.socket", self.show("muster-responder.service", "After").split())
        for verb in ("restart", "stop", "start"):
            self.systemctl(verb, "muster-responder.service")
            self.assertEqual(self.show("muster-responder.socket", "ActiveState"), "active", verb)
        self.systemctl("stop", "muster-responder.socket", "muster-responder.service")
        self.systemctl("start", "muster-responder.service")
        self.assertEqual(self.show("muster-responder.socket", "ActiveState"), "active")
        self.wait(lambda: self.show("muster-responder.service", "ActiveState") == "active", 30, "responder")
        # The daemon got the socket from systemd rather than binding its own.
        r = self.container.run("muster", "--local", "ping", check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.container.run("journalctl", "-u", "muster-responder", "-b", "--no-pager", "-o", "cat")
        self.assertNotIn("Not serving the control socket", r.stdout)
        self.assertNotIn("refusing", self.container.run("journalctl", "-b", "--no-pager", "-o", "cat",
                                                         "-u", "muster-responder.socket").stdout)

    def test_01b_enabling_the_socket_enables_the_service(self):
        """Enabling the socket alone makes the responder start at boot."""
        self.systemctl("disable", "muster-responder.socket", "muster-responder.service")
        self.assertEqual(self.systemctl("is-enabled", "muster-responder.service", check=False).stdout.strip(),
                         "disabled")
        self.systemctl("enable", "muster-responder.socket")
        self.assertEqual(self.systemctl("is-enabled", "muster-responder.service", check=False).stdout.strip(),
                         "enabled")
        wants = self.root / "etc/systemd/system/multi-user.target.wants/muster-responder.service"
        self.assertTrue(wants.is_symlink(), "the responder is pulled in at boot")

    def test_02_check_mc_nrpe_from_host(self):
        def answered():
            r = sh(str(BUILD / "tools/check-mc-nrpe"), "--config", str(self.client), "check_ok", check=False)
            return r.returncode == 0 and r
        self.wait(answered, 30, "check-mc-nrpe OK")
        r = sh(str(BUILD / "tools/check-mc-nrpe"), "--config", str(self.client), "check_ok", check=False)
        self.assertRegex(r.stdout, r"^check_ok: OK: 1 WARNING: 0 CRITICAL: 0 UNKNOWN: 0\| total=1 ok=1 warn=0 "
                                   r"crit=0 unknown=0 checktime=\d+\.\d{6}\n$")

    def test_03_timer_heartbeats_make_files(self):
        reg = self.root / "var/lib/muster/registrations"
        self.wait(lambda: (reg / "sysnode").exists(), 40, "a registration file from the timer")
        first = (reg / "sysnode").stat().st_mtime
        self.wait(lambda: (reg / "sysnode").stat().st_mtime > first, 30, "the next heartbeat")
        r = sh(str(BUILD / "tools/check_mcollective"), "-d", str(reg), "-i", "10", check=False)
        self.assertEqual(r.stdout, "OK: 1 / 1 hosts checked in within 10 seconds| totalhosts=1 oldhosts=0 "
                                   "currenthosts=1\n")
        self.assertEqual(r.returncode, 0)

    def test_04_metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:9477/metrics", timeout=5) as resp:
            text = resp.read().decode()
        self.assertIn("muster_broker_connected 1", text)
        self.assertIn("# TYPE muster_nodes gauge", text)

    def test_05_reload(self):
        pid = self.show("muster-responder.service", "MainPID")
        self.systemctl("reload", "muster-responder.service")
        self.assertEqual(self.show("muster-responder.service", "ActiveState"), "active")
        self.assertEqual(self.show("muster-responder.service", "MainPID"), pid)
        r = self.container.run("journalctl", "-u", "muster-responder", "MUSTER_EVENT=config-reloaded", "-o", "json")
        self.assertTrue(r.stdout.strip(), "no config-reloaded entry")

    def test_06_journal_fields(self):
        sh(str(BUILD / "tools/check-mc-nrpe"), "--config", str(self.client), "check_ok", check=False)
        self.wait(lambda: self.container.run("journalctl", "MUSTER_EVENT=node-new", "-o", "json").stdout.strip(), 40,
                  "node-new in the journal")
        e = json.loads(self.container.run("journalctl", "MUSTER_EVENT=node-new", "-o", "json").stdout.splitlines()[0])
        self.assertEqual((e["MUSTER_IDENTITY"], e["SYSLOG_IDENTIFIER"]), ("sysnode", "muster-collector"))
        ids = dict(re.findall(r'#define MSGID_(\w+)\s+"([0-9a-f]{32})"', (SOURCE / "lib/catalog-ids.h").read_text()))
        self.assertEqual(e["MESSAGE_ID"], ids["NODE_NEW"])
        r = self.container.run("journalctl", "-u", "muster-responder", "MUSTER_AGENT=nrpe", "-o", "json")
        entries = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertTrue(entries)
        self.assertEqual({x["MUSTER_EVENT"] for x in entries}, {"check-finished"})
        self.assertIn("check_ok", {x["MUSTER_COMMAND"] for x in entries})
        # The catalog explains it, with the entry's fields filled in.
        r = self.container.run("journalctl", "-x", "MUSTER_EVENT=node-new", "--no-pager")
        self.assertIn("Subject: New node sysnode", r.stdout)
        self.assertIn("Defined-By: muster", r.stdout)

    def test_07_verify_and_security(self):
        for unit in UNITS:
            # The container has no man-db; the units' man: links are checked on the host (units test).
            r = self.container.run("systemd-analyze", "verify", "--man=no", f"/lib/systemd/system/{unit}",
                                   check=False)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), unit)
        # No worse than before the checks left the daemons (1.7, 1.4, 1.4);
        # muster-check@.service holds what the responder's unit held for them.
        for unit, worst in (("muster-responder.service", 1.7), ("muster-collector.service", 1.4),
                            ("muster-heartbeat.service", 1.4), ("muster-check@sample.service", 1.7)):
            r = self.container.run("systemd-analyze", "security", unit, "--no-pager", check=False)
            score = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr
            print(f"\nsystemd-analyze security {unit}: {score}", file=sys.stderr)
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", score)
            self.assertTrue(m, score)
            self.assertLessEqual(float(m.group(1)), worst, score)

    def test_08_socket_activation(self):
        self.systemctl("stop", "muster-responder.service")
        self.assertEqual(self.show("muster-responder.socket", "ActiveState"), "active")
        self.assertEqual(self.show("muster-responder.service", "ActiveState"), "inactive")
        r = self.container.run("muster", "--local", "ping", check=False, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("sysnode", r.stdout)
        self.assertEqual(self.show("muster-responder.service", "ActiveState"), "active")

    def nrpe(self, command):
        r = self.container.run("muster", "nrpe", command, "--json", "-t", "15", check=False, timeout=60)
        replies = json.loads(r.stdout)["replies"]
        self.assertEqual(len(replies), 1, r.stdout + r.stderr)
        return replies[0]["data"]

    def test_10_checks_run_as_muster_check(self):
        d = self.nrpe("check_id")
        self.assertRegex(d["output"], r"^uid=\d+\(muster-check\) gid=\d+\(muster-check\) groups=\d+\(muster-check\)$")
        status = self.container.run("cat", f"/proc/{self.show('muster-responder.service', 'MainPID')}/status").stdout
        self.assertIn("NoNewPrivs:\t1", status)
        # The daemon holds no capability: checks are muster-check@.service
        # instances that muster-check.socket starts, as their own units.
        for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            self.assertRegex(status, rf"{field}:\t0000000000000000")
        d = self.nrpe("check_cgroup")
        # cgroup v2 ("0::/..."), or the named systemd hierarchy of v1.
        self.assertRegex(d["output"], r"^\d+:[^:]*:/muster\.slice/muster-checks\.slice/muster-check@[^/]+\.service$")
        self.assertEqual(self.container.run("stat", "-c", "%U:%G %a %F", "/run/muster/check.socket").stdout.strip(),
                         "root:muster 660 socket")

    def test_11_hostile_check_gets_nothing(self):
        """Under the shipped units: a check cannot read any secret, write in
        /run/muster or /var/lib/muster, or use a control socket."""
        d = self.nrpe("check_hostile")
        text = d["output"] + "\n" + d["long_output"]
        print(f"\n{text}", file=sys.stderr)
        self.assertEqual(d["output"], "hostile check as muster-check: 0 attempt(s) succeeded", text)
        lines = d["long_output"].split("\n")
        self.assertEqual([line.split(":")[0] for line in lines], HOSTILE_ATTEMPTS, text)
        for line in lines:
            self.assertRegex(line, r"^[^:]+: refused: .*(Permission denied|Read-only file system)", text)
        self.assertIn("connect to the control socket: refused: Permission denied", text)
        self.assertRegex(text, r"\nmuster --local ping: refused: (muster: )?Failed to talk to the responder at "
                               r"/run/muster/responder\.control: Permission denied\n")
        self.assertIn("connect to the collector's control socket: refused: Permission denied", text)
        self.assertIn("connect to the check runner: refused: Permission denied", text)
        # /run is the container's own tmpfs: look from inside.
        for f in ("/run/muster/hostile", "/var/lib/muster/hostile", "/var/lib/muster/registrations/hostile"):
            self.assertNotEqual(self.container.run("test", "-e", f, check=False).returncode, 0, f)
        self.assertEqual(self.container.run("stat", "-c", "%U:%G %a", "/run/muster").stdout.strip(), "root:root 755")

    def test_12_fork_flood_is_bounded(self):
        """A check that starts 1000 processes hits the TasksMax=256 of
        muster-checks.slice (every check together); the daemon, in its own
        unit, is not touched, and after the check's timeout the node answers
        again."""
        self.assertEqual(self.show("muster-checks.slice", "TasksMax"), "256")
        self.assertEqual(self.show("muster-checks.slice", "MemoryMax"), str(512 * 1024 * 1024))
        pid = self.show("muster-responder.service", "MainPID")
        d = self.nrpe("check_fork_flood")
        print(f"\nfork flood: exit {d['exitcode']}: {d['output']}", file=sys.stderr)
        self.assertEqual(self.show("muster-responder.service", "MainPID"), pid)
        cg = self.container.run("sh", "-c", "for d in /sys/fs/cgroup/muster.slice/muster-checks.slice "
                                            "/sys/fs/cgroup/pids/muster.slice/muster-checks.slice; do "
                                            "cat $d/pids.peak 2>/dev/null || cat $d/pids.current 2>/dev/null; "
                                            "done | head -1", check=False).stdout.strip()
        print(f"\nfork flood: pids peak/current {cg!r}", file=sys.stderr)
        if cg:
            self.assertLessEqual(int(cg), 256)
        self.wait(lambda: self.nrpe("check_ok")["exitcode"] == 0, 60, "the node answers again")

    def test_13_orphan_sweep_logs_only_leftovers(self):
        """What a check daemonized dies with it (the runner is a subreaper,
        and its unit's cgroup goes when it exits), logged once by the
        runner; a check that leaves nothing logs nothing."""
        # Everything after the cursor, filtered here: journalctl 252 with
        # both --after-cursor and a match can miss the first matching entry
        # when the cursor's own entry does not match.
        def log(field, value):
            out = self.container.run("journalctl", "--after-cursor", cursor, "--no-pager", "-o", "json").stdout
            entries = [json.loads(x) for x in out.splitlines() if x.strip()]
            return "\n".join(str(e.get("MESSAGE")) for e in entries if e.get(field) == value)

        def responder_log():
            return log("_SYSTEMD_UNIT", "muster-responder.service")

        def runner_log():
            return log("SYSLOG_IDENTIFIER", "muster-check-runner")
        cursor = self.container.run("journalctl", "-n", "0", "--show-cursor", "--no-pager").stdout.split()[-1]
        for _ in range(3):
            self.assertEqual(self.nrpe("check_true")["exitcode"], 0)
        self.wait(lambda: responder_log().count("Check check_true finished OK") == 3, 10,
                  "three check-finished entries")
        # One unit per check, but not three lines of systemd's per check.
        self.assertNotIn("muster-check@", log("_PID", "1"))
        self.assertNotIn("left behind", runner_log())
        self.assertEqual(self.nrpe("check_daemonize")["output"], "launched")
        self.wait(lambda: "left behind" in runner_log(), 10, "the sweep's entry")
        self.assertEqual(runner_log().count("Killed 1 process(es) a check left behind."), 1, runner_log())
        self.assertNotEqual(self.container.run("pgrep", "-f", "sleep 3021", check=False).returncode, 0)

    def test_14_packaging(self):
        """The CLI comes with muster-common (what nodes get), and the key
        directories are closed to the check user."""
        self.assertEqual(self.container.run("dpkg", "-S", "/usr/bin/muster").stdout.split(":")[0], "muster-common")
        st = (self.root / "etc/muster/clients.d").stat()
        self.assertEqual(st.st_mode & 0o7777, 0o750)
        st = (self.root / "var/lib/muster/registrations").stat()
        self.assertEqual(st.st_mode & 0o7777, 0o2750)
        ids = self.container.run("id", "muster-check").stdout
        self.assertNotIn("(muster)", ids)

    def test_99_purge_deregisters_the_node(self):
        """Removing muster-node keeps the node's registration (a stopped node
        must still page); purging it deregisters the node through postrm:
        the collector logs node-deregistered and the file goes. Last: it
        takes the node daemons away."""
        reg = self.root / "var/lib/muster/registrations"
        self.wait(lambda: (reg / "sysnode").exists(), 40, "a registration file from the timer")
        self.container.run("dpkg", "--remove", "muster-node", timeout=120)
        time.sleep(2)
        self.assertTrue((reg / "sysnode").exists(), "a remove must not deregister the node")
        r = self.container.run("dpkg", "--purge", "muster-node", timeout=120)
        self.wait(lambda: not (reg / "sysnode").exists(), 30, "the node's file removed after the purge")
        got = self.container.run("journalctl", "MUSTER_EVENT=node-deregistered", "-o", "json").stdout.splitlines()
        self.assertIn("sysnode", {json.loads(x).get("MUSTER_IDENTITY") for x in got}, r.stdout + r.stderr)
        # The collector goes on: check_mcollective now counts no node.
        r = sh(str(BUILD / "tools/check_mcollective"), "-d", str(reg), "-i", "10", check=False)
        self.assertTrue(r.stdout.startswith("OK: 0 / 0 hosts"), r.stdout)

    def as_nagios(self, *args):
        return self.container.run("runuser", "-u", "nagios", "--", *args, check=False, timeout=60)

    def test_15_nagios_least_privilege(self):
        """Nagios, set up as the quick start says: both plugins work, the
        same user cannot call another agent, and it holds neither the PSK
        nor muster's broker password."""
        groups = self.container.run("id", "-nG", "nagios").stdout.split()
        self.assertIn("muster-registry", groups)
        self.assertNotIn("muster", groups)
        conf = "/etc/muster/nagios/muster.conf"
        r = self.as_nagios("/usr/lib/nagios/plugins/check-mc-nrpe", "--config", conf, "check_ok")
        self.assertRegex(r.stdout, r"^check_ok: OK: 1 WARNING: 0 CRITICAL: 0 UNKNOWN: 0\| total=1 ok=1 ")
        self.assertEqual(r.returncode, 0)
        r = self.as_nagios("/usr/lib/nagios/plugins/check_mcollective", "-i", "300")
        self.assertRegex(r.stdout, r"^OK: 1 / 1 hosts checked in within 300 seconds")
        # Another agent with the same key: refused by the node's policy, nothing runs.
        r = self.as_nagios("muster", "--config", conf, "rpc", "rpcutil", "inventory", "--json")
        replies = json.loads(r.stdout)["replies"]
        self.assertEqual([(x["statuscode"], x["statusmsg"]) for x in replies],
                         [(1, "Not authorized: nagios may not call rpcutil inventory")])
        denied = self.container.run("journalctl", "MUSTER_EVENT=request-denied", "-o", "json").stdout.splitlines()
        self.assertIn("nagios", {json.loads(x).get("MUSTER_CALLER") for x in denied})
        # No secret of the collective.
        for secret in ("/etc/muster/psk", "/etc/muster/broker-password", "/etc/muster/node.key"):
            r = self.as_nagios("cat", secret)
            self.assertIn("Permission denied", r.stderr, secret)
        # Commands that do not talk to the broker read no broker password.
        r = self.as_nagios("muster", "nodes")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sysnode", r.stdout)

    def registration(self):
        try:
            return json.loads((self.root / "var/lib/muster/registrations/sysnode").read_text())
        except (OSError, ValueError):
            return {}

    def pushed_state(self, check):
        return self.registration().get("checks", {}).get(check, {}).get("state")

    def wait_beats(self, n, timeout=30):
        """Until the collector stored n more registrations from the timer's
        beats: each one moves the node file's mtime (a repeat is only
        touched, a change is renamed over it)."""
        reg = self.root / "var/lib/muster/registrations/sysnode"
        for _ in range(n):
            last = reg.stat().st_mtime_ns
            self.wait(lambda: reg.stat().st_mtime_ns != last, timeout, "the timer's next beat")

    def journal_after(self, seqnum, *matches):
        """The container journal's entries after seqnum that match. Not
        --after-cursor: journalctl 252 skips the first match after a cursor
        whose own entry does not match."""
        r = self.container.run("journalctl", "--no-pager", "-o", "json", *matches)
        return [e for e in map(json.loads, r.stdout.splitlines()) if journal_seqnum(e) > seqnum]

    def state_changes(self, check, seqnum):
        """check-state-changed entries for check after seqnum, oldest first,
        and their (identity, previous state, state)."""
        entries = self.journal_after(seqnum, "MUSTER_EVENT=check-state-changed", f"MUSTER_CHECK={check}")
        return entries, [(e["MUSTER_IDENTITY"], e["MUSTER_PREVIOUS_STATE"], e["MUSTER_STATE"]) for e in entries]

    def test_16_pushed_checks_under_the_timer(self):
        """[heartbeat] checks under the shipped units: the real
        muster-heartbeat.timer (its interval shortened by a drop-in, as
        "systemctl edit" makes one) runs the checks at each beat as
        muster-check, the collector stores the results and logs a state
        change once, and Nagios's user collates them with check-mc-nrpe
        --from-registry. muster-heartbeat is never run by hand here."""
        triggered = self.show("muster-heartbeat.timer", "LastTriggerUSecMonotonic")
        since = journal_seqnum(json.loads(self.container.run("journalctl", "-n", "1", "-o", "json").stdout))
        flag = self.root / "etc/muster-test/flag"
        flag.parent.mkdir(exist_ok=True)
        flag.write_text("1\n")
        (self.root / "usr/local/lib/muster-test/flag").write_text(PUSHED_FLAG)
        os.chmod(self.root / "usr/local/lib/muster-test/flag", 0o755)
        cfg = self.root / "etc/muster/nrpe.d/pushed.cfg"
        # check_where names the unit its check ran in.
        cfg.write_text("command[check_flag]=/usr/local/lib/muster-test/flag\n"
                       "command[check_where]=echo \"in $(grep -o 'muster-check@[^/]*' /proc/self/cgroup | head -1)\"\n")
        conf = self.root / "etc/muster/conf.d/70-pushed.conf"
        conf.write_text("[heartbeat]\nchecks=check_ok check_flag check_id check_where\n")
        dropin = self.root / "etc/systemd/system/muster-heartbeat.timer.d/override.conf"
        # Adds to the timer's OnUnitActiveSec= (the earliest one wins).
        dropin.write_text("[Timer]\nOnUnitActiveSec=2s\nRandomizedDelaySec=0\nAccuracySec=1s\n")

        def restore():
            for f in (conf, cfg, dropin):
                f.unlink(missing_ok=True)
            self.systemctl("daemon-reload")
        self.addCleanup(restore)
        self.systemctl("daemon-reload")
        self.assertIn("2s", self.show("muster-heartbeat.timer", "TimersMonotonic"))

        # The first beat with checks: stored by the collector.
        self.wait(lambda: self.pushed_state("check_flag") == 1, 30, "check_flag WARNING in the node's file")
        t0 = time.monotonic()
        checks = self.registration()["checks"]
        self.assertEqual(sorted(checks), ["check_flag", "check_id", "check_ok", "check_where"])
        self.assertEqual((checks["check_ok"]["state"], checks["check_ok"]["output"]), (0, "OK: system test fine"))
        # Run as the check user, not as muster (the heartbeat's own user) and not as root.
        self.assertEqual(checks["check_flag"]["output"], "FLAG WARNING as muster-check")
        self.assertEqual(checks["check_flag"]["perfdata"], "state=1")
        self.assertRegex(checks["check_id"]["output"],
                         r"^uid=\d+\(muster-check\) gid=\d+\(muster-check\) groups=\d+\(muster-check\)$")
        # Each in a unit of its own, started by muster-check.socket, not in the heartbeat's sandbox.
        self.assertRegex(checks["check_where"]["output"], r"^in muster-check@\S+\.service$")

        # What the operator sees on the monitoring host.
        r = self.container.run("muster", "inventory", "sysnode")
        print(f"\n{r.stdout}", file=sys.stderr)
        self.assertRegex(r.stdout, r"\n   Checks:\n      check_flag +WARNING +FLAG WARNING as muster-check "
                                   r"\(ran \d+ s ago\)\n      check_id +OK +uid=\d+\(muster-check\) .*\n"
                                   r"      check_ok +OK +OK: system test fine \(ran \d+ s ago\)\n"
                                   r"      check_where +OK +in muster-check@")
        r = self.container.run("muster", "nodes", "--check", "check_flag")
        print(r.stdout, file=sys.stderr)
        self.assertRegex(r.stdout, r"(?m)^sysnode +\S+ +current +WARNING +FLAG WARNING as muster-check\b")

        # What Nagios sees, as the Nagios command definitions run it: user
        # nagios, its own configuration, no broker involved.
        def nagios_from_registry(check):
            return self.as_nagios("/usr/lib/nagios/plugins/check-mc-nrpe", check, "--config",
                                  "/etc/muster/nagios/muster.conf", "--from-registry")
        r = nagios_from_registry("check_flag")
        print(r.stdout, file=sys.stderr)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"^check_flag: OK: 0 WARNING: 1 CRITICAL: 0 UNKNOWN: 0\| total=1 ok=0 warn=1 "
                                   r"crit=0 unknown=0 checktime=\d+\.\d{6}\nWARNING: sysnode\n$")
        r = nagios_from_registry("check_ok")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"^check_ok: OK: 1 WARNING: 0 CRITICAL: 0 UNKNOWN: 0\| total=1 ok=1 ")

        # Flip check_flag to CRITICAL and let the timer beat several times more.
        flag.write_text("2\n")
        self.wait(lambda: self.pushed_state("check_flag") == 2, 30, "check_flag CRITICAL in the node's file")
        self.wait_beats(3)
        r = nagios_from_registry("check_flag")
        print(r.stdout, file=sys.stderr)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"^check_flag: OK: 0 WARNING: 0 CRITICAL: 1 UNKNOWN: 0\| total=1 ok=0 warn=0 "
                                   r"crit=1 unknown=0 checktime=\d+\.\d{6}\nCRITICAL: sysnode\n$")
        self.assertEqual(self.registration()["checks"]["check_flag"]["output"], "FLAG CRITICAL as muster-check")

        # The journal: one entry per change, not one per beat.
        entries, changes = self.state_changes("check_flag", since)
        for e in entries:
            print(f"journal: {e['MESSAGE']}", file=sys.stderr)
        self.assertEqual(changes, [("sysnode", "NONE", "WARNING"), ("sysnode", "WARNING", "CRITICAL")])
        ids = dict(re.findall(r'#define MSGID_(\w+)\s+"([0-9a-f]{32})"', (SOURCE / "lib/catalog-ids.h").read_text()))
        self.assertEqual({e["MESSAGE_ID"] for e in entries}, {ids["CHECK_STATE_CHANGED"]})
        self.assertEqual({e["SYSLOG_IDENTIFIER"] for e in entries}, {"muster-collector"})
        self.assertEqual(entries[-1]["MESSAGE"],
                         "Check check_flag on sysnode is now CRITICAL (was WARNING): FLAG CRITICAL as muster-check")
        # A check first seen OK is no news, and check_ok never changed.
        self.assertEqual(self.state_changes("check_ok", since)[1], [])
        r = self.container.run("journalctl", "-x", "--no-pager", "MUSTER_EVENT=check-state-changed",
                               "MUSTER_CHECK=check_flag", "MUSTER_STATE=CRITICAL")
        self.assertIn("Subject: Check check_flag on sysnode is now CRITICAL", r.stdout)

        # Every beat came from the timer and succeeded.
        # systemd's "Finished"/"Failed" entry of each start job (its catalog's
        # job-done MESSAGE_ID), all from the timer: nothing else starts it here.
        finished = [e for e in self.journal_after(since, "-u", "muster-heartbeat.service",
                                                  "MESSAGE_ID=39f53479d3a045ac8e11786248231fbf")
                    if e.get("JOB_TYPE") == "start"]
        print(f"muster-heartbeat.service: {len(finished)} timer runs, "
              f"{time.monotonic() - t0:.1f} s from the first stored result to the end", file=sys.stderr)
        self.assertGreaterEqual(len(finished), 5)
        self.assertEqual({e.get("JOB_RESULT") for e in finished}, {"done"})
        self.assertEqual(self.show("muster-heartbeat.service", "Result"), "success")
        self.assertNotEqual(self.show("muster-heartbeat.timer", "LastTriggerUSecMonotonic"), triggered)

    def test_09_watchdog_restarts_stopped_collector(self):
        before = int(self.show("muster-collector.service", "NRestarts"))
        pid = self.show("muster-collector.service", "MainPID")
        self.container.run("kill", "-STOP", pid)
        self.wait(lambda: int(self.show("muster-collector.service", "NRestarts")) > before, 30, "watchdog restart")
        self.wait(lambda: self.show("muster-collector.service", "ActiveState") == "active", 30, "collector back")
        self.assertNotEqual(self.show("muster-collector.service", "MainPID"), pid)
        r = self.container.run("journalctl", "-u", "muster-collector", "--no-pager")
        self.assertRegex(r.stdout, r"[Ww]atchdog timeout")


if __name__ == "__main__":
    if os.environ.get("MUSTER_SKIP_SYSTEM") == "1":
        print("MUSTER_SKIP_SYSTEM=1: system tests skipped")
        sys.exit(77)
    unittest.main(verbosity=2)
