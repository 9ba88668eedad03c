"""What machine a benchmark ran on: CPU model, core count, memory and load average (Linux ``/proc``), for
the line every benchmark prints next to its numbers."""

from __future__ import annotations

import os
from pathlib import Path


def _proc_field(path: str, name: str) -> str | None:
    """The value of the first ``name: value`` line of a ``/proc`` file, or None."""
    with Path(path).open() as fh:
        for line in fh:
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    return None


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def machine() -> str:
    """``nproc N, CPU '...', RAM X GiB, load average a b c``."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or "?"
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    mem = f"{int(mem_kb.split()[0]) / 1024 / 1024:.1f} GiB" if mem_kb else "?"
    return f"nproc {os.cpu_count()}, CPU {cpu!r}, RAM {mem}, load average {load_average()}"
