# SPDX-License-Identifier: LGPL-2.1-or-later
"""The benchmark's report: Markdown tables from one run's results
(bench/runner.py), the ratios against the broker's floor, and the comparison
of two consecutive runs. bench/driver.py prints them."""

import os
import platform
import statistics
import time

# The round trips judged against the target "≤ 2× the floor", wall and CPU.
TARGETS = ("ping-broadcast", "ping-registry", "nrpe-inproc-registry")
TARGET_MIN_N = 1000   # below, a round trip is a few ms and its ratio mostly noise
AGREE = 0.20          # two runs agree when their ratios are within 20 %
PSS_TARGET_KIB = 3 * 1024
FIND_TARGET = 0.6     # check_mcollective ÷ find -mmin

ORDER = ["floor-fanout", "floor-direct", "floor-topic-shaped", "floor-direct-shaped", "ping-broadcast",
         "ping-registry", "filter10-broadcast", "filter10-registry", "nrpe-inproc-registry",
         "nrpe-exec-registry", "nrpe-inproc-broadcast", "checks-cost"]
CPU_KEYS = ("cpu_broker", "cpu_nodes", "cpu_client")


# --------------------------------------------------------------------------
# statistics


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt_ms(s):
    if s is None:
        return "–"
    return f"{s['median']:.1f} [{s['min']:.1f}–{s['max']:.1f}]"


def ratio(a, b):
    if a is None or b is None or b["median"] <= 0:
        return None
    return a["median"] / b["median"]


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}×"


def cpu_totals(d):
    """CPU ms of broker + nodes + client, round by round."""
    if not d or "cpu_broker" not in d:
        return []
    return [sum(x) for x in zip(*(d[k] for k in CPU_KEYS))]


def rounds_text(a):
    """"5 runs" or "10 runs at 1000, 4 at 50000, else 5"."""
    at = getattr(a, "repeats_at", None) or {}
    if not at:
        return f"{a.repeats} runs"
    parts = [f"{r} at {n}" for n, r in sorted(at.items())]
    if any(n not in at for n in a.sizes):
        parts.append(f"else {a.repeats}")
    return "runs: " + ", ".join(parts)


def per_round(xs, ys):
    """xs[i] / ys[i] for the rounds where both exist: round i of a scenario
    against the floor measured in the same round."""
    return [x / y for x, y in zip(xs, ys) if x is not None and y is not None and y > 0]


def ratios(results, sizes):
    """Every scenario's ratios to floor-fanout at the same N, keyed
    "scenario@N": cpu = CPU total (broker + nodes + client) ÷ the floor's,
    wall = round trip ÷ the floor's, each the median of the ratios taken
    round by round (a scenario against the floor measured minutes before it
    in the same round, so that a slow drift of the machine or the broker
    cancels out), with their min–max."""
    out = {}
    for scen in ORDER:
        if scen in ("floor-fanout", "checks-cost"):
            continue
        for n in sizes:
            d, f = results.get((scen, n)), results.get(("floor-fanout", n))
            if not d or not f:
                continue
            e = {}
            for key, pr in (("cpu", per_round(cpu_totals(d), cpu_totals(f))),
                            ("wall", per_round(d.get("rtt", []), f.get("rtt", [])))):
                if pr:
                    e[key] = statistics.median(pr)
                    e[key + "_spread"] = [min(pr), max(pr)]
            if e:
                out[f"{scen}@{n}"] = e
    return out


def fmt_spread(r, spread):
    if r is None:
        return "–"
    if not spread:
        return f"{r:.2f}×"
    return f"{r:.2f}× [{spread[0]:.2f}–{spread[1]:.2f}]"


def cmc_ratio(cmc, m):
    """check_mcollective / find -mmin, wall or CPU: the median of the ratios
    taken round by round, with their min-max (older runs: the ratio of the
    medians, no spread)."""
    r = cmc.get(f"ratio_{m}")
    if r:
        return r["median"], [r["min"], r["max"]]
    a, f = cmc[m], cmc[f"find_{m}"]
    return (a["median"] / f["median"] if f["median"] > 0 else None), None


