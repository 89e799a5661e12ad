#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check_mcollective as Nagios and its users see it: --min-hosts at its
boundaries, the original's -v status line (with its 4 KiB cap), and every
failure as one UNKNOWN line with its reason on standard output (Nagios shows
nothing else), within a second.

The unprivileged cases run the plugin as nobody (runuser) against what it
really cannot read: a directory of mode 0700, a journal file of mode 0640
root:systemd-journal as journald and systemd-journal-remote leave them, and
the system journal itself, in a private mount namespace whose
/var/log/journal/<machine-id>/system.journal is such a file. No broker is
needed: the test makes the files and the journal entries itself."""

import grp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fleet import binary  # noqa: E402

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
NOBODY = "nobody"


def check(*args, user=None, groups=None, timeout=30):
    """Run the plugin; as user (runuser, no extra groups) or, with groups,
    as user with exactly those supplementary groups (setpriv)."""
    cmd = [binary("check_mcollective"), *args]
    if user and groups is not None:
        cmd = ["setpriv", "--reuid", user, "--regid", "nogroup", "--groups", ",".join(groups), *cmd]
    elif user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    t = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    r.seconds = time.monotonic() - t
    return r


def write_journal(path, events):
    """A real journal file with one collector entry per (identity, event, age
    in seconds), in that order, made by systemd-journal-remote, as a host
    that receives the collector's journal has them."""
    now = int(time.time() * 1e6)
    out = []
    for n, (identity, event, age) in enumerate(events):
        out.append(f"__REALTIME_TIMESTAMP={now - age * 1_000_000 + n}\n__MONOTONIC_TIMESTAMP={n + 1}\n"
                   f"_BOOT_ID={'0' * 31}1\nPRIORITY=6\nSYSLOG_IDENTIFIER=muster-collector\n"
                   f"MESSAGE=Node {identity}: {event}\nMUSTER_EVENT={event}\nMUSTER_IDENTITY={identity}\n\n")
    r = subprocess.run([JOURNAL_REMOTE, "-o", str(path), "-"], input="".join(out).encode(), capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode())


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="muster-cm2-"))
        os.chmod(self.dir, 0o755)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def node(self, name, age=0):
        p = self.dir / name
        p.write_text("{}")
        t = time.time() - age
        os.utime(p, (t, t))

    def assertResult(self, r, code, stdout):
        self.assertEqual((r.stdout, r.returncode), (stdout, code), r)

    def assertUnknown(self, r, line):
        """One line on stdout, exit 3, nothing left for stderr to explain, at once."""
        self.assertEqual(r.stdout, line + "\n", r)
        self.assertEqual(r.returncode, 3, r)
        self.assertEqual(r.stderr, "", r)
        self.assertLess(r.seconds, 1.0, r)

    def need_root(self):
        if os.getuid() != 0:
            self.skipTest("running as another user needs root")


