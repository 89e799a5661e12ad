#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""./run installs what the build and the tests need, on a fresh Debian 12.

What the user would otherwise see: `./run test` stopping in the system suite
with "dpkg-buildpackage: Unmet build dependencies: scdoc", or a test failing
with "No such file or directory" for a program that only the developer's
machine had.

- Every package of packaging/debian/control's Build-Depends is in the
  PACKAGES list of ./run (debhelper-compat and dh-sequence-* are virtual:
  debhelper provides them), and so is build-essential, which
  dpkg-buildpackage checks besides the Build-Depends.
- Every program the tests, the fuzz scripts, the unit checks and the
  benchmark harness run is listed in PROGRAMS below with its package, and
  that package is in ./run's PACKAGES. The test sources are scanned, so a
  new program in a test fails here until it is listed.
- On Debian, PROGRAMS tells the truth: each program is installed and
  belongs to its package or to a package that one depends on.
- packaging/rpm/muster.spec's BuildRequires and the Debian Build-Depends
  name the same things (RPM_TO_DEB).
"""

import os
import re
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SOURCE / "tests" / "integration"))

# Programs (a name looked up in the standard PATH, or an absolute path) and
# the package of ./run's PACKAGES that installs them.
PROGRAMS = {
    "/usr/bin/python3": "python3",             # meson runs every Python test with it
    "scdoc": "scdoc",                          # man pages (-Dman=enabled)
    "clang": "clang",                          # the fuzz build
    "/usr/lib/rabbitmq/bin/rabbitmq-server": "rabbitmq-server",   # harness.py
    "/usr/lib/rabbitmq/bin/rabbitmqctl": "rabbitmq-server",
    "rabbitmqctl": "rabbitmq-server",
    "epmd": "rabbitmq-server",                 # from erlang-base, a dependency
    "amqp-publish": "amqp-tools",
    "amqp-get": "amqp-tools",
    "amqp-declare-queue": "amqp-tools",
    "/usr/lib/nagios/plugins/check_dummy": "monitoring-plugins-basic",
    "/usr/sbin/nagios4": "nagios4-core",       # test_nagios.py
    "/usr/sbin/icinga2": "icinga2-bin",
    "journalctl": "systemd",
    "systemd-analyze": "systemd",
    "systemd-socket-activate": "systemd",     # test_check_user.py: the check runner as muster-check.socket runs it
    "/lib/systemd/systemd-journal-remote": "systemd-journal-remote",
    "valgrind": "valgrind",
    "nm": "binutils",
    "openssl": "openssl",
    "ss": "iproute2",
    "mount": "mount",
    "umount": "mount",
    "chattr": "e2fsprogs",                     # test_registration: an immutable file
    "setpriv": "util-linux",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "runuser": "util-linux",
    "/usr/bin/time": "time",
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "dpkg-buildpackage": "dpkg-dev",
    "dpkg-query": "dpkg",
    "git": "git",
    "chroot": "coreutils",
    "cp": "coreutils",
    "rm": "coreutils",
    "true": "coreutils",
    "/bin/true": "coreutils",
    "false": "coreutils",
    "/bin/false": "coreutils",
    "sleep": "coreutils",
    "/bin/sleep": "coreutils",
    "cat": "coreutils",
    "/usr/bin/find": "findutils",
    "sh": "dash",
    "/bin/sh": "dash",
}
# Programs that a test source names but no test runs, with the reason.
NOT_RUN_BY_TESTS = {
    "perf": "bench/client-cost.py --perf, a profile taken by hand",
}
# Python modules the tests import from Debian's interpreter.
MODULES = {"pika": "python3-pika"}
# Essential: yes on Debian, always there, need not be in PACKAGES.
ESSENTIAL = {"coreutils", "dpkg", "util-linux", "diffutils", "findutils", "sed", "grep", "bash", "dash"}
# Needed by dpkg-buildpackage besides the Build-Depends.
IMPLICIT = {"build-essential": "dpkg-buildpackage checks it besides the Build-Depends"}
# Virtual Build-Depends and the package that provides them.
VIRTUAL = [(re.compile(r"debhelper-compat$|dh-sequence-"), "debhelper")]
# Each BuildRequires of the RPM spec and its Debian Build-Depends (None: the
# Debian build has it implicitly).
RPM_TO_DEB = {
    "gcc": None,                      # build-essential
    "meson": "meson",
    "ninja-build": "ninja-build",
    "pkgconfig": "pkg-config",
    "scdoc": "scdoc",
    "systemd": "systemd",
    "systemd-devel": "libsystemd-dev",
    "systemd-rpm-macros": None,       # debhelper's dh_installsystemd
    "librabbitmq-devel": "librabbitmq-dev",
    "inih-devel": "libinih-dev",
    "jansson-devel": "libjansson-dev",
    "openssl-devel": "libssl-dev",
    "libmicrohttpd-devel": "libmicrohttpd-dev",
}
# Where the programs the tests run are named.
CALL_PATTERNS = [
    r'subprocess\.(?:run|Popen|check_output|check_call|call)\(\s*\[\s*"([^"]+)"',
    r'\bsh\(\s*"([^"]+)"',                               # tests/system: sh("prog", ...)
    r'\bexecvp\(\s*"([^"]+)"',
    r'shutil\.which\(\s*"([^"]+)"',
    r'\b(?:argv|cmd)\s*=\s*\[\s*"([^"]+)"',
    r'"(/(?:usr/)?(?:s?bin|lib/systemd|lib/nagios/plugins|lib/rabbitmq/bin)/[\w.+-]+)"',
]
SHELL_PATTERNS = [r'command -v ([\w./+-]+)']
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def deb822_field(text, name):
    """The value of a field of the first paragraph (the source package)."""
    para = text.split("\n\n", 1)[0]
    m = re.search(rf"(?mi)^{re.escape(name)}:(.*(?:\n[ \t].*)*)", para)
    return m.group(1) if m else ""


def parse_depends(value):
    """[[alternative, ...], ...] with versions, architectures, profiles and
    arch qualifiers stripped."""
    out = []
    for item in value.split(","):
        alts = []
        for alt in item.split("|"):
            alt = re.sub(r"\([^)]*\)|\[[^]]*\]|<[^>]*>", "", alt).strip()
            alt = alt.split(":", 1)[0]
            if alt:
                alts.append(alt)
        if alts:
            out.append(alts)
    return out


def build_depends():
    text = (SOURCE / "packaging" / "debian" / "control").read_text()
    deps = []
    for field in ("Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep"):
        deps += parse_depends(deb822_field(text, field))
    return deps


def run_packages():
    """The words of the PACKAGES=( ... ) array of ./run, comments dropped."""
    text = (SOURCE / "run").read_text()
    m = re.search(r"(?ms)^PACKAGES=\((.*?)^\)", text)
    if not m:
        raise AssertionError("./run has no PACKAGES=( ... ) array")
    words = []
    for line in m.group(1).splitlines():
        words += line.split("#", 1)[0].split()
    return set(words)


def programs_called():
    """{program: {file, ...}} for every program the test sources run."""
    found = {}
    files = [p for p in (SOURCE / "tests").rglob("*.py") if "corpus" not in p.parts and p.name != Path(__file__).name]
    files += list((SOURCE / "bench").glob("*.py"))
    for f in files:
        text = f.read_text()
        for pat in CALL_PATTERNS:
            for m in re.finditer(pat, text):
                found.setdefault(m.group(1), set()).add(str(f.relative_to(SOURCE)))
    shells = list((SOURCE / "units").glob("*.sh")) + list((SOURCE / "tests").rglob("*.sh"))
    for f in shells:
        text = f.read_text()
        for pat in SHELL_PATTERNS:
            for m in re.finditer(pat, text):
                found.setdefault(m.group(1), set()).add(str(f.relative_to(SOURCE)))
    return found


def rpm_build_requires():
    text = (SOURCE / "packaging" / "rpm" / "muster.spec").read_text()
    names = []
    for m in re.finditer(r"(?m)^BuildRequires:\s*(.+)$", text):
        for item in m.group(1).split(","):
            name = item.split()[0] if item.split() else ""
            if name:
                names.append(name)
    return names


def muster_programs():
    """The programs muster builds: the tests run them from the build dir."""
    names = set()
    for d in ("daemons", "tools", "bench"):
        for f in (SOURCE / d).rglob("meson.build"):
            names |= set(re.findall(r"executable\(\s*'([\w.-]+)'", f.read_text()))
    return names


class BuildDepends(unittest.TestCase):
    def test_build_depends_installed_by_run(self):
        """./run installs every package of packaging/debian/control's Build-Depends."""
        packages = run_packages()
        missing = []
        for alts in build_depends():
            wanted = set()
            for alt in alts:
                provider = next((p for rx, p in VIRTUAL if rx.match(alt)), None)
                wanted.add(provider or alt)
            if not wanted & packages:
                missing.append(" | ".join(sorted(wanted)))
        self.assertTrue(build_depends(), "no Build-Depends found in packaging/debian/control")
        self.assertEqual(missing, [], "./run does not install these Build-Depends of packaging/debian/control: "
                         + ", ".join(missing) + " (add them to PACKAGES in ./run)")

    def test_implicit_build_depends_installed_by_run(self):
        packages = run_packages()
        missing = [f"{p} ({why})" for p, why in IMPLICIT.items() if p not in packages]
        self.assertEqual(missing, [], "./run does not install: " + ", ".join(missing))

    def test_programs_of_the_tests_installed_by_run(self):
        """Every program in PROGRAMS comes from a package ./run installs."""
        packages = run_packages()
        missing = [f"{pkg} (for {prog})" for prog, pkg in sorted(PROGRAMS.items())
                   if pkg not in packages and pkg not in ESSENTIAL]
        missing += [f"{pkg} (for import {mod})" for mod, pkg in MODULES.items() if pkg not in packages]
        self.assertEqual(missing, [], "./run does not install: " + ", ".join(missing) + " (add to PACKAGES in ./run)")

    def test_every_program_the_tests_run_is_listed(self):
        """A program a test runs that is not in PROGRAMS fails here: list it
        with its package, and add that package to ./run."""
        ours = muster_programs()
        unknown = [f"{prog} (run by {', '.join(sorted(files))})"
                   for prog, files in sorted(programs_called().items())
                   if prog not in PROGRAMS and prog not in NOT_RUN_BY_TESTS and os.path.basename(prog) not in ours]
        self.assertEqual(unknown, [], "programs run by the tests with no package known: " + "; ".join(unknown)
                         + " (add each to PROGRAMS in tests/test-build-depends.py and its package to ./run)")

    def test_run_builds_man_pages(self):
        """./run's plain and sanitized builds set up and configure with
        -Dman=enabled: without scdoc the build stops instead of leaving the
        man pages out ("Program scdoc found: NO")."""
        text = (SOURCE / "run").read_text()
        for func in ("build", "build_san"):
            m = re.search(rf"(?ms)^{func}\(\) {{\n(.*?)^}}", text)
            self.assertIsNotNone(m, f"./run has no {func}() function")
            body = re.sub(r"\\\n\s*", " ", m.group(1))
            for step in ("meson setup", "meson configure"):
                lines = [line for line in body.splitlines() if step in line]
                self.assertTrue(lines, f"./run {func}() does not run {step}")
                for line in lines:
                    self.assertIn("-Dman=enabled", line, f"./run {func}(): {step} without -Dman=enabled")

    def test_rpm_build_requires_match_debian(self):
        """packaging/rpm/muster.spec's BuildRequires name the same packages as
        the Debian Build-Depends."""
        deb = {alt for alts in build_depends() for alt in alts}
        rpm = rpm_build_requires()
        self.assertTrue(rpm, "no BuildRequires found in packaging/rpm/muster.spec")
        problems = []
        for name in rpm:
            if name not in RPM_TO_DEB:
                problems.append(f"BuildRequires {name} has no Debian counterpart in RPM_TO_DEB")
            elif RPM_TO_DEB[name] is not None and RPM_TO_DEB[name] not in deb:
                problems.append(f"BuildRequires {name}: {RPM_TO_DEB[name]} missing from Build-Depends")
        mapped = {d for r, d in RPM_TO_DEB.items() if d is not None and r in rpm}
        for alts in build_depends():
            alt = alts[0]
            if any(rx.match(alt) for rx, _ in VIRTUAL) or alt in mapped:
                continue
            problems.append(f"Build-Depends {alt} has no BuildRequires in packaging/rpm/muster.spec")
        self.assertEqual(problems, [], "; ".join(problems))


