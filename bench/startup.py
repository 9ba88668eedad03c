"""Benchmark of the CLI's start-up (issue 16): wall time of ``scrapesched --help``, ``scrapesched jobs`` and
``scrapesched status``, each a new process, against the peer ``github-to-sqlite --help``.

``status`` and ``jobs`` run against a SQLite database in a temporary directory, made by ``scrapesched
migrate`` and given a few finished runs (``scrapesched run-once canary``). Each command runs twice to warm
the page cache, then ``--runs`` times, the commands taking turns (one run of each per round, so a change
of the machine's speed hits them all); the table gives the median (p50) and the fastest wall time, in ms,
and the median CPU time (user + system) of the process, which a busy machine inflates much less than the
wall time (on an idle machine the two are close: start-up is one thread).

One more row, in the same rounds, is the floor of ``status``: a Python process that imports the
third-party modules ``status`` imports (read from ``python -X importtime`` of one ``status`` run: every
top-level import that is neither scrapesched's nor the standard library's, in the same order) and does
nothing else. ``status`` minus that row is what scrapesched's own code costs; the libraries' share moves
with the machine's speed, which from hour to hour here is +-30%.

Python's bytecode cache is on for every process, written under the cache directory
(``PYTHONPYCACHEPREFIX``, never into the source tree): an installed package has its ``.pyc`` files, so a
run that compiled scrapesched's modules from source each time (``PYTHONDONTWRITEBYTECODE``) would time the
compiler, not the start-up.

The peer is installed by this benchmark into its own virtual environment under the cache directory
(``~/.cache/scrapesched-bench/venvs/github-to-sqlite``) with pip, from the package index pip is configured
with; when it cannot be installed, the table says so and the peer is skipped.

Usage::

    .venv/bin/python -m bench.startup [--runs 15] [--no-peer] [--tree DIR]

``--tree DIR`` times another checkout of scrapesched (``python -m scrapesched`` with ``DIR`` first on the
path and as working directory, for its own ``scrapesched.egg-info`` entry points), e.g. an older commit
unpacked with ``git archive`` and ``setuptools egg_info``, to compare before and after.

Prints a Markdown table. Timings are never a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.machine import machine

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scrapesched-bench"
PEER = "github-to-sqlite"
WARMUP = 2
TARGETS_MS = {"--help": 350, "status": 600}


@dataclass(frozen=True)
class Timing:
    command: str
    p50_ms: float
    min_ms: float
    cpu_p50_ms: float
    note: str = ""


def child_env(**extra: str) -> dict[str, str]:
    """This environment without SCRAPESCHED_* settings, with a bytecode cache outside the tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPESCHED_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
    env.update(extra)
    return env


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(
    argv: Sequence[str], env: dict[str, str], runs: int, cwd: Path | None = None, warmup: int = WARMUP
) -> tuple[list[float], list[float]]:
    """Wall and CPU times in ms of ``runs`` runs of ``argv`` (after the warm-up runs); each must exit 0."""
    wall: list[float] = []
    cpu: list[float] = []
    for i in range(warmup + runs):
        cpu_before = _children_cpu_s()
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        elapsed = (time.perf_counter() - start) * 1000
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode(errors='replace')}")
        if i >= warmup:
            wall.append(elapsed)
            cpu.append((_children_cpu_s() - cpu_before) * 1000)
    return wall, cpu


def time_commands(
    argvs: Sequence[Sequence[str]], env: dict[str, str], runs: int, cwd: Path | None = None
) -> list[tuple[list[float], list[float]]]:
    """``time_command`` of several commands taking turns: each round runs every command once."""
    times: list[tuple[list[float], list[float]]] = [([], []) for _ in argvs]
    for i in range(WARMUP + runs):
        for argv, (wall, cpu) in zip(argvs, times, strict=True):
            one_wall, one_cpu = time_command(argv, env, 1, cwd, warmup=0)
            if i >= WARMUP:
                wall.extend(one_wall)
                cpu.extend(one_cpu)
    return times


def library_imports(argv: Sequence[str], env: dict[str, str], cwd: Path | None) -> list[str]:
    """The third-party modules ``argv`` (a ``python`` command line) imports from its own or the standard
    library's modules, in order: from ``-X importtime``, whose tree lists a module after the modules it
    imported, each nested two spaces deeper than its importer."""
    done = subprocess.run([*argv[:1], "-X", "importtime", *argv[1:]], env=env, cwd=cwd, capture_output=True,
                          text=True, check=True)
    tree: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        field = line.rsplit("|", 1)[-1][1:] if line.startswith("import time:") else ""
        name = field.strip()
        if name and " " not in name:  # not the header
            tree.append((len(field) - len(field.lstrip(" ")), name))

    def third_party(name: str) -> bool:
        top = name.split(".")[0]
        return not (top in sys.stdlib_module_names or top.startswith(("scrapesched", "_")) or top in ("site",))

    names: list[str] = []
    for i, (depth, name) in enumerate(tree):
        importer = next((other for d, other in tree[i + 1 :] if d < depth), None)
        if third_party(name) and (importer is None or not third_party(importer)) and name not in names:
            names.append(name)
    return names


