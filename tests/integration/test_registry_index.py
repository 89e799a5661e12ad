#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Registry discovery with the collector's index (.index/registry): what
`muster ping --dm registry` expects is the same whether the index is there,
missing, stale or corrupt, and -T picks the collective through it too."""

import json
import os
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Collector, Fleet  # noqa: E402


class RegistryIndex(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.broker.start()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()

    def setUp(self):
        self.fleet = Fleet(self.broker.url)
        for name in ("a1", "a2", "b1"):
            self.fleet.register(name, facts={"role": "web" if name.startswith("a") else "db"})
        # A node of another collective, in the same directory.
        other = json.loads((self.fleet.registry / "a1").read_text())
        other.update(identity="o1", collective="other")
        (self.fleet.registry / "o1").write_text(json.dumps(other))
        self.index = self.fleet.registry / ".index" / "registry"
        self.collector = Collector(self.fleet, name=self.fleet.collective)
        self.collector.start()
        deadline = time.monotonic() + 15
        while not self.index.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(self.index.exists(), "the collector wrote no index")

    def tearDown(self):
        self.fleet.close()

    def expected(self, *args):
        """The nodes a registry ping expected (none answers here: all missing)."""
        r = self.fleet.run("muster", "ping", "--dm", "registry", "-t", "1", "--json", *args)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual(d["stats"]["responses"], 0)
        return sorted(d["no_response"])

    def test_present_missing_stale_corrupt(self):
        self.assertIn("a1\t", self.index.read_text())
        self.assertEqual(self.expected(), ["a1", "a2", "b1"])
        self.assertEqual(self.expected("-F", "role=db"), ["b1"])
        self.assertEqual(self.expected("-T", "other"), ["o1"])
        self.assertEqual(self.expected("-T", "other", "-F", "role=db"), [])

        # Stale: a node added and one removed after the index was written.
        text = self.index.read_text()
        self.fleet.register("a3", facts={"role": "web"})
        (self.fleet.registry / "a2").unlink()
        self.assertEqual(self.index.read_text(), text)
        self.assertEqual(self.expected(), ["a1", "a3", "b1"])
        self.assertEqual(self.expected("-F", "role=web"), ["a1", "a3"])

        # Corrupt: one fact changed in place; the checksum no longer matches.
        self.index.write_text(text.replace('"role":"db"', '"role":"xx"'))
        self.assertEqual(self.expected("-F", "role=db"), ["b1"])
        self.index.write_text(text[: len(text) // 2])
        self.assertEqual(self.expected("-F", "role=web"), ["a1", "a3"])

        # Missing.
        self.index.unlink()
        self.assertEqual(self.expected(), ["a1", "a3", "b1"])
        self.assertEqual(self.expected("-T", "other"), ["o1"])

    def wait_for(self, what, cond, timeout=15):
        deadline = time.monotonic() + timeout
        while not cond():
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.1)

    def restart(self):
        self.collector.stop()
        self.collector = Collector(self.fleet, name=self.fleet.collective)
        self.collector.start()

    def test_restart_keeps_a_current_index(self):
        """A collector that starts on a directory its index still describes
        leaves the index alone (no walk of every file at each restart); one
        that finds files added while it was down writes it again."""
        def stamp():
            return self.index.read_text().split("\n")[1].split()[1]
        # The first index was written while the files were fresh, without
        # the directory's stamp (a change in the same clock tick would not
        # move it): a restart 2 s later rewrites it, stamped.
        time.sleep(2.1)
        self.restart()
        self.wait_for("the index was not stamped after a restart", lambda: stamp() != "-")
        before = os.stat(self.index)

        self.restart()
        time.sleep(2.5)  # past the collector's first index write (1 s after start)
        after = os.stat(self.index)
        self.assertEqual((after.st_ino, after.st_mtime_ns), (before.st_ino, before.st_mtime_ns),
                         "a current index was written again at start")
        self.assertEqual(self.expected(), ["a1", "a2", "b1"])

        # A node added while no collector ran: the index is older than the
        # directory and is written again, naming it.
        self.collector.stop()
        self.fleet.register("a4", facts={"role": "web"})
        self.collector = Collector(self.fleet, name=self.fleet.collective)
        self.collector.start()
        self.wait_for("the index was not rewritten for a node added meanwhile",
                      lambda: "a4\t" in self.index.read_text())
        self.assertNotEqual(os.stat(self.index).st_ino, before.st_ino)


if __name__ == "__main__":
    from harness import main
    main()
