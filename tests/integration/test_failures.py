#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every binary's failure paths, as a table, as a user meets them: a syntax
error in the config, an invalid value, a missing config, a key file it
cannot read, a missing state or facts directory. Each must end at once
(within a second) with one clear line naming the file (and line and key
where there is one): the daemons and the CLI exit 1, the plugins answer
UNKNOWN (3). Never a hang, never OK.

No broker is running: a binary that gets as far as connecting has already
failed the test (the config errors must be found first)."""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fleet import binary  # noqa: E402
from harness import main  # noqa: E402

# name, argv before the config option, the config option, expected exit code
BINARIES = [
    ("muster-responder", [], "--config", 1),
    ("muster-collector", [], "--config", 1),
    ("muster-heartbeat", [], "--config", 1),
    ("muster", ["ping"], "--config", 1),
    ("check-mc-nrpe", ["check_load"], "--config", 3),
]


class Failures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = Path(tempfile.mkdtemp(prefix="muster-failures-"))
        os.chmod(cls.dir, 0o755)
        d = cls.dir
        for sub in ("facts.d", "nrpe.d", "registrations", "run"):
            (d / sub).mkdir()
            os.chmod(d / sub, 0o777)
        (d / "psk").write_text("0123456789abcdef0123456789abcdef\n")
        os.chmod(d / "psk", 0o600)  # root's: nobody cannot read it

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def config(self, name, extra="", **override):
        d = self.dir
        keys = {
            ("main", "identity"): "n1",
            ("broker", "url"): "amqp://127.0.0.1:1/",
            ("broker", "connect_timeout"): "300ms",
            ("security", "psk_file"): d / "psk",
            ("responder", "facts_dir"): d / "facts.d",
            ("responder", "classes_file"): d / "classes.txt",
            ("responder", "control_socket"): d / "run" / f"{name}.control",
            ("nrpe", "command_dir"): d / "nrpe.d",
            ("nrpe", "user"): "nobody",
            ("client", "registry_dir"): d / "registrations",
            ("collector", "state_dir"): d / "registrations",
            ("collector", "control_socket"): d / "run" / f"{name}.collector",
        }
        for k, v in override.items():
            section, key = k.split("__")
            keys[(section, key)] = v
        text, section = "", None
        for (sec, key), value in sorted(keys.items()):
            if sec != section:
                text += f"[{sec}]\n"
                section = sec
            text += f"{key}={value}\n"
        p = d / f"{name}.conf"
        p.write_text(text + extra)
        os.chmod(p, 0o644)
        return p

    def run_all(self, config, user=None, only=None):
        """Run every binary with config; return {name: (rc, stdout, stderr, seconds)}."""
        out = {}
        for name, argv, opt, _ in BINARIES:
            if only and name not in only:
                continue
            cmd = [binary(name), *argv, opt, str(config)]
            if user:
                cmd = ["runuser", "-u", user, "--", *cmd]
            t0 = time.monotonic()
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as e:
                self.fail(f"{name} hung on {config.name}: {e.stdout} {e.stderr}")
            out[name] = (r.returncode, r.stdout, r.stderr, time.monotonic() - t0)
        return out

    def check(self, results, needle):
        """Each binary: its exit code, within 1 s, the needle in what it says,
        and for a plugin an UNKNOWN status line on stdout."""
        for name, _, _, code in BINARIES:
            if name not in results:
                continue
            rc, stdout, stderr, seconds = results[name]
            with self.subTest(binary=name):
                said = stdout + stderr
                self.assertEqual(rc, code, f"{name}: {said}")
                self.assertLess(seconds, 1.0, f"{name} took {seconds:.2f} s")
                self.assertIn(needle, said, f"{name}: {said}")
                self.assertNotIn("Cannot reach a broker", said, f"{name} went on to connect: {said}")
                self.assertNotIn("OK", said.replace("UNKNOWN", ""))
                if code == 3:
                    first = stdout.splitlines()[0] if stdout else ""
                    self.assertRegex(first, r"^(check_load: )?UNKNOWN: ", f"{name}: {said}")

    def test_syntax_error(self):
        conf = self.config("syntax", extra="[heartbeat]\nthis line is not ini\n")
        lines = conf.read_text().count("\n")
        self.check(self.run_all(conf), f"{conf}:{lines}: syntax error")

    def test_invalid_value(self):
        conf = self.config("value", extra="[heartbeat]\ninterval=5x\n")
        lines = conf.read_text().count("\n")
        self.check(self.run_all(conf),
                   f'{conf}:{lines}: invalid value for heartbeat.interval: "5x", expected a positive duration')

    def test_missing_config(self):
        conf = self.dir / "does-not-exist.conf"
        self.check(self.run_all(conf), f"{conf}: No such file or directory")

    def test_unreadable_key_file(self):
        conf = self.config("key")
        self.check(self.run_all(conf, user="nobody"), f"{self.dir / 'psk'}: Permission denied")

    def test_key_warnings_then_duplicate_key(self):
        """What loading the keys goes on past, every binary logs before its
        error, in the words it always had: a PSK readable by everyone, a key
        file with a reserved id, one that is no key, ", ignoring". One public
        key under two ids then ends each binary that reads a key ring, naming
        both files; muster-heartbeat reads none and stops at its facts."""
        d = self.dir / "key-warnings"
        keys = d / "keys.d"
        keys.mkdir(parents=True)
        psk = d / "psk"
        psk.write_text("0123456789abcdef0123456789abcdef\n")
        os.chmod(psk, 0o644)
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(d / "alice.key")], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", str(d / "alice.key"), "-pubout", "-out", str(keys / "alice.pem")],
                       check=True, capture_output=True)
        shutil.copy(keys / "alice.pem", keys / "local.pem")
        shutil.copy(keys / "alice.pem", keys / "ops.pem")
        (keys / "junk.pem").write_text("not a key\n")
        missing = d / "no-facts.d"
        conf = self.config("key-warnings", security__psk_file=psk, security__client_keys_dir=keys,
                           security__node_keys_dir=keys, responder__facts_dir=missing)
        results = self.run_all(conf)
        readable = f"Key file {psk} is readable by everyone; it should be mode 0640 or stricter."
        skipped = [f'{keys}/junk.pem is not an Ed25519 public key in PEM, ignoring.',
                   f'{keys}/local.pem: key id "local" is reserved, ignoring.']
        duplicate = f"{keys}/alice.pem and {keys}/ops.pem hold the same public key: one key may have only one id"
        for name, _, _, code in BINARIES:
            rc, stdout, stderr, seconds = results[name]
            said = stdout + stderr
            with self.subTest(binary=name):
                self.assertEqual(rc, code, f"{name}: {said}")
                self.assertLess(seconds, 1.0, f"{name} took {seconds:.2f} s")
                self.assertEqual(stderr.count(readable), 1, f"{name}: {said}")
                error = str(missing) if name == "muster-heartbeat" else duplicate
                self.assertIn(error, said, f"{name}: {said}")
                lines = [readable] + ([] if name == "muster-heartbeat" else skipped)
                self.assertEqual([line for line in lines if line in stderr], lines, f"{name}: {said}")
                for line in lines:
                    self.assertEqual(stderr.count(line), 1, f"{name}: {said}")
                    if error in stderr:  # a plugin's error is its status line on stdout
                        self.assertLess(stderr.index(line), stderr.index(error), f"{name}: {said}")
                if name == "muster-heartbeat":
                    self.assertNotIn("junk.pem", said)

    def control_call(self, path, user=None):
        """Send {"verb":"status"} to the control socket at path (as root), or
        only connect as user; what comes back."""
        # A refused peer is answered and closed at once, before it sends: a
        # request it did send could reset the connection before it reads.
        script = ("import socket, sys\n"
                  "s = socket.socket(socket.AF_UNIX)\n"
                  "s.connect(sys.argv[1])\n"
                  "if sys.argv[2] == 'send':\n"
                  "    s.sendall(b'{\"verb\":\"status\"}\\n')\n"
                  "sys.stdout.write(s.makefile().read())\n")
        cmd = [sys.executable, "-c", script, str(path), "send" if user is None else "listen"]
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return r.stdout + r.stderr

    def test_passed_fds_and_refused_peer(self):
        """Started by systemd with a socket named "control" and one named
        "stray", each daemon serves the first, closes the second saying so
        (", ignoring"), and says whom it refused on its control socket:
        muster-responder and muster-collector log these themselves, the
        library hands them up."""
        if os.geteuid() != 0:
            self.skipTest("needs root to connect as another user")
        if not shutil.which("systemd-socket-activate"):
            self.skipTest("needs systemd-socket-activate")
        nobody = pwd.getpwnam("nobody").pw_uid
        for name, started in (("muster-responder", "starting as n1"), ("muster-collector", "starting for")):
            with self.subTest(binary=name):
                short = name.split("-")[1]
                conf = self.config(f"fds-{short}")
                control, stray = self.dir / "run" / f"{short}.passed", self.dir / "run" / f"{short}.stray"
                log = self.dir / f"fds-{short}.log"
                env = [a for k in ("PATH", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS") if k in os.environ
                       for a in ("-E", k)]
                with open(log, "w") as f:
                    p = subprocess.Popen(["systemd-socket-activate", "-l", str(control), "-l", str(stray),
                                          "--fdname=control:stray", *env, binary(name), "--config", str(conf)],
                                         stdout=f, stderr=f, stdin=subprocess.DEVNULL)
                try:
                    # The first connection starts the daemon, which answers it.
                    deadline = time.monotonic() + 10
                    while not stray.exists():
                        self.assertIsNone(p.poll(), log.read_text())
                        self.assertLess(time.monotonic(), deadline, log.read_text())
                        time.sleep(0.05)
                    self.assertIn('"version":', self.control_call(control))
                    self.assertIn(started, log.read_text())
                    os.chmod(control, 0o666)
                    self.assertIn("permission denied", self.control_call(control, user=nobody))
                    deadline = time.monotonic() + 10
                    while "Refused control connection" not in log.read_text():
                        self.assertLess(time.monotonic(), deadline, log.read_text())
                        time.sleep(0.05)
                finally:
                    p.terminate()
                    p.wait(timeout=20)
                said = log.read_text()
                self.assertEqual(said.count(f'Passed fd 4 ("stray") is not used by {name}, ignoring.'), 1, said)
                self.assertNotIn('("control")', said)
                self.assertRegex(said, rf"Refused control connection from uid {nobody} \(pid \d+\): "
                                       r"not root, not in group muster\.")

    def test_missing_facts_directory(self):
        missing = self.dir / "no-facts.d"
        conf = self.config("facts", responder__facts_dir=missing)
        self.check(self.run_all(conf, only=("muster-responder", "muster-heartbeat")),
                   f"{missing}: No such file or directory")

    def test_missing_state_directory(self):
        missing = self.dir / "no-such-parent" / "registrations"
        conf = self.config("state", collector__state_dir=missing)
        self.check(self.run_all(conf, only=("muster-collector",)),
                   f"Failed to open the state directory {missing}: No such file or directory")

    def test_missing_registry_directory(self):
        missing = self.dir / "no-registrations"
        conf = self.config("registry", client__registry_dir=missing)
        r = subprocess.run([binary("muster"), "--config", str(conf), "nodes"], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(str(missing), r.stderr)
        self.assertIn("No such file or directory", r.stderr)

    def test_check_mcollective(self):
        missing = self.dir / "nowhere"
        for args, needle in ((["--directory", str(missing), "--interval", "300"], str(missing)),
                             (["--directory", str(self.dir), "--interval", "5x"], '"5x"')):
            t0 = time.monotonic()
            r = subprocess.run([binary("check_mcollective"), *args], capture_output=True, text=True, timeout=10)
            with self.subTest(args=args):
                self.assertEqual(r.returncode, 3, r)
                self.assertLess(time.monotonic() - t0, 1.0)
                self.assertTrue(r.stdout.startswith("UNKNOWN: "), r.stdout)
                self.assertIn(needle, r.stdout.splitlines()[0])


if __name__ == "__main__":
    main()