def run_summary(b):
    """What the comparison of runs needs from one run (also written to --json)."""
    s = {"ratios": ratios(b.results, b.args.sizes), "started": b.started, "sizes": b.args.sizes}
    rr = b.extra.get("responder_rss")
    if rr:
        s["pss_idle_kib"] = rr["idle"].get("Pss")
        s["pss_after_kib"] = rr["after"].get("Pss")
    cmc = b.extra.get("check_mcollective")
    if cmc and cmc.get("find_wall"):
        for key, m in (("check_mcollective_vs_find", "wall"), ("check_mcollective_vs_find_cpu", "cpu")):
            s[key], s[f"{key}_spread"] = cmc_ratio(cmc, m)
    s["broker"] = {str(k): v for k, v in b.extra.get("broker", {}).items()}
    s["setup_s"] = {str(n): [b.extra.get("sim_setup_s", {}).get(n), b.extra.get("floor_setup_s", {}).get(n)]
                    for n in b.args.sizes}
    return s


# --------------------------------------------------------------------------
# one run


def report(b):
    a = b.args
    lines = []
    p = lines.append
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    bg = summary(b.background)
    p(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(b.started))}, "
      f"{(b.finished - b.started) / 60:.1f} min; {os.cpu_count()} CPUs ({cpu}), "
      f"kernel {platform.release()}; RabbitMQ {b.rabbitmq_version()}; "
      f"{rounds_text(a)} per figure, {a.connections} simulator connections, nice {a.nice}; "
      f"broker scheduler busy wait {getattr(a, 'broker_busy_wait', 'default')}, "
      f"core metrics gc {getattr(a, 'broker_metrics_gc', 'default')}.")
    if bg:
        p(f"Other load on the machine during the timed runs (CPUs busy outside the benchmark): "
          f"median {bg['median']:.2f}, max {bg['max']:.2f}.")
    p("")
    p("### Ratios to the floor (primary: CPU)")
    p("")
    p("CPU ÷floor = CPU time of broker + nodes (simulator) + client in a round ÷ the same for "
      "floor-fanout (broker + floor server + floor client) in the same round at the same N; round trip "
      "÷floor = a round's round trip ÷ floor-fanout's in that round. Each is the median of those ratios over "
      "the rounds (each round measures the floors and every scenario back to back), with their min–max in "
      "brackets.")
    p("")
    p("| scenario | N | CPU ÷floor [min–max] | round trip ÷floor [min–max] | target ≤ 2× |")
    p("|---|---:|---:|---:|---|")
    rs = ratios(b.results, a.sizes)
    for scen in ORDER:
        for n in a.sizes:
            e = rs.get(f"{scen}@{n}")
            if not e:
                continue
            verdict = ""
            if scen in TARGETS and n >= TARGET_MIN_N:
                ok = [e.get(k) is not None and e[k] <= 2.0 for k in ("cpu", "wall")]
                verdict = "met" if all(ok) else "**not met**"
            p(f"| {scen} | {n} | {fmt_spread(e.get('cpu'), e.get('cpu_spread'))} | "
              f"{fmt_spread(e.get('wall'), e.get('wall_spread'))} | {verdict} |")
    br = b.extra.get("broker")
    if br:
        p("")
        p("### Broker and queue setup per N")
        p("")
        p("Setup: from start to READY (every queue declared, bound and consuming). Broker: RSS of beam.smp "
          "and `rabbitmqctl status` after both fleets are up.")
        p("")
        p("| N | simulator setup s | floor server setup s | queues | broker RSS MiB | broker total MB | "
          "watermark limit MB | fds used/limit | Erlang processes used/limit | largest parts MB | alarms |")
        p("|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|")
        for n, m in br.items():
            ss = b.extra.get("sim_setup_s", {}).get(n)
            fs = b.extra.get("floor_setup_s", {}).get(n)
            rss = m.get("rss_kib")
            p(f"| {n} | {'–' if ss is None else f'{ss:.1f}'} | {'–' if fs is None else f'{fs:.1f}'} | "
              f"{m.get('queues', 2 * n)} | {'–' if not rss else f'{rss / 1024:.0f}'} | {m.get('total_mb', '–')} | "
              f"{m.get('limit_mb', '–')} | {m.get('fds')} | {m.get('procs')} | "
              f"{m.get('parts_mb', m.get('error'))} | {m.get('alarms')} |")
    p("")
    p("### Round trips (ms: median [min–max] over the runs)")
    p("")
    p("Ratios: ÷floor = median ÷ median of floor-fanout at the same N (the target's floor); "
      "÷shaped = median ÷ median of the broker floor with muster's message shape and pattern "
      "(floor-topic-shaped for broadcast, floor-direct-shaped for registry).")
    p("")
    p("| scenario | N | whole process | ÷floor | round trip | ÷floor | ÷shaped | client max RSS KiB |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|")
    order = ["floor-fanout", "floor-direct", "floor-topic-shaped", "floor-direct-shaped", "ping-broadcast",
             "ping-registry", "filter10-broadcast", "filter10-registry", "nrpe-inproc-registry",
             "nrpe-exec-registry", "nrpe-inproc-broadcast", "checks-cost"]
    for scen in order:
        for n in a.sizes:
            d = b.results.get((scen, n))
            if not d:
                continue
            f = b.results.get(("floor-fanout", n), {})
            shaped = None
            if not scen.startswith(("floor", "checks")):
                key = "floor-topic-shaped" if scen.endswith("broadcast") else "floor-direct-shaped"
                shaped = summary(b.results.get((key, n), {}).get("rtt", []))
            wall, rtt = summary(d.get("wall", [])), summary(d.get("rtt", []))
            fw, fr = summary(f.get("wall", [])), summary(f.get("rtt", []))
            rss = summary(d.get("maxrss", []))
            p(f"| {scen} | {n} | {fmt_ms(wall)} | {fmt_ratio(ratio(wall, fw))} | {fmt_ms(rtt)} | "
              f"{fmt_ratio(ratio(rtt, fr))} | {fmt_ratio(ratio(rtt, shaped))} | "
              f"{'' if rss is None else int(rss['median'])} |")
    p("")
    p("### CPU time per run (ms, medians), all processes of the benchmark, including what the daemons do "
      "after the client exits: less sensitive to other load than the times")
    p("")
    p("| scenario | N | broker | nodes (simulator or floor server) | client process | total | ratio |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    for scen in order:
        for n in a.sizes:
            d = b.results.get((scen, n))
            if not d or "cpu_broker" not in d:
                continue
            f = b.results.get(("floor-fanout", n), {})
            br, nd, c = (statistics.median(d[k]) for k in ("cpu_broker", "cpu_nodes", "cpu_client"))
            tot = br + nd + c
            ftot = sum(statistics.median(f[k]) for k in ("cpu_broker", "cpu_nodes", "cpu_client")) if f else None
            p(f"| {scen} | {n} | {br:.1f} | {nd:.1f} | {c:.1f} | {tot:.1f} | "
              f"{'–' if not ftot else f'{tot / ftot:.2f}×'} |")
    p("")
    p("Round trip: floor = publish to last reply inside broker-floor; ping-broadcast = the last reply's "
      "rtt_ms (the process itself waits out --dt); ping-registry and filter10-registry = stats.total_ms "
      "(first publish to last reply); check-mc-nrpe = its checktime perfdata; checks-cost = N runs of "
      "check_dummy through nrpe_run_start() with the simulator's concurrency limit, no broker.")
    if "nrpe-exec-registry" in {k[0] for k in b.results}:
        p("")
        p("check-mc-nrpe against the target \"≤ 2× (floor + the checks' own cost)\":")
        p("")
        p("| N | check-mc-nrpe check_dummy (whole process) | floor + checks | ratio |")
        p("|---:|---:|---:|---:|")
        for n in a.sizes:
            e = summary(b.results.get(("nrpe-exec-registry", n), {}).get("wall", []))
            fl = summary(b.results.get(("floor-fanout", n), {}).get("wall", []))
            c = summary(b.results.get(("checks-cost", n), {}).get("rtt", []))
            if e and fl and c:
                base = fl["median"] + c["median"]
                p(f"| {n} | {e['median']:.1f} | {fl['median']:.1f} + {c['median']:.1f} = {base:.1f} | "
                  f"{e['median'] / base:.2f}× |")
    cm = b.extra.get("client_memory")
    if cm and cm["maxrss"]:
        p("")
        p("### Client memory (`muster ping --dm registry`, max RSS from wait4)")
        p("")
        p("| N | max RSS KiB | KiB per extra node vs. previous N |")
        p("|---:|---:|---:|")
        slopes = {s["to"]: s["kib_per_node"] for s in cm["slopes"]}
        for n, m in cm["maxrss"]:
            p(f"| {n} | {m:.0f} | {'' if n not in slopes else f'{slopes[n]:.2f}'} |")
    col = b.extra.get("collector")
    if col:
        p("")
        p(f"### Collector ({a.registrations} signed registrations preloaded into its queue, "
          f"then the real muster-collector started; rate from READY=1 to the last one stored)")
        p("")
        p("| phase | registrations/s | broker floor/s (drain+ack, no files) | collector CPU µs/registration "
          "| collector CPU busy | written | touched | startup s | RSS KiB |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in col:
            p(f"| {r['phase']} | {r['per_sec']:.0f} | {r['floor_per_sec']:.0f} | {r['cpu_us_per_reg']:.0f} | "
              f"{r['cpu_busy'] * 100:.0f}% | {r['written']} | {r['touched']} | {r['startup_s']:.2f} | "
              f"{r['rss_kib']} |")
    cmc = b.extra.get("check_mcollective")
    if cmc:
        p("")
        p(f"### check_mcollective over {cmc['files']} files (warm cache)")
        p("")
        p(f"whole process: {fmt_ms(cmc['wall'])} ms (first run {cmc['first_ms']:.1f} ms), "
          f"max RSS {cmc['maxrss_kib']} KiB; output `{cmc['output'][:100]}`")
        if cmc.get("find_wall"):
            r, rs = cmc_ratio(cmc, "wall")
            rc, rcs = cmc_ratio(cmc, "cpu")
            met = r is not None and rc is not None and r <= FIND_TARGET and rc <= FIND_TARGET
            p("")
            p(f"`find DIR -type f -mmin +5.5` on the same directory, run for run in turn "
              f"({cmc.get('rounds', len(cmc.get('ratios') or []))} rounds, which goes first alternating): "
              f"{fmt_ms(cmc['find_wall'])} ms, CPU {fmt_ms(cmc['find_cpu'])} ms (check_mcollective CPU "
              f"{fmt_ms(cmc['cpu'])} ms). check_mcollective ÷ find, median [min–max] of the ratios round by "
              f"round: {fmt_spread(r, rs)} wall, {fmt_spread(rc, rcs)} CPU; target ≤ {FIND_TARGET}× (both): "
              f"{'met' if met else '**not met**'}.")
        fl = cmc.get("floor")
        if fl:
            serial = fl["readdir_ms"] + fl["stat_ms"]
            p("")
            p(f"Floor (bench/stat-floor, same directory, medians): listing {fl['readdir_ms']:.1f} ms + one "
              f"fstatat() per file on one thread {fl['stat_ms']:.1f} ms = {serial:.1f} ms "
              f"({fl['stat_ms'] * 1000 / cmc['files']:.2f} µs per file); a null system call costs "
              f"{fl['syscall_ns']:.0f} ns here. check_mcollective ÷ serial floor: "
              f"{cmc['wall']['median'] / serial:.2f}× (it stats through io_uring, its workers and itself on one CPU).")
    rr = b.extra.get("responder_rss")
    if rr:
        p("")
        p("### muster-responder memory (KiB)")
        p("")
        p("| state | VmRSS | RssAnon | RssFile | Pss | Pss_Anon | VmHWM |")
        p("|---|---:|---:|---:|---:|---:|---:|")
        for k, label in (("idle", "idle, 2 s after READY=1"), ("after", "after 50 pings + 20 checks")):
            s = rr[k]
            p(f"| {label} | {s.get('VmRSS')} | {s.get('RssAnon')} | {s.get('RssFile')} | {s.get('Pss')} | "
              f"{s.get('Pss_Anon')} | {s.get('VmHWM')} |")
        fl = rr.get("floor")
        if fl:
            s = fl["status"]
            p(f"| idle-floor (same libraries, minimal use, idle) | {s.get('VmRSS')} | {s.get('RssAnon')} | "
              f"{s.get('RssFile')} | {s.get('Pss')} | {s.get('Pss_Anon')} | {s.get('VmHWM')} |")
            h = rr.get("floor_hmac", {}).get("status", {})
            p(f"| idle-floor after one HMAC-SHA256 | {h.get('VmRSS')} | {h.get('RssAnon')} | "
              f"{h.get('RssFile')} | {h.get('Pss')} | {h.get('Pss_Anon')} | {h.get('VmHWM')} |")
            ratio_rss = rr["idle"].get("VmRSS", 0) / max(s.get("VmRSS", 1), 1)
            p("")
            ratio_after = rr["after"].get("VmRSS", 0) / max(h.get("VmRSS", 1), 1)
            pss = rr["idle"].get("Pss")
            p(f"Idle responder Pss (smaps_rollup): {pss} KiB, after work {rr['after'].get('Pss')} KiB; "
              f"target idle Pss ≤ {PSS_TARGET_KIB} KiB: "
              f"{'met' if pss is not None and pss <= PSS_TARGET_KIB else '**not met**'}. "
              f"idle-floor's Pss: {s.get('Pss')} KiB (muster's own share {(pss or 0) - (s.get('Pss') or 0)} KiB).")
            p("")
            p(f"Idle responder ÷ idle-floor: {ratio_rss:.2f}× VmRSS (muster's own share "
              f"{rr['idle'].get('VmRSS', 0) - s.get('VmRSS', 0)} KiB); after work ÷ floor after one HMAC: "
              f"{ratio_after:.2f}× ({rr['after'].get('VmRSS', 0) - h.get('VmRSS', 0)} KiB).")
            p("")
            p("Rss by mapping, idle (KiB): responder / idle-floor")
            p("")
            fm = dict(fl["maps"])
            p("| mapping | responder | idle-floor |")
            p("|---|---:|---:|")
            for name, kib in rr.get("idle_maps", []):
                if kib >= 16:
                    p(f"| {name} | {kib} | {fm.get(name, fm.get('idle-floor') if name == 'muster-responder' else '')} |")
    sr = b.extra.get("sim_rss")
    if sr:
        p("")
        p("Simulator: " + "; ".join(
            f"N={n}: setup {b.extra['sim_setup_s'][n]:.1f} s, RSS {v.get('VmRSS')} KiB"
            for n, v in sr.items()) + ". Idle CPU of broker + simulator + floor server (subtracted above): " +
          "; ".join(f"N={n}: {v * 100:.1f} % of a CPU" for n, v in b.extra.get("idle_cpu", {}).items()))
    so = b.extra.get("soak")
    if so:
        p("")
        p(f"### Soak: {so['seconds']} s at N={so['n']} (+1 real muster-responder), "
          f"{so['published']} registrations fed to a collector meanwhile")
        p("")
        p("RSS in KiB. Registrations: published by the driver / stored by the collector / waiting in its "
          "queue. Replay ids: request ids held in the simulator's replay caches (all identities).")
        p("")
        p("| t s | simulator RSS | replay ids | responder RSS | responder Pss | collector RSS | broker RSS | "
          "published | stored | queued |")
        p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        ss = so["samples"]
        pick = ss if len(ss) <= 12 else [ss[round(i * (len(ss) - 1) / 11)] for i in range(12)]
        for s in pick:
            p(f"| {s['t']:.0f} | {s['simulator']} | {s.get('replay_ids')} | {s['responder']} | "
              f"{s['responder_pss']} | {s['collector']} | {s['broker']} | {s['published']} | "
              f"{s.get('stored')} | {s.get('backlog')} |")
        bm = so.get("broker_memory")
        if bm:
            p("")
            p(f"Broker memory by `rabbitmqctl status` (MB, largest parts): start {bm[0]}, end {bm[1]}")
        runs = so["client_runs"]
        for kind in ("ping", "nrpe"):
            rs = [r for r in runs if r[1] == kind]
            if rs:
                third = max(1, len(rs) // 3)
                first = statistics.median(r[2] for r in rs[:third])
                last = statistics.median(r[2] for r in rs[-third:])
                p("")
                p(f"{kind} client runs: {len(rs)}; max RSS median first third {first:.0f} KiB, "
                  f"last third {last:.0f} KiB; wall median {statistics.median(r[3] for r in rs) * 1000:.0f} ms")
    if b.notes:
        p("")
        p("Notes:")
        for n in b.notes:
            p(f"- {n}")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# two runs


def agree(x, y):
    """Whether two ratios are within AGREE of each other (of the smaller)."""
    if x is None or y is None:
        return None
    lo, hi = min(x, y), max(x, y)
    return lo > 0 and (hi - lo) / lo <= AGREE


def compare(runs):
    """Markdown: every ratio of the first two runs side by side, whether they
    agree within 20 %, and the targets judged on both runs."""
    r1, r2 = runs[0], runs[1]
    lines = []
    p = lines.append
    p("### Two consecutive runs: ratios to the floor")
    p("")
    p(f"Run 1 started {time.strftime('%H:%M UTC', time.gmtime(r1['started']))}, run 2 "
      f"{time.strftime('%H:%M UTC', time.gmtime(r2['started']))}. Agree = the two ratios are within "
      f"{AGREE * 100:.0f} % of the smaller. In brackets: min–max round by round.")
    p("")
    p("| scenario | N | CPU ÷floor, run 1 | run 2 | agree | round trip ÷floor, run 1 | run 2 | agree |")
    p("|---|---:|---:|---:|---|---:|---:|---|")
    total = agreed = 0
    keys = [k for k in r1["ratios"] if k in r2["ratios"]]
    for k in keys:
        a, b = r1["ratios"][k], r2["ratios"][k]
        scen, n = k.rsplit("@", 1)
        cells = []
        for m in ("cpu", "wall"):
            ok = agree(a.get(m), b.get(m))
            if ok is not None:
                total += 1
                agreed += ok
            cells += [fmt_spread(a.get(m), a.get(f"{m}_spread")), fmt_spread(b.get(m), b.get(f"{m}_spread")),
                      "–" if ok is None else "yes" if ok else "**no**"]
        p(f"| {scen} | {n} | " + " | ".join(cells) + " |")
    extra = [("check_mcollective ÷ find -mmin (wall)", "check_mcollective_vs_find"),
             ("check_mcollective ÷ find -mmin (CPU)", "check_mcollective_vs_find_cpu")]
    for label, key in extra:
        x, y = r1.get(key), r2.get(key)
        ok = agree(x, y)
        if ok is not None:
            total += 1
            agreed += ok
        p(f"| {label} | – | {fmt_spread(x, r1.get(key + '_spread'))} | {fmt_spread(y, r2.get(key + '_spread'))} | "
          f"{'–' if ok is None else 'yes' if ok else '**no**'} | | | |")
    p("")
    p(f"Every ratio within {AGREE * 100:.0f} %: {'yes' if agreed == total else 'no'} "
      f"({agreed} of {total} agree).")
    p("")
    p("### Targets, judged on both runs")
    p("")
    p("| target | run 1 | run 2 | verdict |")
    p("|---|---|---|---|")
    for scen in TARGETS:
        for n in sorted({int(k.rsplit('@', 1)[1]) for k in keys if k.startswith(scen + "@")}):
            if n < TARGET_MIN_N:
                continue
            k = f"{scen}@{n}"
            a, b = r1["ratios"][k], r2["ratios"][k]

            def cell(e):
                return f"CPU {fmt_ratio(e.get('cpu'))}, wall {fmt_ratio(e.get('wall'))}"

            ok = all(e.get(m) is not None and e[m] <= 2.0 for e in (a, b) for m in ("cpu", "wall"))
            p(f"| {scen} at {n} ≤ 2× floor, CPU and wall | {cell(a)} | {cell(b)} | "
              f"{'met' if ok else '**not met**'} |")
    x, y = r1.get("pss_idle_kib"), r2.get("pss_idle_kib")
    if x is not None and y is not None:
        ok = x <= PSS_TARGET_KIB and y <= PSS_TARGET_KIB
        p(f"| idle responder Pss ≤ {PSS_TARGET_KIB} KiB | {x} KiB | {y} KiB | {'met' if ok else '**not met**'} |")
    x, y = r1.get("check_mcollective_vs_find"), r2.get("check_mcollective_vs_find")
    xc, yc = r1.get("check_mcollective_vs_find_cpu"), r2.get("check_mcollective_vs_find_cpu")
    if x is not None and y is not None:
        ok = all(v is not None and v <= FIND_TARGET for v in (x, y, xc, yc))
        p(f"| check_mcollective ≤ {FIND_TARGET}× find -mmin (100,000 files), CPU and wall | "
          f"CPU {fmt_ratio(xc)}, wall {x:.2f}× | CPU {fmt_ratio(yc)}, wall {y:.2f}× | "
          f"{'met' if ok else '**not met**'} |")
    return "\n".join(lines), agreed == total
