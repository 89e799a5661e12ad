#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks run as [nrpe] user, which holds none of muster's secrets.

A hostile NRPE check tries to read the pre-shared key, the node's private
key and the client keys, to write in the control socket's directory and in
the state directory, and to talk to the responder's control socket. Every
attempt must be refused, and the check's own output (what a caller sees)
says so. The responder runs three ways: as root, the way an admin starts it
by hand; as an unprivileged user that holds only CAP_SETUID, CAP_SETGID and
CAP_KILL with no_new_privs set; and, the way muster-responder.service runs
it, as an unprivileged user with no capability at all whose checks
muster-check-runner runs (socket-activated per check, here by
systemd-socket-activate --accept as muster-check.socket would). Also: a
responder refuses to start when it cannot run checks as the configured
user, a check the runner cannot take is UNKNOWN saying why, and the orphan
sweep logs only real leftovers.

Needs root (the uid switch must be real)."""

import grp
import json
import os
import pwd
import socket
import array
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Fleet, binary, process_group_alive  # noqa: E402

CHECK_USER = "nobody"
DAEMON_USER = "daemon"      # stands in for "muster" when the responder does not run as root

HOSTILE = r"""#!/bin/sh
# A hostile check: tries to take what muster must keep from it.
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
$what: refused: $out"
        fi
}
attempt "read the PSK" cat "$PSK"
attempt "read the node key" cat "$NODE_KEY"
attempt "list the client keys" ls "$CLIENTS"
attempt "read a client key" cat "$CLIENTS/admin.pem"
attempt "write in the socket directory" touch "$SOCKDIR/hostile"
attempt "write in the state directory" touch "$STATEDIR/hostile"
attempt "connect to the control socket" python3 -c '
import socket, sys
try:
    socket.socket(socket.AF_UNIX).connect(sys.argv[1])
except OSError as e:
    print(e.strerror)
    sys.exit(1)
print("connected")' "$SOCK"
attempt "connect to the check runner" python3 -c '
import socket, sys
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).connect(sys.argv[1])
except OSError as e:
    print(e.strerror)
    sys.exit(1)