def dpkg_owners(paths):
    """{path: {package, ...}} of the packages that ship each path, in one
    dpkg-query call (usrmerge: /usr/bin/x may be /bin/x to dpkg)."""
    variants = {}
    for path in paths:
        for p in {path, os.path.realpath(path)}:
            variants.setdefault(p, set()).add(path)
            variants.setdefault(p[4:] if p.startswith("/usr/") else "/usr" + p, set()).add(path)
    r = subprocess.run(["dpkg-query", "-S", *variants], capture_output=True, text=True)
    owners = {path: set() for path in paths}
    for line in r.stdout.splitlines():
        if line.startswith("diversion by "):
            continue
        pkgs, _, file = line.partition(": ")
        for path in variants.get(file, ()):
            owners[path] |= {p.strip().split(":")[0] for p in pkgs.split(",")}
    return owners


def dpkg_depends(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}", pkg], capture_output=True, text=True)
    return {alt for alts in parse_depends(r.stdout) for alt in alts}


@unittest.skipUnless(shutil.which("dpkg-query", path=STANDARD_PATH), "not a Debian system (no dpkg-query)")
class InstalledHere(unittest.TestCase):
    def test_programs_belong_to_their_package(self):
        """Each program of PROGRAMS is installed here and ships in its package
        (or in a package that one depends on)."""
        problems = []
        paths = {}
        for prog, pkg in sorted(PROGRAMS.items()):
            path = prog if prog.startswith("/") else shutil.which(prog, path=STANDARD_PATH)
            if not path or not os.access(path, os.X_OK):
                problems.append(f"{prog} is not installed (./run installs {pkg})")
            else:
                paths[prog] = path
        owners = dpkg_owners(paths.values())
        for prog, path in paths.items():
            pkg = PROGRAMS[prog]
            if pkg not in owners[path] and not owners[path] & dpkg_depends(pkg):
                problems.append(f"{prog} ({path}) belongs to {', '.join(owners[path]) or 'no package'}, "
                                f"not to {pkg} or its dependencies")
        self.assertEqual(problems, [], "; ".join(problems))

    def test_modules_importable(self):
        for mod, pkg in MODULES.items():
            r = subprocess.run(["/usr/bin/python3", "-c", f"import {mod}"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, f"/usr/bin/python3 cannot import {mod} (./run installs {pkg}): {r.stderr}")


if __name__ == "__main__":
    from harness import main
    main()
