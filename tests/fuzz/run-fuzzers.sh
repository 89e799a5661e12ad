#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run every libFuzzer target of a fuzz build for a while.
#
#   tests/fuzz/run-fuzzers.sh BUILD_DIR [SECONDS]
#
# BUILD_DIR was configured with -Dfuzz=true (see tests/fuzz/meson.build);
# SECONDS (default 60) is the time given to each target. Each target starts
# from a writable copy of tests/fuzz/corpus/<target> (the tree is never
# written to) with its dictionary. Exits 1 when any target crashed, leaked,
# timed out or ran out of memory, after printing the reproducer (copy it
# into tests/fuzz/corpus/<target>/ as a regression input); 2 on usage errors.
#
# Environment: FUZZ_TARGETS (space separated names, default all),
# MUSTER_FUZZ_TMPDIR (where the targets write their files; default a
# directory in /dev/shm, removed at the end),
# FUZZ_WORKDIR (kept afterwards; default a temp dir, removed when all
# passed), FUZZ_ARGS (more libFuzzer options, e.g. "-fork=2"; later options
# override earlier ones, so "-timeout=3" tightens the default).

set -u

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
        echo "usage: $0 BUILD_DIR [SECONDS]" >&2
        exit 2
fi
build=$1
seconds=${2:-60}
case $seconds in
        ''|*[!0-9]*) echo "$0: SECONDS must be a whole number: $seconds" >&2; exit 2 ;;
esac

srcdir=$(cd "$(dirname "$0")" && pwd)
all_targets="fuzz-message fuzz-config fuzz-nrpe-cfg fuzz-filter fuzz-registry fuzz-facts fuzz-checks"
targets=${FUZZ_TARGETS:-$all_targets}

if [ -n "${FUZZ_WORKDIR:-}" ]; then
        work=$FUZZ_WORKDIR
        keep=1
        mkdir -p "$work" || exit 2
else
        work=$(mktemp -d "${TMPDIR:-/tmp}/muster-fuzz-run.XXXXXX") || exit 2
        keep=0
fi

# The targets' scratch files (see fuzz_tmpdir() in fuzz.h): on a tmpfs when
# there is one, in a directory removed at the end, so that what a crashed
# target leaves behind goes too.
if [ -z "${MUSTER_FUZZ_TMPDIR:-}" ]; then
        if [ -d /dev/shm ] && [ -w /dev/shm ]; then
                scratch=$(mktemp -d /dev/shm/muster-fuzz-run.XXXXXX) || exit 2
        else
                scratch=$(mktemp -d "$work/scratch.XXXXXX") || exit 2
        fi
        trap 'rm -rf "$scratch"' EXIT
        export MUSTER_FUZZ_TMPDIR=$scratch
fi

# Sanitizer findings are fatal; libFuzzer sets up ASan's own options.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# Log everything the code under test logs (its arguments get evaluated and
# formatted, which is code worth fuzzing too); -close_fd_mask=2 below sends
# it to /dev/null while libFuzzer and the sanitizers keep the real stderr.
export MUSTER_FUZZ_LOG=${MUSTER_FUZZ_LOG:-debug}

failed=0
summary=()
for t in $targets; do
        exe=$build/tests/fuzz/$t
        if [ ! -x "$exe" ]; then
                echo "$0: $exe missing: was $build configured with -Dfuzz=true and built?" >&2
                exit 2
        fi

        corpus=$work/corpus/$t
        artifacts=$work/artifacts/$t
        log=$work/$t.log
        rm -rf "$corpus"
        mkdir -p "$corpus" "$artifacts"
        if [ -d "$srcdir/corpus/$t" ]; then
                cp -R "$srcdir/corpus/$t/." "$corpus/"
        fi
        dict=()
        if [ -f "$srcdir/$t.dict" ]; then
                dict=("-dict=$srcdir/$t.dict")
        fi

        echo "=== $t: ${seconds}s, log $log"
        # shellcheck disable=SC2086 # FUZZ_ARGS is a list of options
        "$exe" \
                -max_total_time="$seconds" \
                -rss_limit_mb=2048 \
                -timeout=10 \
                -close_fd_mask=2 \
                -print_final_stats=1 \
                -artifact_prefix="$artifacts/" \
                ${dict[@]+"${dict[@]}"} \
                ${FUZZ_ARGS:-} \
                "$corpus" >"$log" 2>&1
        rc=$?

        stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
        execs=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -n 1)
        echo "    ${stats:-no progress line}"
        [ -n "$execs" ] && echo "    average exec/s: $execs"

        repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
        if [ $rc -ne 0 ] || [ -n "$repro" ]; then
                failed=1
                echo "!!! $t FAILED (exit code $rc)"
                grep -E 'ERROR: |SUMMARY: |invariant violated|runtime error:' "$log" | head -n 5 | sed 's/^/    /'
                if [ -n "$repro" ]; then
                        for r in $repro; do
                                echo "    reproducer: $r"
                                echo "    rerun: $exe $r"
                        done
                else
                        echo "    no reproducer written; see $log"
                fi
                summary+=("$t: FAILED")
        else
                summary+=("$t: ok")
        fi
done

echo "=== summary"
printf '    %s\n' "${summary[@]}"
if [ $failed -ne 0 ]; then
        echo "Work directory kept: $work (logs, grown corpora, artifacts)."
        echo "Copy each reproducer into tests/fuzz/corpus/<target>/ as a regression input."
        exit 1
fi
if [ $keep -eq 0 ]; then
        rm -rf "$work"
else
        echo "Work directory: $work"
fi
exit 0