def scrapesched_argv(tree: Path | None) -> tuple[list[str], Path | None, dict[str, str]]:
    """How to start scrapesched: the installed console script, or ``python -m scrapesched`` from ``tree``."""
    if tree is None:
        return [str(Path(sys.executable).parent / "scrapesched")], None, {}
    return [sys.executable, "-m", "scrapesched"], tree, {"PYTHONPATH": str(tree)}


FLOOR = "status's libraries alone"
# Some names in -X importtime are tries that failed (``sitecustomize``, click's ``org.python.core``).
FLOOR_SCRIPT = """
import importlib
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
"""


def peer_executable() -> tuple[Path | None, str]:
    """``github-to-sqlite`` in its own venv under the cache directory, installed now if missing; or None
    and why it could not be installed."""
    venv = CACHE / "venvs" / PEER
    exe = venv / "bin" / PEER
    if exe.exists():
        return exe, ""
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", PEER], check=True, capture_output=True, text=True,
                       timeout=600)
    except subprocess.CalledProcessError as exc:
        lines = (exc.stderr or exc.stdout or "").strip().splitlines()
        return None, f"pip install {PEER} failed: {lines[-1] if lines else f'exit {exc.returncode}'}"
    except subprocess.TimeoutExpired:
        return None, f"pip install {PEER} timed out"
    return (exe, "") if exe.exists() else (None, f"pip install {PEER} installed no {PEER} script")


def summarize(command: str, times: tuple[list[float], list[float]]) -> Timing:
    wall, cpu = times
    target = next((ms for key, ms in TARGETS_MS.items() if command == f"scrapesched {key}"), None)
    p50 = statistics.median(wall)
    note = "" if target is None else f"target <= {target} ms: {'met' if p50 <= target else 'NOT met'}"
    return Timing(command, p50, min(wall), statistics.median(cpu), note)


def run(runs: int, peer: bool, tree: Path | None) -> list[Timing]:
    argv, cwd, extra = scrapesched_argv(tree)
    results: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        env = child_env(SCRAPESCHED_DATABASE_URL=f"sqlite:///{Path(tmp) / 'startup.db'}", **extra)
        for setup in (["migrate"], ["run-once", "canary"], ["run-once", "canary"], ["run-once", "canary"]):
            done = subprocess.run([*argv, *setup], env=env, cwd=cwd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"scrapesched {' '.join(setup)}: exit {done.returncode}: {done.stderr}")
        commands = [["--help"], ["jobs"], ["status"]]
        python_argv = [sys.executable, "-m", "scrapesched"] if tree is None else argv
        modules = library_imports([*python_argv, "status"], env, cwd)
        floor = [sys.executable, "-c", FLOOR_SCRIPT.format(modules=modules)]
        times = time_commands([*([*argv, *args] for args in commands), floor], env, runs, cwd)
        for args, timed in zip(commands, times, strict=False):
            results.append(summarize(f"scrapesched {' '.join(args)}", timed))
        status, library = results[-1], summarize(FLOOR, times[-1])
        share = f"`status` minus this: {status.p50_ms - library.p50_ms:.0f} ms; imports {', '.join(modules)}"
        results.append(Timing(library.command, library.p50_ms, library.min_ms, library.cpu_p50_ms, share))
    if peer:
        exe, why = peer_executable()
        if exe is None:
            results.append(Timing(f"{PEER} --help", float("nan"), float("nan"), float("nan"), f"skipped: {why}"))
        else:
            results.append(summarize(f"{PEER} --help", time_command([str(exe), "--help"], child_env(), runs)))
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (after 2 warm-up runs)")
    parser.add_argument("--no-peer", action="store_true", help=f"do not time {PEER}")
    parser.add_argument("--tree", type=Path, default=None, help="time this checkout instead of the installed one")
    args = parser.parse_args(argv)
    load_before = machine()
    results = run(args.runs, not args.no_peer, args.tree.resolve() if args.tree else None)
    what = f"`python -m scrapesched` from {args.tree}" if args.tree else "the installed `scrapesched` script"
    print(f"Start-up, {what}: {args.runs} runs per command after {WARMUP} warm-up runs, bytecode cached")
    print(f"Python {platform.python_version()}; before: {load_before}; after: {machine()}")
    print()
    print("| command | wall p50 ms | wall min ms | CPU p50 ms | note |")
    print("|---|---:|---:|---:|---|")
    for r in results:
        name = r.command if r.command == FLOOR else f"`{r.command}`"
        print(f"| {name} | {r.p50_ms:.0f} | {r.min_ms:.0f} | {r.cpu_p50_ms:.0f} | {r.note} |")


if __name__ == "__main__":
    main()
