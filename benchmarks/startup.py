"""Benchmark 4: start-up — wall time of whole Python processes.

Times ``python examples/seed_walkthrough.py`` (the worked-example
walkthrough) and ``python -c "import jaxnet"``, each in fresh subprocesses,
with ``python -c "pass"`` and ``python -c "import jax"`` as baselines.
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks._harness import REPO, Ratio, Section, Stats, Table, child_env, fmt_spread, fmt_time

NAME = "startup"
TITLE = "4. Start-up: whole-process wall time"
WALKTHROUGH = REPO / "examples" / "seed_walkthrough.py"
WALKTHROUGH_TARGET_S = 2.0


def time_process(cmd: list[str], repeat: int, timeout: float = 120) -> Stats:
    """Wall time of ``repeat`` runs of ``cmd`` (after one untimed warm run).

    The warm run fills the OS file cache, so this is the warm start-up a
    user sees from the second run on.  Raises if the command fails.
    """
    samples = []
    for i in range(repeat + 1):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=timeout)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
            raise RuntimeError(f"exited {proc.returncode}: {last[:300]}")
        if i:
            samples.append(elapsed)
    return Stats(samples)


def run(quick: bool = False) -> Section:
    """Run benchmark 4 and build its section."""
    repeat = 5
    py = sys.executable
    commands = {
        'python -c "pass"': [py, "-c", "pass"],
        'python -c "import jax"': [py, "-c", "import jax"],
        'python -c "import jaxnet"': [py, "-c", "import jaxnet"],
        "python examples/seed_walkthrough.py": [py, str(WALKTHROUGH)],
    }
    section = Section(NAME, TITLE)
    table = Table(f"median of {repeat} runs after one warm-up run", ["command", "wall (median)", "min – max"])
    med: dict[str, float] = {}
    for label, cmd in commands.items():
        if cmd[-1] == str(WALKTHROUGH) and not WALKTHROUGH.exists():
            table.add(label, "skipped: examples/seed_walkthrough.py does not exist yet", "")
            continue
        try:
            stats = time_process(cmd, repeat)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            table.add(label, f"ERROR: {str(exc)[:300]}", "")
            section.notes.append(f"{label} failed: {exc}")
            continue
        med[label] = stats.median
        table.add(label, fmt_time(stats.median), fmt_spread(stats))
    section.tables.append(table)
    walk = med.get("python examples/seed_walkthrough.py")
    section.ratios.append(Ratio(f"walkthrough process wall time / {WALKTHROUGH_TARGET_S:g} s",
                                None if walk is None else walk / WALKTHROUGH_TARGET_S,
                                "< 1× (< 2 s)", None if walk is None else walk < WALKTHROUGH_TARGET_S,
                                note="" if walk is None else f"{walk:.2f} s"))
    section.ratios.append(Ratio('import jaxnet / import jax (process wall)',
                                None if 'python -c "import jaxnet"' not in med else
                                med['python -c "import jaxnet"'] / med['python -c "import jax"']))
    return section


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv).to_markdown())
