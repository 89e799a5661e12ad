#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Print one closing line over the meson test logs of every step of the run
(./run test gives each step its own --logbase testlog-STEP):
'N passed, N failed, N skipped', after one line per skipped test with the
reason it gave (its last "SKIP ..." line: tests/integration/harness.py's
main() and units/test-units.sh print one before they exit 77)."""
import json
import sys
from pathlib import Path


def skip_reason(entry):
    out = (entry.get("stdout") or "") + "\n" + (entry.get("stderr") or "")
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    marked = [line for line in lines if line.startswith("SKIP")]
    if marked:
        return "; ".join(marked)
    return lines[-1] if lines else "no reason given"


passed = failed = skipped = 0
skips = []
for build in sys.argv[1:]:
    for log in sorted((Path(build) / "meson-logs").glob("testlog*.json")):
        for line in log.read_text().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            result = entry.get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
                skips.append(f"SKIPPED {entry.get('name')} ({build}): {skip_reason(entry)}")
            else:
                failed += 1
for s in skips:
    print(s)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
