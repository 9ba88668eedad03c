"""``python -m bench.scheduler``: the command line of the scheduler benchmark (see the package docstring);
runs the parts asked for and prints their tables."""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

import bench.scheduler
from bench.machine import load_average, machine
from bench.scheduler.common import COMBOS, BenchEnv, parse_list, progress
from bench.scheduler.failover import FAILOVER_COMBOS, failover_trial, report_failover
from bench.scheduler.overhead import OVERHEAD_COMBOS, measure_overhead, report_overhead
from bench.scheduler.profiling import profile_overhead, report_profile
from bench.scheduler.throughput import THROUGHPUT_COMBOS, report_throughput, throughput_trial
from scrapesched.config.log_setup import configure_logging
from scrapesched.config.redact import Redactor
from scrapesched.testing.scratch import ServerUrls

PARTS = {"overhead", "failover", "throughput"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scheduler",
        description=bench.scheduler.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--part", default="overhead,failover,throughput")
    parser.add_argument("--quick", action="store_true", help="fewer fires, trials and combinations (a smoke run)")
    parser.add_argument("--fires", type=int, default=None, help="fires per variant (default 300; quick 60)")
    parser.add_argument("--overhead-combos", default=None)
    parser.add_argument(
        "--profile", default="mariadb+redis", help="combinations whose no-op fires are profiled ('' for none)"
    )
    parser.add_argument("--ttls", default="2,5,10")
    parser.add_argument("--failover-reps", type=int, default=None, help="trials per ttl (default 3; quick 1)")
    parser.add_argument("--failover-combos", default=None)
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--throughput-reps", type=int, default=None, help="trials per fleet size (default 2; quick 1)")
    parser.add_argument("--throughput-combos", default=None)
    parser.add_argument("--seed", type=int, default=5)
    return parser.parse_args()


def overhead_part(args: argparse.Namespace, env: BenchEnv) -> None:
    print(f"Load average before the overhead part: {load_average()}\n")
    combos = parse_list(args.overhead_combos, list(COMBOS)) if args.overhead_combos else OVERHEAD_COMBOS
    fires = args.fires or (60 if args.quick else 300)
    results = []
    for combo in combos:
        progress(f"overhead {combo}: {fires} fires x 4 variants")
        results.append(measure_overhead(combo, fires, warmup=20, env=env))
    report_overhead(results)
    for combo in parse_list(args.profile, list(COMBOS)) if args.profile else []:
        progress(f"profile {combo}: {fires} no-op fires")
        report_profile(combo, fires, profile_overhead(combo, fires, env))


def failover_part(args: argparse.Namespace, env: BenchEnv, rng: random.Random) -> None:
    print(f"Load average before the failover part: {load_average()}\n")
    default = FAILOVER_COMBOS[:2] if args.quick else FAILOVER_COMBOS
    combos = parse_list(args.failover_combos, list(COMBOS)) if args.failover_combos else default
    reps = args.failover_reps or (1 if args.quick else 3)
    trials = []
    for combo in combos:
        for ttl in [float(t) for t in args.ttls.split(",")]:
            for rep in range(reps):
                progress(f"failover {combo} ttl {ttl:g} s, trial {rep + 1}/{reps}")
                trial = failover_trial(combo, ttl, env, rng)
                progress(f"  -> recovery leased {trial.recovery_leased} s after the kill {trial.note}")
                trials.append(trial)
    report_failover(trials)


def throughput_part(args: argparse.Namespace, env: BenchEnv) -> None:
    print(f"Load average before the throughput part: {load_average()}\n")
    combos = parse_list(args.throughput_combos, list(COMBOS)) if args.throughput_combos else THROUGHPUT_COMBOS
    reps = args.throughput_reps or (1 if args.quick else 2)
    fleet_sizes = [int(n) for n in args.replicas.split(",")]
    trials = []
    for combo in combos:
        for rep in range(reps):
            for n in fleet_sizes:
                progress(f"throughput {combo} {n} replica(s), trial {rep + 1}/{reps}")
                trial = throughput_trial(combo, n, env)
                progress(f"  -> all shards finished {trial.makespan} s after the fire {trial.note}")
                trials.append(trial)
    report_throughput(trials)


def main() -> None:
    args = parse_args()
    parts = {p.strip() for p in args.part.split(",") if p.strip()}
    if parts - PARTS:
        raise SystemExit(f"unknown part(s): {', '.join(sorted(parts - PARTS))}")
    servers = ServerUrls.from_env()
    for key in [k for k in os.environ if k.startswith("SCRAPESCHED_")]:
        del os.environ[key]  # the benchmark's settings are its own
    configure_logging("warning", "json", Redactor())
    env = BenchEnv(Path(tempfile.mkdtemp(prefix="bench_scheduler_")), servers)
    print(f"Machine: {machine()} (at start)\n")
    if "overhead" in parts:
        overhead_part(args, env)
    if "failover" in parts:
        failover_part(args, env, random.Random(args.seed))
    if "throughput" in parts:
        throughput_part(args, env)
    print(f"Machine: {machine()} (at the end)")
    progress(f"replica logs and SQLite files are in {env.workdir}")


if __name__ == "__main__":
    main()
