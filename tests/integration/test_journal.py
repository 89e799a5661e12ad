#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Journal entries: MESSAGE_ID and MUSTER_* fields, as journald receives
them, then filtered with journalctl from a real journal file, and read by
check_mcollective --journal.

journald does not run here: the test re-executes itself in a private mount
namespace, listens on /run/systemd/journal/socket itself (journald's native
protocol), and turns what it received into a journal file with
systemd-journal-remote."""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

HERE = Path(__file__).parent
JOURNAL_SOCKET = "/run/systemd/journal/socket"

if os.environ.get("MUSTER_JOURNAL_NS") != "1":
    # Private mount namespace: our own /run/systemd, nothing leaks out.
    os.environ["MUSTER_JOURNAL_NS"] = "1"
    script = ("mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/journal && "
              f"exec {sys.executable} {Path(__file__).resolve()} \"$@\"")
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                          *sys.argv[1:]])

sys.path.insert(0, str(HERE))
from harness import Broker  # noqa: E402
from fleet import Fleet, Collector, RawClient, binary, build_registration, build_request, PLUGINS  # noqa: E402

IDS = dict(re.findall(r'#define MSGID_(\w+)\s+"([0-9a-f]{32})"',
                      (HERE.parents[1] / "lib" / "catalog-ids.h").read_text()))


def parse_native(data):
    """journald's native protocol: KEY=value\\n, or KEY\\n<le64 size><bytes>\\n."""
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        fields[k.decode()] = v.decode(errors="replace")
    return fields


class JournalSink:
    def __init__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(JOURNAL_SOCKET)
        self.sock.settimeout(0.2)
        self.entries = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            self.entries.append(parse_native(data))

    def find(self, **match):
        return [e for e in self.entries if all(e.get(k) == v for k, v in match.items())]

    def wait(self, timeout=10, **match):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(**match)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no journal entry with {match}; have {[e.get('MESSAGE') for e in self.entries]}")

    def export(self, path):
        """Write what we received as a real journal file."""
        out = []
        t = int(time.time() * 1e6)
        for n, e in enumerate(self.entries):
            out.append(f"__REALTIME_TIMESTAMP={t + n}\n__MONOTONIC_TIMESTAMP={n + 1}\n".encode())
            out.append(f"_BOOT_ID={'0' * 31}1\n".encode())
            for k, v in e.items():
                vb = v.encode()
                if b"\n" in vb:
                    out.append(k.encode() + b"\n" + struct.pack("<Q", len(vb)) + vb + b"\n")
                else:
                    out.append(k.encode() + b"=" + vb + b"\n")
            out.append(b"\n")
        r = subprocess.run(["/lib/systemd/systemd-journal-remote", "-o", str(path), "-"], input=b"".join(out),
                           capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.decode())


