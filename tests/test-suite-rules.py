#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The rules that keep a test from disappearing or passing by skipping.

- Every tests/test-*.c is in tests/meson.build's unit_tests and every
  tests/integration/test_*.py in its integration_tests: a test file nobody
  registered never runs, and nobody sees it.
- tests/meson.build registers tests without fs.exists(): a listed test whose
  file is missing fails the build instead of vanishing.
- Every tests/integration/test_*.py, and every other Python test that can
  skip, ends with harness.main(): a skip exits 77, which meson shows as SKIP
  with its reason, where unittest.main() would report OK.
"""

import re
import sys
import unittest
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent
TESTS = SOURCE / "tests"
sys.path.insert(0, str(TESTS / "integration"))

SKIPS = re.compile(r"skipTest\(|unittest\.skip|@skip")
MAIN = re.compile(r"(?m)^if __name__ == \"__main__\":\n(?:.*\n)*?\s+(?:harness\.)?main\(\)\s*$")


def meson_list(text, name):
    m = re.search(rf"(?ms)^{name} = \[(.*?)^\]", text)
    return re.findall(r"'([\w.-]+)'", m.group(1)) if m else []


class SuiteRules(unittest.TestCase):
    def setUp(self):
        self.meson = (TESTS / "meson.build").read_text()

    def test_every_test_file_is_registered(self):
        units = set(meson_list(self.meson, "unit_tests"))
        integration = set(meson_list(self.meson, "integration_tests"))
        self.assertTrue(units and integration, "tests/meson.build: unit_tests or integration_tests not found")
        missing = [f"tests/{p.name}" for p in sorted(TESTS.glob("test-*.c")) if p.stem not in units]
        missing += [f"tests/integration/{p.name}" for p in sorted((TESTS / "integration").glob("test_*.py"))
                    if p.stem not in integration]
        self.assertEqual(missing, [], "test files that tests/meson.build does not register, so they never run: "
                         + ", ".join(missing))

    def test_no_fs_exists_in_test_registration(self):
        found = [str(p.relative_to(SOURCE)) for p in [TESTS / "meson.build", *TESTS.glob("*/meson.build")]
                 if "fs.exists(" in p.read_text()]
        self.assertEqual(found, [], "fs.exists() drops a missing test file silently in: " + ", ".join(found))

    def test_python_tests_end_with_harness_main(self):
        files = sorted((TESTS / "integration").glob("test_*.py"))
        files += [p for p in sorted(TESTS.rglob("*.py"))
                  if p not in files and "corpus" not in p.parts and SKIPS.search(p.read_text())]
        wrong = []
        for p in files:
            text = p.read_text()
            if text.endswith("\n") and MAIN.search(text) and not re.search(r"(?m)^\s+unittest\.main\(", text):
                continue
            wrong.append(str(p.relative_to(SOURCE)))
        self.assertEqual(wrong, [], "these tests do not end with harness.main() (`from harness import main` and "
                         "`main()` under `if __name__ == \"__main__\":`), so a skip would report OK: "
                         + ", ".join(wrong))


if __name__ == "__main__":
    from harness import main
    main()