class MinHosts(Base):
    """--min-hosts N: fewer known hosts than N is CRITICAL, N and more are
    judged as before; 0 (the default) keeps the original's OK: 0 / 0."""

    def run_check(self, *extra):
        return check("-d", str(self.dir), "-i", "300", *extra)

    def test_boundaries(self):
        for n in ("a", "b"):
            self.node(n)
        # N-1 hosts: what the user sees is how many are known and how many were expected.
        self.assertResult(self.run_check("--min-hosts", "3"), 2,
                          "CRITICAL: 2 hosts known, expected at least 3; 2 / 2 hosts checked in within 300 "
                          "seconds| totalhosts=2;;3: oldhosts=0 currenthosts=2\n")
        self.node("c")
        # N hosts: OK, with the threshold in the perfdata as a Nagios range.
        self.assertResult(self.run_check("--min-hosts", "3"), 0,
                          "OK: 3 / 3 hosts checked in within 300 seconds| totalhosts=3;;3: oldhosts=0 "
                          "currenthosts=3\n")
        self.node("d")
        # N+1 hosts
        self.assertResult(self.run_check("--min-hosts", "3"), 0,
                          "OK: 4 / 4 hosts checked in within 300 seconds| totalhosts=4;;3: oldhosts=0 "
                          "currenthosts=4\n")
        # --min-hosts 0 is the plain contract line.
        self.assertResult(self.run_check("--min-hosts", "0"), 0,
                          "OK: 4 / 4 hosts checked in within 300 seconds| totalhosts=4 oldhosts=0 currenthosts=4\n")

    def test_one_host(self):
        self.node("solo")
        self.assertResult(self.run_check("--min-hosts", "2"), 2,
                          "CRITICAL: 1 host known, expected at least 2; 1 / 1 hosts checked in within 300 "
                          "seconds| totalhosts=1;;2: oldhosts=0 currenthosts=1\n")

    def test_too_few_and_stale(self):
        self.node("db1", 1000)
        self.node("web1")
        r = self.run_check("--min-hosts", "3", "-v")
        self.assertEqual(r.returncode, 2, r)
        self.assertEqual(r.stdout.splitlines()[0],
                         "CRITICAL: 2 hosts known, expected at least 3; 1 / 2 hosts not checked in within 300 "
                         "seconds - failed: db1| totalhosts=2;;3: oldhosts=1 currenthosts=1")
        self.assertRegex(r.stdout.splitlines()[1], r"^db1: last seen 100[0-2] s ago$")
        # Enough hosts, one stale: the CRITICAL of the contract, threshold in the perfdata.
        self.assertResult(self.run_check("--min-hosts", "2"), 2,
                          "CRITICAL: 1 / 2 hosts not checked in within 300 seconds| totalhosts=2;;2: oldhosts=1 "
                          "currenthosts=1\n")

    def test_empty_directory(self):
        # Default 0: the original's green for an empty directory.
        self.assertResult(self.run_check(), 0,
                          "OK: 0 / 0 hosts checked in within 300 seconds| totalhosts=0 oldhosts=0 currenthosts=0\n")
        self.assertResult(self.run_check("--min-hosts", "1"), 2,
                          "CRITICAL: 0 hosts known, expected at least 1; 0 / 0 hosts checked in within 300 "
                          "seconds| totalhosts=0;;1: oldhosts=0 currenthosts=0\n")

    def test_hidden_and_subdirectories_do_not_count(self):
        self.node("a")
        self.node(".tmp-b")
        (self.dir / "subdir").mkdir()
        self.assertEqual(self.run_check("--min-hosts", "2").returncode, 2)
        self.assertEqual(self.run_check("--min-hosts", "1").returncode, 0)


class Verbose(Base):
    """-v names the stale nodes on the first line, as the original's -v did,
    and keeps one long-output line per stale node after it."""

    def test_original_first_line(self):
        self.node("web2", 1200)   # created first: the order on the line is by name, not by directory
        self.node("db1", 1200)
        self.node("app1", 10)
        r = check("-d", str(self.dir), "-i", "300", "-v")
        self.assertEqual(r.returncode, 2, r)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "CRITICAL: 2 / 3 hosts not checked in within 300 seconds - failed: db1, web2| "
                                   "totalhosts=3 oldhosts=2 currenthosts=1")
        self.assertEqual(len(lines), 3, lines)
        self.assertRegex(lines[1], r"^db1: last seen 120[0-2] s ago$")
        self.assertRegex(lines[2], r"^web2: last seen 120[0-2] s ago$")
        # Without -v the first line is the contract's, and alone.
        self.assertResult(check("-d", str(self.dir), "-i", "300"), 2,
                          "CRITICAL: 2 / 3 hosts not checked in within 300 seconds| totalhosts=3 oldhosts=2 "
                          "currenthosts=1\n")

    def test_nothing_stale(self):
        self.node("a")
        self.assertResult(check("-d", str(self.dir), "-i", "300", "-v"), 0,
                          "OK: 1 / 1 hosts checked in within 300 seconds| totalhosts=1 oldhosts=0 currenthosts=1\n")

    def failed_list(self):
        r = check("-d", str(self.dir), "-i", "300", "-v")
        self.assertEqual(r.returncode, 2, r)
        lines = r.stdout.splitlines()
        head, perf = lines[0].split("| ")
        prefix, names = head.split(" - failed: ")
        return names, perf, lines[1:]

    def test_4k_cap(self):
        # 40 names of 100 bytes and one of 16: 40 * 100 + 16 + 40 * len(", ") = 4096 bytes exactly.
        names = [f"n{i:02d}" + "x" * 97 for i in range(40)] + ["z" * 16]
        for n in names:
            self.node(n, 1000)
        listed, perf, long_lines = self.failed_list()
        self.assertEqual(len(listed.encode()), 4096)
        self.assertEqual(listed, ", ".join(names))
        self.assertEqual(len(long_lines), 41)

        # One byte more: as many names as fit with "… and K more", within 4096 bytes.
        self.node("zz", 1000)
        listed, perf, long_lines = self.failed_list()
        self.assertLessEqual(len(listed.encode()), 4096)
        self.assertEqual(listed, ", ".join(names[:40]) + ", … and 2 more")
        self.assertEqual(perf, "totalhosts=42 oldhosts=42 currenthosts=0")
        # The long output still names every one.
        self.assertEqual([x.split(":")[0] for x in long_lines], sorted(names + ["zz"]))

    def test_many_nodes(self):
        for i in range(2000):
            self.node(f"host{i:04d}.example.com", 1000)
        listed, perf, long_lines = self.failed_list()
        shown = listed.split(", ")
        tail = shown.pop()
        self.assertLessEqual(len(listed.encode()), 4096)
        self.assertEqual(shown, [f"host{i:04d}.example.com" for i in range(len(shown))])
        self.assertEqual(tail, f"… and {2000 - len(shown)} more")
        # Maximal: one name more would not have fit with its tail.
        k = len(shown) + 1
        longer = ", ".join(f"host{i:04d}.example.com" for i in range(k)) + f", … and {2000 - k} more"
        self.assertGreater(len(longer.encode()), 4096)
        self.assertEqual(len(long_lines), 2000)


