#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""valgrind --leak-check=full over the responder, the collector and the
heartbeat through a real run: requests of every agent, a timed-out check,
dropped messages, registrations, reload, shutdown. No definite leak, no
invalid access."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import (Fleet, Collector, RawClient, binary, build_registration, build_request, heartbeat,  # noqa: E402
                   node_config, PLUGINS)


def sanitized(path):
    r = subprocess.run(["nm", "-D", path], capture_output=True, text=True)
    return "__asan_init" in r.stdout or "__ubsan" in r.stdout


class Valgrind(unittest.TestCase):
    def setUp(self):
        if not shutil.which("valgrind"):
            self.fail("valgrind is not installed")
        if sanitized(binary("muster-responder")):
            self.skipTest("this build uses AddressSanitizer; valgrind runs against the plain build")
        self.broker = Broker().start()
        self.fleet = Fleet(self.broker.url)
        self.logs = self.fleet.root / "vg"
        self.logs.mkdir()

    def tearDown(self):
        self.fleet.close()
        self.broker.stop()

    def wrapper(self, name):
        return ("valgrind", "--leak-check=full", "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
                "--error-exitcode=99", "--track-fds=no", f"--log-file={self.logs / name}.%p.log")

    def assertClean(self, name):
        # Children forked for checks leave a header-only log when they exec
        # (valgrind does not follow them): the daemon's logs have a summary.
        logs = [p for p in self.logs.glob(f"{name}.*.log") if "ERROR SUMMARY" in p.read_text()]
        self.assertTrue(logs, f"no valgrind summary for {name}")
        for log in logs:
            text = log.read_text()
            m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            self.assertEqual(m.group(1), "0", f"{name}: {text[-4000:]}")
            m = re.search(r"definitely lost: ([\d,]+) bytes", text)
            self.assertTrue(m is None or m.group(1) == "0", f"{name}: {text[-4000:]}")

    def test_daemons_under_valgrind(self):
        node = self.fleet.add("node1", facts={"role": "web"}, commands={
            "check_ok": f"{PLUGINS}/check_dummy 0 fine", "check_slow": "sleep 30"},
            extra={"nrpe": {"command_timeout": "2s"}})
        node.start(wrapper=self.wrapper("responder"), wait=False)
        node.wait_ready(timeout=60)
        collector = Collector(self.fleet)
        collector.start(wrapper=self.wrapper("collector"), wait=False)
        collector.notify.wait_for("READY=1", 60)

        for args in (("ping",), ("nrpe", "check_ok"), ("nrpe", "check_slow"), ("nrpe", "nope"),
                     ("rpc", "rpcutil", "inventory"), ("rpc", "rpcutil", "get_fact", "fact=role")):
            self.fleet.run("muster", *args, "--dt", "2", "-t", "10")
        raw = RawClient(self.broker.url, self.fleet.psk)
        raw.publish(build_request("discovery", "ping"), signed=False)
        raw.publish(b"\xff garbage")
        raw.publish(json.dumps(build_registration("bad/name")).encode(), "registration", "muster.registration.x",
                    reply=False)
        raw.close()
        for i in range(3):
            r = heartbeat(node_config(self.fleet, f"hb{i}"), wrapper=self.wrapper("heartbeat"), timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
        collector.wait_log("registered for the first time", 3, timeout=30)
        node.proc.send_signal(signal.SIGHUP)
        node.notify.wait_for("RELOADING=1", 20)
        time.sleep(2)
        self.assertEqual(node.stop(timeout=60), 0, node.stderr()[-2000:])
        self.assertEqual(collector.stop(timeout=60), 0, collector.stderr()[-2000:])
        self.assertClean("responder")
        self.assertClean("collector")
        self.assertClean("heartbeat")


if __name__ == "__main__":
    from harness import main
    main()