print("connected")' "$RUNNER"
echo "hostile check as $(id -un): $ok attempt(s) succeeded$details"
"""

ATTEMPTS = ["read the PSK", "read the node key", "list the client keys", "read a client key",
            "write in the socket directory", "write in the state directory", "connect to the control socket",
            "connect to the check runner"]


def genkey(d, name):
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(d / f"{name}.key")], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(d / f"{name}.key"), "-pubout", "-out", str(d / f"{name}.pub")],
                   check=True, capture_output=True)


class CheckUser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker().start()
        cls.fleet = Fleet(cls.broker.url)
        cls.dgid = grp.getgrnam(DAEMON_USER).gr_gid
        cls.duid = pwd.getpwnam(DAEMON_USER).pw_uid
        root = cls.fleet.root
        # Laid out like /etc/muster, /run/muster and /var/lib/muster: every
        # directory can be entered, so what stops the check is each file's
        # own owner and mode, not a private temp directory.
        os.chmod(root, 0o755)
        os.chown(cls.fleet.psk, 0, cls.dgid)
        os.chmod(cls.fleet.psk, 0o640)
        cls.keys = root / "keys"
        cls.keys.mkdir(mode=0o750)
        os.chown(cls.keys, 0, cls.dgid)
        genkey(cls.keys, "node1")
        genkey(cls.keys, "admin")
        for f in cls.keys.iterdir():
            os.chown(f, 0, cls.dgid)
            os.chmod(f, 0o640)
        cls.clients = root / "clients.d"
        cls.clients.mkdir()
        (cls.clients / "admin.pem").write_bytes((cls.keys / "admin.pub").read_bytes())
        os.chown(cls.clients, 0, cls.dgid)
        os.chmod(cls.clients, 0o750)
        os.chown(cls.clients / "admin.pem", 0, cls.dgid)
        os.chmod(cls.clients / "admin.pem", 0o640)
        cls.statedir = root / "state"
        cls.statedir.mkdir()
        os.chown(cls.statedir, cls.duid, cls.dgid)
        os.chmod(cls.statedir, 0o755)
        (root / "hostile.sh").write_text(HOSTILE)
        os.chmod(root / "hostile.sh", 0o755)
        # The check runner, as muster-check.socket runs it: one instance per
        # connection; the socket root:muster 0660 (here root:daemon).
        cls.rundir = root / "run"
        cls.rundir.mkdir(mode=0o755)
        cls.runner = cls.rundir / "check.socket"
        cls.runner_log = open(root / "runner.log", "w")
        cls.runner_proc = subprocess.Popen(
            ["systemd-socket-activate", "--accept", "--seqpacket", "-l", str(cls.runner),
             binary("muster-check-runner"), f"--user={CHECK_USER}"],
            stdout=subprocess.DEVNULL, stderr=cls.runner_log)
        deadline = time.monotonic() + 10
        while not cls.runner.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.chown(cls.runner, 0, cls.dgid)
        os.chmod(cls.runner, 0o660)

    @classmethod
    def tearDownClass(cls):
        cls.runner_proc.terminate()
        cls.runner_proc.wait(10)
        cls.runner_log.close()
        cls.fleet.close()
        cls.broker.stop()

    def add_node(self, identity, user=CHECK_USER, commands=None, security=None, runner="no"):
        node_dir = self.fleet.root / "nodes" / identity
        env = {"PSK": self.fleet.psk, "NODE_KEY": self.keys / "node1.key", "CLIENTS": self.clients,
               "SOCKDIR": node_dir, "STATEDIR": self.statedir, "SOCK": node_dir / "control", "RUNNER": self.runner}
        hostile = " ".join(f"{k}={v}" for k, v in env.items()) + f" {self.fleet.root / 'hostile.sh'}"
        cmds = {"check_hostile": hostile, "check_true": "/bin/true",
                "check_id": "echo \"$(id -un) $(id -u):$(id -g) groups=$(id -G) HOME=$HOME USER=$USER\""}
        cmds.update(commands or {})
        # The node key lies where a node keeps it (root:daemon 0640), but
        # replies stay PSK-signed, which the fleet's client verifies.
        sec = {"client_keys_dir": self.clients, "accept_psk": "yes"}
        sec.update(security or {})
        sec = {k: v for k, v in sec.items() if v is not None}
        node = self.fleet.add(identity, commands=cmds, extra={"nrpe": {"user": user, "runner": runner},
                                                              "security": sec})
        os.chmod(node.dir, 0o775)
        os.chown(node.dir, 0, self.dgid)
        return node

    def start_unprivileged(self, node, caps=True, wait=True, extra_caps=""):
        """As muster-responder.service runs it: a plain uid, only the three
        capabilities (ambient, so that they survive exec), no_new_privs."""
        wrapper = ["setpriv", f"--reuid={DAEMON_USER}", f"--regid={DAEMON_USER}", "--init-groups",
                   "--no-new-privs"]
        if caps:
            c = "-all,+setuid,+setgid,+kill" + extra_caps
            wrapper += [f"--inh-caps={c}", f"--ambient-caps={c}", f"--bounding-set={c}"]
        else:
            wrapper += ["--inh-caps=-all", "--bounding-set=-all"]
        old = os.umask(0)     # the notify socket must be writable for the daemon's uid
        try:
            return node.start(wrapper=wrapper, wait=wait)
        finally:
            os.umask(old)

    def nrpe(self, identity, command):
        r = self.fleet.run("muster", "nrpe", command, "-I", identity, "--json", "-t", "10")
        replies = json.loads(r.stdout)["replies"]
        self.assertEqual(len(replies), 1, r.stdout + r.stderr)
        return replies[0]["data"]

    def assert_all_refused(self, data):
        text = data["output"] + "\n" + data.get("long_output", "")
        self.assertEqual(data["output"], f"hostile check as {CHECK_USER}: 0 attempt(s) succeeded", text)
        lines = data["long_output"].split("\n")
        self.assertEqual([line.split(":")[0] for line in lines], ATTEMPTS, text)
        for line in lines:
            self.assertRegex(line, r"^[a-zA-Z ]+: refused: .*(Permission denied|Operation not permitted)", text)
        self.assertFalse(Path(self.statedir / "hostile").exists())

    def test_hostile_check_responder_as_root(self):
        """Started by hand as root: the check still runs as the user."""
        node = self.add_node("asroot").start()
        d = self.nrpe("asroot", "check_id")
        nobody = pwd.getpwnam(CHECK_USER)
        self.assertRegex(d["output"], rf"^{CHECK_USER} {nobody.pw_uid}:{nobody.pw_gid} groups=\S+ "
                                      rf"HOME={nobody.pw_dir} USER={CHECK_USER}$")
        self.assertNotIn(" groups=0", d["output"])
        self.assert_all_refused(self.nrpe("asroot", "check_hostile"))
        self.assertIn(f"as user {CHECK_USER}", node.stderr())
        node.stop()

    def test_hostile_check_responder_with_capabilities_only(self):
        """As the unit runs it: uid daemon, CAP_SETUID/CAP_SETGID/CAP_KILL
        and no_new_privs; the daemon reads its keys, the check cannot."""
        node = self.add_node("ascaps")
        self.start_unprivileged(node)
        status = Path(f"/proc/{node.proc.pid}/status").read_text()
        self.assertRegex(status, rf"Uid:\t{self.duid}\t")
        self.assertIn("NoNewPrivs:\t1", status)
        d = self.nrpe("ascaps", "check_id")
        self.assertTrue(d["output"].startswith(f"{CHECK_USER} "), d)
        self.assert_all_refused(self.nrpe("ascaps", "check_hostile"))
        node.stop()

    def test_check_gets_no_capabilities(self):
        node = self.add_node("nocaps", commands={"check_caps": "grep ^Cap /proc/self/status | tr '\\n' ' '"})
        self.start_unprivileged(node)
        d = self.nrpe("nocaps", "check_caps")
        for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            self.assertRegex(d["output"], rf"{field}:\s+0000000000000000", d)
        node.stop()

    def test_check_keeps_capabilities_granted_to_checks(self):
        """AmbientCapabilities=CAP_NET_RAW for check_icmp still reaches the
        check; the three the daemon switches users with do not."""
        node = self.add_node("netraw", commands={"check_caps": "grep ^Cap /proc/self/status | tr '\\n' ' '"})
        self.start_unprivileged(node, extra_caps=",+net_raw")
        d = self.nrpe("netraw", "check_caps")
        for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            self.assertRegex(d["output"], rf"{field}:\s+0000000000002000", d)   # CAP_NET_RAW (13) alone
        node.stop()

    def test_timeout_kills_a_check_of_another_uid(self):
        """CAP_KILL: a check that outlives its timeout is killed although it
        runs under another uid than the daemon."""
        node = self.add_node("timeout", commands={"check_forever": "sleep 3011"})
        node.config.write_text(node.config.read_text().replace("command_timeout=5s", "command_timeout=1s"))
        self.start_unprivileged(node)
        d = self.nrpe("timeout", "check_forever")
        self.assertEqual((d["exitcode"], d["output"]), (3, "UNKNOWN: command timed out after 1 s"))
        time.sleep(0.3)
        self.assertEqual(process_group_alive("sleep 3011"), [])
        node.stop()

    def test_refuses_to_start_without_the_user(self):
        node = self.add_node("nouser", user="muster-no-such-user")
        node.start(wait=False)
        self.assertEqual(node.proc.wait(20), 1)
        self.assertIn("Cannot run checks as user muster-no-such-user ([nrpe] user): no such user",
                      node.stderr())

    def test_refuses_to_run_checks_as_root_by_default(self):
        """user= (empty) means the daemon's own user: never root silently."""
        node = self.add_node("emptyuser", user="")
        node.start(wait=False)
        self.assertEqual(node.proc.wait(20), 1)
        self.assertRegex(node.stderr(), r"Cannot run checks as user \(own\) \(\[nrpe\] user\): checks would run "
                                        r"as root")

    def test_refuses_to_start_without_capabilities(self):
        node = self.add_node("nocap")
        self.start_unprivileged(node, caps=False, wait=False)
        self.assertEqual(node.proc.wait(20), 1)
        self.assertIn(f"Cannot run checks as user {CHECK_USER} ([nrpe] user): switching to it needs CAP_SETUID, "
                      "CAP_SETGID and CAP_KILL", node.stderr())

    def start_without_capabilities(self, node):
        self.start_unprivileged(node, caps=False)
        status = Path(f"/proc/{node.proc.pid}/status").read_text()
        self.assertRegex(status, rf"Uid:\t{self.duid}\t")
        for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            self.assertRegex(status, rf"{field}:\s+0000000000000000")

    def test_hostile_check_through_the_runner(self):
        """As muster-responder.service runs it: uid daemon, no capability
        at all; the runner runs the check as the check user, in its own
        process tree, and the check can take nothing."""
        node = self.add_node("viarunner", runner=str(self.runner), commands={
            "check_parent": "echo $(id -un) parent=$(cat /proc/$PPID/comm)"})
        self.start_without_capabilities(node)
        d = self.nrpe("viarunner", "check_id")
        nobody = pwd.getpwnam(CHECK_USER)
        self.assertRegex(d["output"], rf"^{CHECK_USER} {nobody.pw_uid}:{nobody.pw_gid} groups=\S+ "
                                      rf"HOME={nobody.pw_dir} USER={CHECK_USER}$")
        self.assertEqual(self.nrpe("viarunner", "check_parent")["output"], f"{CHECK_USER} parent=muster-check-ru")
        self.assert_all_refused(self.nrpe("viarunner", "check_hostile"))
        d = self.nrpe("viarunner", "check_true")
        self.assertEqual((d["exitcode"], d["output"]), (0, ""))
        node.stop()

    def test_arguments_stay_one_word(self):
        """$ARGn$ is one word for the shell whatever the argument holds, even
        with a nasty_metachars that lets separators, spaces and quotes
        through: nothing an argument says runs."""
        marker = self.fleet.root / "injected"
        node = self.add_node("argwords", runner=str(self.runner), commands={
            "check_words": "printf '[%s]' $ARG1$ $ARG2$ \"$ARG3$\""})
        node.config.write_text(node.config.read_text().replace(
            "[nrpe]\n", "[nrpe]\nallow_arguments=yes\nnasty_metachars=#\n"))
        self.start_without_capabilities(node)
        r = self.fleet.run("muster", "nrpe", "check_words", f"a;touch {marker}", "it's * b", "x\"y;z",
                           "-I", "argwords", "--json", "-t", "10")
        d = json.loads(r.stdout)["replies"][0]["data"]
        self.assertEqual(d["output"], f"[a;touch {marker}][it's * b][x\"y;z]", d)
        self.assertFalse(marker.exists())
        node.stop()

    def test_runner_exit_codes_and_signals(self):
        node = self.add_node("runnercodes", runner=str(self.runner), commands={
            "check_warn": "echo 'WARNING: disk 91%|used=91%;90;95'; exit 1",
            "check_crit": "echo CRITICAL; exit 2",
            "check_seven": "exit 7",
            "check_killed": "exec python3 -c 'import os; os.kill(os.getpid(), 9)'"})
        self.start_without_capabilities(node)
        self.assertEqual((lambda d: (d["exitcode"], d["output"], d["perfdata"]))(self.nrpe("runnercodes", "check_warn")),
                         (1, "WARNING: disk 91%", "used=91%;90;95"))
        self.assertEqual(self.nrpe("runnercodes", "check_crit")["exitcode"], 2)
        d = self.nrpe("runnercodes", "check_seven")
        self.assertEqual((d["exitcode"], d["output"]), (3, "UNKNOWN: command exited with status 7"))
        d = self.nrpe("runnercodes", "check_killed")
        self.assertEqual((d["exitcode"], d["output"]), (3, "UNKNOWN: command killed by signal 9 (SIGKILL)"))
        node.stop()

    def test_runner_timeout_kills_the_check(self):
        """The responder hangs up at its timeout; the runner kills the
        check's process group and what it daemonized."""
        node = self.add_node("runnertimeout", runner=str(self.runner), commands={
            "check_forever": "setsid sleep 3013 & sleep 3014"})
        node.config.write_text(node.config.read_text().replace("command_timeout=5s", "command_timeout=1s"))
        self.start_without_capabilities(node)
        d = self.nrpe("runnertimeout", "check_forever")
        self.assertEqual((d["exitcode"], d["output"]), (3, "UNKNOWN: command timed out after 1 s"))
        deadline = time.monotonic() + 5
        while (process_group_alive("sleep 3013") or process_group_alive("sleep 3014")) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(process_group_alive("sleep 3013") + process_group_alive("sleep 3014"), [])
        self.assertEqual(self.nrpe("runnertimeout", "check_true")["exitcode"], 0)
        node.stop()

    def test_runner_refuses_another_user(self):
        """The runner runs checks as its own user only: [nrpe] user naming
        another is UNKNOWN with the reason, never a check as that user."""
        node = self.add_node("runneruser", user=DAEMON_USER, runner=str(self.runner))
        self.start_without_capabilities(node)
        d = self.nrpe("runneruser", "check_id")
        self.assertEqual((d["exitcode"], d["output"]),
                         (3, f"UNKNOWN: the check runner runs checks as user {CHECK_USER}, not as {DAEMON_USER} "
                             "([nrpe] user); see muster-check-runner(8)"))
        node.stop()

    def test_runner_unreachable(self):
        """A runner socket nobody listens on (its unit stopped): each check
        is UNKNOWN naming the socket; the responder goes on answering."""
        dead = self.rundir / "dead.socket"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(str(dead))
        s.close()
        os.chmod(dead, 0o666)
        node = self.add_node("runnerdead", runner=str(dead))
        self.start_without_capabilities(node)
        d = self.nrpe("runnerdead", "check_true")
        self.assertEqual((d["exitcode"], d["output"]),
                         (3, f"UNKNOWN: cannot reach the check runner at {dead}: Connection refused"))
        r = self.fleet.run("muster", "ping", "-I", "runnerdead")
        self.assertIn("runnerdead", r.stdout)
        node.stop()

    def test_refuses_to_start_without_the_runner_it_names(self):
        node = self.add_node("norunner", runner=str(self.rundir / "missing.socket"))
        self.start_unprivileged(node, caps=False, wait=False)
        self.assertEqual(node.proc.wait(20), 1)
        self.assertIn(f"Cannot run checks as user {CHECK_USER} ([nrpe] user): the check runner's socket "
                      "([nrpe] runner) does not exist or is not a socket", node.stderr())

    def test_runner_refuses_malformed_requests(self):
        """Whoever may connect gets nothing run by a request that is not
        well-formed; the runner says why in its log."""
        def send(payload, fds=True):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(str(self.runner))
            r, w = os.pipe()
            s.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w]))] if fds else [])
            os.close(w)
            out = b""
            s.settimeout(10)
            res = s.recv(64)
            while True:
                b = os.read(r, 4096)
                if not b:
                    break
                out += b
            os.close(r)
            s.close()
            return res, out
        marker = self.fleet.root / "malformed-ran"
        cmd = f"touch {marker}".encode()
        self.assertEqual(send(b"muster-check 2\nuser=nobody\ntimeout=1\n\n" + cmd), (b"", b""))
        self.assertEqual(send(b"muster-check 1\nuser=nobody\n\n" + cmd), (b"", b""))
        self.assertEqual(send(b"muster-check 1\nuser=nobody\ntimeout=1\n\n" + cmd, fds=False), (b"", b""))
        self.assertFalse(marker.exists())
        log = (self.fleet.root / "runner.log").read_text()
        self.assertIn("Refusing a malformed request: not a muster-check request (or another version).", log)
        self.assertIn("Refusing a malformed request: missing or invalid timeout= line.", log)
        self.assertIn("Refusing a request: no output pipe attached.", log)
        # And a good one still runs.
        self.assertEqual(send(b"muster-check 1\nuser=nobody\ntimeout=1000000\n\necho ok"), (b"exited 0", b"ok\n"))

    def test_accept_psk_defaults_to_no_with_client_keys(self):
        """With client keys and no accept_psk line, PSK-signed requests
        (the fleet's client) are refused: nothing runs."""
        node = self.add_node("keyed", security={"accept_psk": None})
        self.assertNotIn("accept_psk", node.config.read_text())
        node.start()
        r = self.fleet.run("muster", "nrpe", "check_true", "-I", "keyed", "--json", "-t", "3")
        self.assertEqual(json.loads(r.stdout)["replies"], [], r.stdout)
        self.assertRegex(node.stderr(), r"Dropped request \([a-z-]+\)")
        node.stop()

    def test_commands_without_broker_read_no_password(self):
        """muster nodes, inventory and --local do not read the broker
        password: a user who may read the registrations (Nagios, through
        muster-registry) or use the control socket needs no more."""
        self.fleet.register("regnode")
        conf = self.fleet.root / "nopassword.conf"
        conf.write_text(self.fleet.client_config.read_text().replace(
            "[broker]\n", "[broker]\npassword_file=/nonexistent/broker-password\n"))
        node = self.add_node("localnode").start()
        r = subprocess.run([binary("muster"), "--config", str(conf), "nodes"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("regnode", r.stdout)
        r = subprocess.run([binary("muster"), "--config", str(conf), "inventory", "regnode"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        local = conf.read_text().replace("[main]\n", f"[main]\nidentity=localnode\n") + \
            f"[responder]\ncontrol_socket={node.dir / 'control'}\n"
        (self.fleet.root / "nopassword-local.conf").write_text(local)
        r = subprocess.run([binary("muster"), "--config", str(self.fleet.root / "nopassword-local.conf"), "--local",
                            "ping"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("localnode", r.stdout)
        # A command that talks to the broker does need it, and says so.
        r = subprocess.run([binary("muster"), "--config", str(conf), "ping"], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Failed to read broker password file /nonexistent/broker-password", r.stderr)
        node.stop()

    def test_orphan_sweep_logs_only_real_leftovers(self):
        """"Killed N process(es) a check left behind." only when a check
        really left one; a plain /bin/true leaves nothing to log."""
        # The check waits until its daemon has left the process group (the
        # marker file), so that the daemon is a real leftover every time.
        marker = Path(f"/tmp/muster-sweep-{os.getpid()}")
        marker.unlink(missing_ok=True)
        node = self.add_node("sweep", commands={
            "check_daemonize": f"setsid sh -c 'echo up > {marker}; exec sleep 3012' >/dev/null 2>&1 </dev/null & "
                               f"while [ ! -s {marker} ]; do sleep 0.05; done; echo launched"})
        node.start()
        for _ in range(3):
            self.assertEqual(self.nrpe("sweep", "check_true")["exitcode"], 0)
        self.assertEqual(self.nrpe("sweep", "check_id")["exitcode"], 0)
        self.assertNotIn("left behind", node.stderr())
        self.assertEqual(self.nrpe("sweep", "check_daemonize")["output"], "launched")
        deadline = time.monotonic() + 5
        while "left behind" not in node.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(node.stderr().count("left behind"), 1, node.stderr()[-3000:])
        self.assertIn("Killed 1 process(es) a check left behind.", node.stderr())
        self.assertEqual(process_group_alive("sleep 3012"), [])
        marker.unlink(missing_ok=True)
        node.stop()


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_check_user needs root: the uid switch must be real")
        sys.exit(77)
    from harness import main
    main()