class Failures(Base):
    """Every failure: one line with the reason, exit 3, at once."""

    def test_command_line(self):
        d = str(self.dir)
        table = [
            (["-i", "5x"], 'UNKNOWN: invalid interval "5x", expected seconds'),
            (["--interval", "0"], 'UNKNOWN: invalid interval "0", expected seconds'),
            (["-t", "0"], 'UNKNOWN: invalid timeout "0", expected 1 to 3600 seconds'),
            (["--timeout", "2h"], 'UNKNOWN: invalid timeout "2h", expected 1 to 3600 seconds'),
            (["--min-hosts", "-1"], 'UNKNOWN: invalid minimum number of hosts "-1", expected 0 to 100000000'),
            (["--min-hosts", "3x"], 'UNKNOWN: invalid minimum number of hosts "3x", expected 0 to 100000000'),
            (["--min-hosts", ""], 'UNKNOWN: invalid minimum number of hosts "", expected 0 to 100000000'),
            (["-d", ""], 'UNKNOWN: invalid directory "", expected a path'),
            (["--journal-file", ""], 'UNKNOWN: invalid journal file "", expected a path'),
            (["--journal-directory", ""], 'UNKNOWN: invalid journal directory "", expected a path'),
            (["-d", d, "-i"], "UNKNOWN: option -i needs a value, see check_mcollective --help"),
            (["-d", d, "--interval"], "UNKNOWN: option --interval needs a value, see check_mcollective --help"),
            (["--min-hosts"], "UNKNOWN: option --min-hosts needs a value, see check_mcollective --help"),
            (["-x"], "UNKNOWN: unknown option -x, see check_mcollective --help"),
            (["-vx"], "UNKNOWN: unknown option -x, see check_mcollective --help"),
            (["--frobnicate"], "UNKNOWN: unknown or ambiguous option --frobnicate, see check_mcollective --help"),
            (["--journal-"], "UNKNOWN: unknown or ambiguous option --journal-, see check_mcollective --help"),
            (["--verbose=yes"], "UNKNOWN: option --verbose takes no value, see check_mcollective --help"),
            (["-d", d, "web1"], 'UNKNOWN: unexpected argument "web1", see check_mcollective --help'),
            (["-d", d, "--journal"], "UNKNOWN: --directory and --journal exclude each other"),
            (["--journal-file", "/a", "--journal-directory", "/b"],
             "UNKNOWN: --journal-file and --journal-directory exclude each other"),
        ]
        for args, line in table:
            with self.subTest(args=args):
                self.assertUnknown(check(*args), line)

    def test_missing_and_not_a_directory(self):
        self.assertUnknown(check("-d", str(self.dir / "nope")),
                           f"UNKNOWN: cannot read directory {self.dir / 'nope'}: No such file or directory")
        self.node("file")
        self.assertUnknown(check("-d", str(self.dir / "file")),
                           f"UNKNOWN: cannot read directory {self.dir / 'file'}: Not a directory")

    def test_unreadable_directory_as_nobody(self):
        self.need_root()
        self.node("a")
        os.chmod(self.dir, 0o700)
        self.assertUnknown(check("-d", str(self.dir), user=NOBODY),
                           f"UNKNOWN: cannot read directory {self.dir}: Permission denied")
        # Listable but not searchable: the names are there, their times are not.
        os.chmod(self.dir, 0o744)
        self.assertUnknown(check("-d", str(self.dir), user=NOBODY),
                           f"UNKNOWN: cannot read directory {self.dir}: Permission denied")
        # The same directory opened to others: the real answer.
        os.chmod(self.dir, 0o755)
        self.assertResult(check("-d", str(self.dir), user=NOBODY), 0,
                          "OK: 1 / 1 hosts checked in within 300 seconds| totalhosts=1 oldhosts=0 currenthosts=1\n")

    def test_help_and_version_exit_0(self):
        r = check("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--min-hosts N", r.stdout)
        r = check("--version")
        self.assertEqual(r.returncode, 0)


