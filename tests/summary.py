#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Print one closing line over the meson test logs of every step of the run
(./run test gives each step its own --logbase testlog-STEP):
'N passed, N failed, N skipped'."""
import json
import sys
from pathlib import Path

passed = failed = skipped = 0
for build in sys.argv[1:]:
    for log in sorted((Path(build) / "meson-logs").glob("testlog*.json")):
        for line in log.read_text().splitlines():
            if not line.strip():
                continue
            result = json.loads(line).get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
