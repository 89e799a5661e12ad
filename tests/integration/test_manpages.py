#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every man page agrees with its binary.

For each program (the three daemons, muster-check-runner, muster,
check-mc-nrpe, check_mcollective) and its page in man/*.scd:

- every option that `PROGRAM --help` lists is documented as an item of the
  page's OPTIONS section: a user who reads the help finds the option in
  the manual;
- every option the page documents (an item of OPTIONS, or an option in the
  SYNOPSIS) is accepted by the program: `PROGRAM OPTION [VALUE] --help`
  prints the help and exits 0 instead of "unrecognized option". Options
  named help or version run alone and exit 0.

A failure names the program, the option and the page.
"""

import re
import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fleet import SOURCE, binary  # noqa: E402

PAGES = {
    "muster-responder": "muster-responder.8.scd",
    "muster-collector": "muster-collector.8.scd",
    "muster-heartbeat": "muster-heartbeat.8.scd",
    "muster-check-runner": "muster-check-runner.8.scd",
    "muster": "muster.1.scd",
    "check-mc-nrpe": "check-mc-nrpe.1.scd",
    "check_mcollective": "check_mcollective.1.scd",
}

OPTION = re.compile(r"(?<![\w-])(--[A-Za-z0-9][\w-]*|-[A-Za-z0-9])(?![\w])")
# A value for an option that takes one, by the name of its placeholder in
# the page: accepted by the option's own parser where it checks the value.
VALUES = {
    "DURATION": "5s", "SECS": "10", "N": "1", "NUM": "1", "COUNT": "1", "SIZE": "1",
    "PATH": "/dev/null", "FILE": "/dev/null", "DIR": "/tmp",
    "METHOD": "broadcast", "FACT": "role=web", "CLASS": "web", "IDENTITY": "node1",
    "AGENT": "nrpe", "COLLECTIVE": "mcollective", "WORD": "web",
}
# getopt's words, and the programs' own, for an option they do not know.
REFUSED = re.compile(r"unrecognized option|invalid option|unknown option|requires an argument|"
                     r"doesn't allow an argument|does not take an argument|ambiguous", re.I)


def help_options(program):
    """The options in the option column of `program --help`."""
    r = subprocess.run([binary(program), "--help"], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise AssertionError(f"{program} --help exits {r.returncode}: {r.stderr}")
    options = set()
    for line in r.stdout.splitlines():
        stripped = line.strip()
        if not stripped.startswith("-"):
            continue
        column = re.split(r"\s{2,}", stripped, maxsplit=1)[0]
        options |= set(OPTION.findall(column))
    return options


def section(text, name):
    """The text of the top-level section "# NAME", subsections included."""
    m = re.search(rf"(?ms)^# {re.escape(name)}\n(.*?)(?=^# |\Z)", text)
    return m.group(1) if m else ""


def bold_options(line):
    out = []
    for span in re.findall(r"\*([^*\n]+)\*", line.replace("\\", "")):
        out += OPTION.findall(span)
    return out


def page_items(page):
    """[(option, placeholder or None), ...] of the items of the OPTIONS
    section: the lines that start with a bold option."""
    text = (SOURCE / "man" / page).read_text()
    items = []
    for line in section(text, "OPTIONS").splitlines():
        if not line.startswith("*-"):
            continue
        # "*-t, --timeout* _DURATION_", "*-c, --config=*_PATH_",
        # "*-F, --wf* _FACT_ _OP_ _VALUE_, *-C, --wc* _CLASS_": each bold
        # span and the first placeholder after it.
        for m in re.finditer(r"\*([^*\n]+)\*\s*(?:\"?_([A-Z]+)_)?", line.replace("\\", "")):
            for opt in OPTION.findall(m.group(1)):
                items.append((opt, m.group(2)))
    return items


def synopsis_options(page):
    """[(option, placeholder or None), ...] of the options in the SYNOPSIS."""
    text = (SOURCE / "man" / page).read_text().replace("\\", "")
    out = []
    for m in re.finditer(r"\*(-[^*\n]+)\*\s*(?:_([A-Z]+)_)?", section(text, "SYNOPSIS")):
        for opt in OPTION.findall(m.group(1)):
            out.append((opt, m.group(2)))
    return out


def accepts(program, option, placeholder):
    """(True, "") when program takes option, else (False, what it said)."""
    if option.lstrip("-") in ("h", "help", "V", "version"):
        argv = [binary(program), option]
    else:
        argv = [binary(program), option]
        if placeholder:
            value = VALUES.get(placeholder, "x")
            if option.startswith("--") and "=" in placeholder:
                argv = [binary(program), f"{option}={value}"]
            else:
                argv.append(value)
        argv.append("--help")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    said = (r.stderr + r.stdout).strip()
    if REFUSED.search(r.stderr) or r.returncode != 0:
        return False, f"`{' '.join(argv[1:])}` exits {r.returncode}: {said[:300]}"
    return True, ""


class ManPages(unittest.TestCase):
    def test_help_options_in_man_page(self):
        """Each option of --help is an item of the page's OPTIONS section."""
        problems = []
        for program, page in PAGES.items():
            documented = {opt for opt, _ in page_items(page)}
            self.assertTrue(documented, f"man/{page} has no option items in its OPTIONS section")
            for opt in sorted(help_options(program)):
                if opt not in documented:
                    problems.append(f"{program}: {opt} is in --help but not in the OPTIONS of man/{page}")
        if problems:
            self.fail("\n" + "\n".join(problems))

    def test_man_page_options_accepted(self):
        """Each option the page documents is accepted by the program."""
        problems = []
        for program, page in PAGES.items():
            seen = set()
            for opt, placeholder in page_items(page) + synopsis_options(page):
                if opt in seen:
                    continue
                seen.add(opt)
                ok, said = accepts(program, opt, placeholder)
                if not ok:
                    problems.append(f"{program}: {opt} is documented in man/{page} but not accepted: {said}")
        if problems:
            self.fail("\n" + "\n".join(problems))

    def test_checks_catch_a_missing_option(self):
        """The checks themselves: an option the programs do not have is
        refused, and one they have is accepted."""
        for program in PAGES:
            ok, _ = accepts(program, "--no-such-option-anywhere", None)
            self.assertFalse(ok, f"{program} accepted --no-such-option-anywhere: the acceptance check is blind")
            ok, said = accepts(program, "--help", None)
            self.assertTrue(ok, f"{program} --help: {said}")


if __name__ == "__main__":
    from harness import main
    main()
