#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-units.sh SOURCE_ROOT UNITS_BUILD_DIR
#
# 1. Every MESSAGE_ID in lib/catalog-ids.h has an entry in muster.catalog,
#    and the catalog has no other entries.
# 2. journalctl parses the catalog (in a scratch root, nothing installed).
# 3. "systemd-analyze verify" accepts the units, with ExecStart= pointed at
#    the freshly built daemons (man pages are not checked: they may not be
#    installed).
# When journalctl or systemd-analyze is missing (./run installs systemd),
# the other checks still run and the test exits 77, which meson shows as
# SKIP with the reason: never as a pass.
set -eu

src=$1
build=$2
units=$src/units
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
skipped=

sed -n 's/^#define MSGID_[A-Z_]* *"\([0-9a-f]\{32\}\)".*/\1/p' "$src/lib/catalog-ids.h" | sort >"$tmp/ids"
sed -n 's/^-- \([0-9a-f]\{32\}\)$/\1/p' "$units/muster.catalog" | sort >"$tmp/catalog"
if [ ! -s "$tmp/ids" ]; then
        echo "no MESSAGE_IDs found in lib/catalog-ids.h" >&2
        exit 1
fi
if ! diff -u "$tmp/ids" "$tmp/catalog"; then
        echo "lib/catalog-ids.h and units/muster.catalog differ (- missing from catalog, + unknown)" >&2
        fail=1
fi
if [ -n "$(uniq -d "$tmp/catalog")" ]; then
        echo "duplicate catalog entries: $(uniq -d "$tmp/catalog")" >&2
        fail=1
fi

# 4. muster(7)'s journal table names every event with its MESSAGE_ID.
sed -n 's/^#define MSGID_\([A-Z_]*\) *"\([0-9a-f]\{32\}\)".*/\1 \2/p' "$src/lib/catalog-ids.h" |
while read -r name id; do
        event=$(sed -n "s/^#define EVENT_$name *\"\(.*\)\"/\1/p" "$src/lib/catalog-ids.h")
        [ -n "$event" ] || continue
        if ! grep -Eq "^$event +$id " "$src/man/muster.7.scd"; then
                echo "man/muster.7.scd: the journal table lacks \"$event $id\"" >&2
                echo fail >"$tmp/table-failed"
        fi
done
[ -e "$tmp/table-failed" ] && fail=1

if command -v journalctl >/dev/null; then
        mkdir -p "$tmp/root/usr/lib/systemd/catalog" "$tmp/root/var/lib/systemd/catalog"
        cp "$units/muster.catalog" "$tmp/root/usr/lib/systemd/catalog/"
        journalctl --root="$tmp/root" --update-catalog
        journalctl --root="$tmp/root" --list-catalog | awk '{ print $1 }' | sort >"$tmp/listed"
        if ! diff -u "$tmp/ids" "$tmp/listed"; then
                echo "journalctl does not list every catalog entry" >&2
                fail=1
        fi
else
        skipped="$skipped journalctl not found: the catalog was not parsed;"
fi

if command -v systemd-analyze >/dev/null; then
        mkdir "$tmp/units"
        for u in "$build"/*.service; do
                sed "s|^ExecStart=.*/\(muster-[a-z-]*\)$|ExecStart=$build/../daemons/\1|" "$u" >"$tmp/units/${u##*/}"
        done
        cp "$units"/*.socket "$units"/*.timer "$units"/*.slice "$tmp/units/"
        # Warnings (unknown keys, bad values) do not change the exit status:
        # any output at all fails the test.
        if ! (cd "$tmp/units" && systemd-analyze verify --man=no ./*.service ./*.socket ./*.timer ./*.slice) >"$tmp/verify" 2>&1 ||
           [ -s "$tmp/verify" ]; then
                cat "$tmp/verify" >&2
                echo "systemd-analyze verify complained" >&2
                fail=1
        fi
else
        skipped="$skipped systemd-analyze not found: the units were not verified;"
fi

if [ "$fail" -ne 0 ]; then
        exit 1
fi
if [ -n "$skipped" ]; then
        echo "SKIP:$skipped install systemd" >&2
        exit 77
fi
exit 0
