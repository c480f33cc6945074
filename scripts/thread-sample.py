#!/usr/bin/env python3
"""Samples every thread of a running process: CPU time, run-queue wait and context switches, as JSON lines.

Usage: scripts/thread-sample.py PID OUT.jsonl [PERIOD_S]   (default period 0.25 s; stops when PID exits)

Each line is {"t": unix seconds, "s": {tid: [name, cpu_s, voluntary_switches, involuntary_switches, last_cpu,
wait_s]}}, from /proc/PID/task/*/{stat,status,schedstat} (cpu_s and wait_s are schedstat's nanosecond run and
run-queue-wait times). Differences between two lines give each thread's cores used, time waiting for a CPU and
wake-ups per second over that window. This is how the closed loop's slow mode was traced to tokio's workers
handing work between the two cores (README, "Does the workbench measure the producer or itself?"). Run it at a
priority no lower than the process it samples (`nice -n -15` beside `nice -n -15 kprod run ...`), or it starts late.
"""
import json
import os
import sys
import time

pid = int(sys.argv[1])
out = open(sys.argv[2], "w")
period = float(sys.argv[3]) if len(sys.argv) > 3 else 0.25
while True:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        break
    snap = {}
    for t in tasks:
        try:
            stat = open(f"/proc/{pid}/task/{t}/stat").read()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            last_cpu = int(stat[stat.rindex(")") + 2 :].split()[36])
            vol = invol = 0
            for line in open(f"/proc/{pid}/task/{t}/status"):
                if line.startswith("voluntary_ctxt_switches"):
                    vol = int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    invol = int(line.split()[1])
            run_ns, wait_ns = open(f"/proc/{pid}/task/{t}/schedstat").read().split()[:2]
            snap[t] = [name, int(run_ns) / 1e9, vol, invol, last_cpu, int(wait_ns) / 1e9]
        except (OSError, ValueError, IndexError):
            pass  # the thread exited between listing and reading
    out.write(json.dumps({"t": time.time(), "s": snap}) + "\n")
    out.flush()
    time.sleep(period)