class Journal(Base):
    """--journal: the collector's node-new, node-stale and node-recovered
    entries from a real journal file."""

    EVENTS = [("web1", "node-new", 900), ("db1", "node-new", 900), ("web2", "node-new", 900),
              ("db1", "node-stale", 600), ("web2", "node-stale", 500), ("web2", "node-recovered", 100)]

    def setUp(self):
        super().setUp()
        self.jdir = self.dir / "journal"
        self.jdir.mkdir()
        self.jfile = self.jdir / "remote-collector1.journal"
        write_journal(self.jfile, self.EVENTS)

    def test_min_hosts_boundaries(self):
        j = ["--journal-file", str(self.jfile), "-i", "60"]
        stale = "1 / 3 hosts not checked in within 60 seconds"
        self.assertResult(check(*j, "--min-hosts", "4"), 2,
                          f"CRITICAL: 3 hosts known, expected at least 4; {stale}| totalhosts=3;;4: oldhosts=1 "
                          "currenthosts=2\n")
        self.assertResult(check(*j, "--min-hosts", "3"), 2,
                          f"CRITICAL: {stale}| totalhosts=3;;3: oldhosts=1 currenthosts=2\n")
        self.assertResult(check(*j, "--min-hosts", "2"), 2,
                          f"CRITICAL: {stale}| totalhosts=3;;2: oldhosts=1 currenthosts=2\n")
        # All current: the boundary decides alone.
        ok = self.dir / "ok.journal"
        write_journal(ok, [("a", "node-new", 10), ("b", "node-new", 10), ("c", "node-new", 10)])
        j = ["--journal-file", str(ok), "-i", "60"]
        self.assertEqual(check(*j, "--min-hosts", "4").returncode, 2)
        self.assertResult(check(*j, "--min-hosts", "3"), 0,
                          "OK: 3 / 3 hosts checked in within 60 seconds| totalhosts=3;;3: oldhosts=0 currenthosts=3\n")
        self.assertEqual(check(*j, "--min-hosts", "2").returncode, 0)

    def test_verbose_first_line(self):
        r = check("--journal-directory", str(self.jdir), "-i", "60", "-v")
        self.assertEqual(r.returncode, 2, r)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "CRITICAL: 1 / 3 hosts not checked in within 60 seconds - failed: db1| "
                                   "totalhosts=3 oldhosts=1 currenthosts=2")
        self.assertRegex(lines[1], r"^db1: last seen 60[0-2] s ago$")

    def test_no_node_events(self):
        empty = self.dir / "empty.journal"
        write_journal(empty, [])
        self.assertUnknown(check("--journal-file", str(empty)), "UNKNOWN: no node events of muster-collector in "
                           "the journal (node-new, node-stale, node-recovered)")
        # Even with --min-hosts 0: an empty journal says nothing about the fleet.
        self.assertUnknown(check("--journal-file", str(empty), "--min-hosts", "0"),
                           "UNKNOWN: no node events of muster-collector in the journal (node-new, node-stale, "
                           "node-recovered)")

    def test_not_a_journal(self):
        self.node("notes.txt")
        self.assertUnknown(check("--journal-file", str(self.dir / "notes.txt")),
                           f"UNKNOWN: cannot read the journal {self.dir / 'notes.txt'}: not a journal file")
        self.assertUnknown(check("--journal-file", str(self.dir / "nope.journal")),
                           f"UNKNOWN: cannot read the journal {self.dir / 'nope.journal'}: No such file or directory")
        self.assertUnknown(check("--journal-directory", str(self.dir / "nope")),
                           f"UNKNOWN: cannot read the journal {self.dir / 'nope'}: No such file or directory")

    def lock_like_journald(self, path):
        """root:systemd-journal 0640, as journald and systemd-journal-remote leave them."""
        os.chown(path, 0, grp.getgrnam("systemd-journal").gr_gid)
        os.chmod(path, 0o640)

    def test_unprivileged_journal_file(self):
        self.need_root()
        self.lock_like_journald(self.jfile)
        self.assertUnknown(check("--journal-file", str(self.jfile), user=NOBODY),
                           f"UNKNOWN: cannot read the journal {self.jfile}: Permission denied")
        self.assertUnknown(check("--journal-directory", str(self.jdir), user=NOBODY),
                           f"UNKNOWN: cannot read the journal {self.jfile}: Permission denied")
        # The same user in the group systemd-journal reads it.
        r = check("--journal-file", str(self.jfile), "-i", "60", user=NOBODY, groups=["systemd-journal"])
        self.assertResult(r, 2, "CRITICAL: 1 / 3 hosts not checked in within 60 seconds| totalhosts=3 oldhosts=1 "
                                "currenthosts=2\n")

    def test_unprivileged_machine_directory(self):
        """--journal-directory /var/log/journal reads the machine directories
        in it: a file there that nobody cannot read is named too."""
        self.need_root()
        tree = self.dir / "var-log-journal"
        machine = tree / ("0123456789abcdef" * 2)
        machine.mkdir(parents=True)
        os.chmod(tree, 0o2755)
        os.chmod(machine, 0o2755)
        shutil.copy2(self.jfile, machine / "system.journal")
        self.lock_like_journald(machine / "system.journal")
        self.assertResult(check("--journal-directory", str(tree), "-i", "60"), 2,
                          "CRITICAL: 1 / 3 hosts not checked in within 60 seconds| totalhosts=3 oldhosts=1 "
                          "currenthosts=2\n")
        self.assertUnknown(check("--journal-directory", str(tree), user=NOBODY),
                           f"UNKNOWN: cannot read the journal {machine / 'system.journal'}: Permission denied")
        r = check("--journal-directory", str(tree), "-i", "60", user=NOBODY, groups=["systemd-journal"])
        self.assertEqual(r.returncode, 2, r)

    def test_unprivileged_system_journal(self):
        """`runuser -u nobody -- check_mcollective --journal` against the
        system journal: /var/log/journal/<machine-id>/system.journal, in a
        private mount namespace so that the host's journal is not touched."""
        self.need_root()
        self.lock_like_journald(self.jfile)
        os.chmod(self.dir, 0o755)
        os.chmod(self.jdir, 0o755)
        machine = Path("/etc/machine-id").read_text().strip()
        plugin = binary("check_mcollective")
        script = f"""
set -e
mount -t tmpfs tmpfs /var/log/journal
if [ -d /run/log/journal ]; then mount -t tmpfs tmpfs /run/log/journal; fi
mkdir -m 2755 /var/log/journal/{machine}
cp -p {self.jfile} /var/log/journal/{machine}/system.journal
set +e
runuser -u {NOBODY} -- {plugin} --journal -i 60
echo "exit $?"
setpriv --reuid {NOBODY} --regid nogroup --groups systemd-journal {plugin} --journal -i 60
echo "exit $?"
"""
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout,
                         f"UNKNOWN: cannot read the system journal /var/log/journal/{machine}/system.journal: "
                         "Permission denied (the user needs the group systemd-journal or adm)\n"
                         "exit 3\n"
                         "CRITICAL: 1 / 3 hosts not checked in within 60 seconds| totalhosts=3 oldhosts=1 "
                         "currenthosts=2\n"
                         "exit 2\n")


if __name__ == "__main__":
    try:
        from harness import main  # meson's exit codes: 77 (SKIP) for a skip
    except ImportError:
        def main():
            prog = unittest.main(verbosity=2, exit=False)
            if not prog.result.wasSuccessful() or prog.result.testsRun == 0:
                sys.exit(1)
            sys.exit(77 if prog.result.skipped else 0)
    main()