class Journal(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = JournalSink()
        cls.broker = Broker().start()
        cls.fleet = Fleet(cls.broker.url)
        journal = {"main": {"log_target": "journal", "log_level": "info"}}
        cls.node = cls.fleet.add("web1", commands={"check_warn": f"{PLUGINS}/check_dummy 1 'disk half full'"},
                                 extra=journal)
        cls.node.start()
        cls.collector = Collector(cls.fleet, extra=journal).start()

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()
        cls.broker.stop()
        cls.sink.stop = True

    def test_fields_then_journalctl(self):
        # A check, a dropped request, a new node and a stale node.
        r = self.fleet.run("check-mc-nrpe", "check_warn")
        self.assertEqual(r.returncode, 1, r.stdout)
        raw = RawClient(self.broker.url, self.fleet.psk)
        raw.publish(build_request("discovery", "ping"), signed=False)
        raw.confirm()
        raw.publish(json.dumps(build_registration("fresh")).encode(), "registration", "muster.registration.fresh",
                    reply=False, persistent=True)
        raw.publish(json.dumps(build_registration("gone", msgtime=int(time.time()) - 600, interval=60)).encode(),
                    "registration", "muster.registration.gone", reply=False, persistent=True)
        raw.close()

        check = self.sink.wait(MUSTER_EVENT="check-finished")[0]
        self.assertEqual(check["MESSAGE_ID"], IDS["CHECK_FINISHED"])
        self.assertEqual(check["SYSLOG_IDENTIFIER"], "muster-responder")
        self.assertEqual((check["MUSTER_AGENT"], check["MUSTER_ACTION"], check["MUSTER_COMMAND"],
                          check["MUSTER_EXITCODE"], check["MUSTER_SENDER"]),
                         ("nrpe", "runcommand", "check_warn", "1", "monitor"))
        self.assertRegex(check["MUSTER_REQUESTID"], r"^[0-9a-f]{32}$")
        self.assertGreater(int(check["MUSTER_DURATION_USEC"]), 0)
        self.assertEqual(check["PRIORITY"], "6")

        drop = self.sink.wait(MUSTER_EVENT="request-dropped")[0]
        self.assertEqual((drop["MESSAGE_ID"], drop["MUSTER_REASON"], drop["PRIORITY"]),
                         (IDS["REQUEST_DROPPED"], "unsigned", "4"))

        new = self.sink.wait(MUSTER_EVENT="node-new", MUSTER_IDENTITY="fresh")[0]
        self.assertEqual((new["MESSAGE_ID"], new["SYSLOG_IDENTIFIER"]), (IDS["NODE_NEW"], "muster-collector"))
        stale = self.sink.wait(MUSTER_EVENT="node-stale", MUSTER_IDENTITY="gone")[0]
        self.assertEqual(stale["MESSAGE_ID"], IDS["NODE_STALE"])
        self.sink.wait(MUSTER_EVENT="broker-connected")

        # Nothing went to stderr while the journal was the target.
        self.assertNotIn("Check check_warn", self.node.stderr())

        # The same entries in a real journal file, filtered by journalctl.
        jf = self.fleet.root / "test.journal"
        self.sink.export(jf)

        def journalctl(*args):
            r = subprocess.run(["journalctl", "--file", str(jf), "-o", "json", *args], capture_output=True,
                               text=True)
            return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

        got = journalctl("MUSTER_EVENT=node-new")
        self.assertEqual([e["MUSTER_IDENTITY"] for e in got], ["fresh", "gone"])
        got = journalctl("SYSLOG_IDENTIFIER=muster-responder", "MUSTER_AGENT=nrpe")
        self.assertEqual({e["MUSTER_EVENT"] for e in got}, {"check-finished"})
        self.assertEqual(journalctl("MUSTER_EVENT=node-stale")[0]["MUSTER_IDENTITY"], "gone")

        # check_mcollective judges nodes by those events.
        r = subprocess.run([binary("check_mcollective"), "--journal-file", str(jf), "-i", "60", "-v"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2, r)
        self.assertEqual(r.stdout.splitlines()[0], "CRITICAL: 1 / 2 hosts not checked in within 60 seconds - "
                                                   "failed: gone| totalhosts=2 oldhosts=1 currenthosts=1")
        self.assertTrue(r.stdout.splitlines()[1].startswith("gone: last seen"), r.stdout)

        # Recovery turns it OK again.
        raw = RawClient(self.broker.url, self.fleet.psk)
        raw.confirm()
        raw.publish(json.dumps(build_registration("gone", interval=60)).encode(), "registration",
                    "muster.registration.gone", reply=False, persistent=True)
        raw.close()
        self.sink.wait(MUSTER_EVENT="node-recovered", MUSTER_IDENTITY="gone")
        jf2 = self.fleet.root / "test2.journal"
        self.sink.export(jf2)
        r = subprocess.run([binary("check_mcollective"), "--journal-file", str(jf2), "-i", "60"],
                           capture_output=True, text=True)
        self.assertEqual(r.stdout, "OK: 2 / 2 hosts checked in within 60 seconds| totalhosts=2 oldhosts=0 "
                                   "currenthosts=2\n")
        self.assertEqual(r.returncode, 0)


class Console(unittest.TestCase):
    def test_stderr_prefixes(self):
        """Outside the journal: one line each, with a <N> priority prefix."""
        r = subprocess.run([binary("muster-responder"), "--config", "/nonexistent/muster.conf"],
                           capture_output=True, text=True, env={**os.environ, "MUSTER_LOG_TARGET": "console"})
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^<3>Failed to open configuration file /nonexistent/muster.conf: "
                                   r"No such file or directory\n")


if __name__ == "__main__":
    from harness import main
    main()
