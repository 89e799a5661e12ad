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
            "libmicrohttpd12", "libssl3", "monitoring-plugins-basic", "procps"]
MIRROR = "http://deb.debian.org/debian"
CACHE = SOURCE / ".cache"
UNITS = ["muster-responder.service", "muster-responder.socket", "muster-collector.service",
         "muster-collector.socket", "muster-collector-metrics.socket", "muster-heartbeat.service",
         "muster-heartbeat.timer"]


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
            cls.broker = Broker().start()
            cls.setup_root(debs)
            cls.container = Container(cls.root)
            t0 = time.monotonic()
            cls.container.boot()
            print(f"booted in {time.monotonic() - t0:.1f} s", file=sys.stderr)
            c = cls.container
            c.run("systemctl", "enable", "--now", "muster-collector.socket", "muster-collector-metrics.socket",
                  "muster-collector.service")
            c.run("systemctl", "enable", "--now", "muster-responder.socket", "muster-responder.service",
                  "muster-heartbeat.timer")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def setup_root(cls, debs):
        root = cls.root
        for d in debs:
            shutil.copy2(d, root / "tmp")
        names = [f"/tmp/{d.name}" for d in debs]
        sh("chroot", str(root), "dpkg", "-i", *names)
        cls.psk = secrets.token_hex(32)
        (root / "etc/muster/psk").write_text(cls.psk + "\n")
        sh("chroot", str(root), "chown", "root:muster", "/etc/muster/psk")
        os.chmod(root / "etc/muster/psk", 0o640)
        (root / "etc/muster/conf.d/50-test.conf").write_text(
            f"[main]\nidentity=sysnode\n[broker]\nurl=amqp://guest:guest@127.0.0.1:{cls.broker.port}/\n"
            "[heartbeat]\ninterval=10s\n[nrpe]\ncommand_timeout=5s\n[collector]\nsweep_interval=2s\n")
        (root / "etc/muster/nrpe.d/test.cfg").write_text(
            "command[check_ok]=/usr/lib/nagios/plugins/check_dummy 0 'system test fine'\n")
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
        cls.client = cls.work / "client.conf"
        (cls.work / "psk").write_text(cls.psk + "\n")
        os.chmod(cls.work / "psk", 0o600)
        cls.client.write_text(f"[main]\nidentity=monitor\n[broker]\nurl=amqp://guest:guest@127.0.0.1:"
                              f"{cls.broker.port}/\n[security]\npsk_file={cls.work / 'psk'}\n"
                              f"[client]\ndiscovery_timeout=2s\ntimeout=10s\n")

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

    def test_01_active(self):
        for unit in ("muster-responder.socket", "muster-responder.service", "muster-collector.socket",
                     "muster-collector-metrics.socket", "muster-collector.service", "muster-heartbeat.timer"):
            self.wait(lambda: self.show(unit, "ActiveState") == "active", 30, f"{unit} active")
        self.assertEqual(self.show("muster-responder.service", "Type"), "notify")
        self.assertRegex(self.show("muster-responder.service", "StatusText"), r"^Connected to amqp://127\.0\.0\.1")

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
        self.assertEqual(entries[0]["MUSTER_COMMAND"], "check_ok")
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
        for unit in ("muster-responder.service", "muster-collector.service", "muster-heartbeat.service"):
            r = self.container.run("systemd-analyze", "security", unit, "--no-pager", check=False)
            score = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr
            print(f"\nsystemd-analyze security {unit}: {score}", file=sys.stderr)

    def test_08_socket_activation(self):
        self.systemctl("stop", "muster-responder.service")
        self.assertEqual(self.show("muster-responder.socket", "ActiveState"), "active")
        self.assertEqual(self.show("muster-responder.service", "ActiveState"), "inactive")
        r = self.container.run("muster", "--local", "ping", check=False, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("sysnode", r.stdout)
        self.assertEqual(self.show("muster-responder.service", "ActiveState"), "active")

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
