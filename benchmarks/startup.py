"""Benchmark 4: start-up — wall time of whole Python processes, and the first ``fit``.

Times ``python examples/seed_walkthrough.py`` (the worked-example
walkthrough, with a warm and with an empty persistent compilation cache) and
``python -c "import jaxnet"``, each in fresh subprocesses, with
``python -c "pass"`` and ``python -c "import jax"`` as baselines. Then the
first ``fit`` call of a process on the breast-cancer data (30-16-16-1, 300
steps, compile included), without the persistent cache and from a second
process that finds it filled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from benchmarks._harness import REPO, Ratio, Section, Stats, Table, child_env, fmt_spread, fmt_time

NAME = "startup"
TITLE = "4. Start-up: whole-process wall time"
WALKTHROUGH = REPO / "examples" / "seed_walkthrough.py"
WALKTHROUGH_TARGET_S = 2.0
FIRST_FIT_TARGET_S, CACHED_FIT_TARGET_S = 1.0, 0.3
FIRST_FIT = """
import sys, time, jax
from jaxnet.cache import enable_compilation_cache
if sys.argv[1] != "-":
    enable_compilation_cache(sys.argv[1])
import jaxnet
x, y, _ = jaxnet.data.load_breast_cancer()
x = (x - x.mean(0)) / x.std(0)
params = jax.block_until_ready(jaxnet.init_mlp(jax.random.key(0), (30, 16, 16, 1)))
t = time.perf_counter()
jax.block_until_ready(jaxnet.fit(params, x, y, steps=300, progress=False)[0])
print(time.perf_counter() - t)
"""


def first_fit_seconds(cache: str) -> float:
    """The first fit call's time, printed by a fresh process (``cache``: a folder, or "-" for none)."""
    env = child_env(extra={"JAXNET_CACHE": "0"} if cache == "-" else None)  # "-": fit must not turn it on
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_FIT, cache], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def first_fit_stats(repeat: int) -> tuple[Stats, Stats]:
    """(no persistent cache, second process with the cache filled by a first one)."""
    cold, warm = [], []
    for _ in range(repeat):
        cold.append(first_fit_seconds("-"))
        with tempfile.TemporaryDirectory(prefix="jaxnet-cache-") as folder:
            first_fit_seconds(folder)  # fills the cache
            warm.append(first_fit_seconds(folder))
    return Stats(cold), Stats(warm)


def time_process(
    cmd: list[str], repeat: int, timeout: float = 120, env: dict[str, str] | None = None, warm: bool = True
) -> Stats:
    """Wall time of ``repeat`` runs of ``cmd`` (after one untimed warm run unless ``warm=False``).

    The warm run fills the OS file cache, so this is the warm start-up a
    user sees from the second run on; ``warm=False`` for runs that must find
    an empty compilation cache (a warm run would fill it).  Raises if the
    command fails.
    """
    samples = []
    skip = 1 if warm else 0
    for i in range(repeat + skip):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env or child_env(), capture_output=True, text=True, timeout=timeout)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
            raise RuntimeError(f"exited {proc.returncode}: {last[:300]}")
        if i >= skip:
            samples.append(elapsed)
    return Stats(samples)


def run(quick: bool = False) -> Section:
    """Run benchmark 4 and build its section."""
    repeat = 1 if quick else 5
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
    with tempfile.TemporaryDirectory(prefix="jaxnet-cache-") as folder:  # a new empty cache for every run
        cold_env = child_env()
        try:
            runs = [dict(cold_env, JAXNET_CACHE_DIR=os.path.join(folder, str(i))) for i in range(repeat)]
            # each run gets its own empty folder, and no warm-up run that would fill it first
            stats = Stats([time_process([py, str(WALKTHROUGH)], 1, env=env, warm=False).median for env in runs])
            table.add(
                "python examples/seed_walkthrough.py (empty compilation cache)",
                fmt_time(stats.median),
                fmt_spread(stats),
            )
            med["walkthrough, empty cache"] = stats.median
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            table.add("python examples/seed_walkthrough.py (empty compilation cache)", f"ERROR: {str(exc)[:300]}", "")
    section.tables.append(table)
    section.notes.append(
        "The walkthrough uses the persistent compilation cache (jaxnet.cache): the plain row is a "
        "second run that finds it filled; the 'empty' row gives each run a new empty cache folder."
    )
    fits = Table(
        f"first fit call of a process, breast cancer 30-16-16-1, 300 steps, compile included ({repeat} processes each)",
        ["case", "first fit (median)", "min – max"],
    )
    try:
        cold, warm = first_fit_stats(repeat)
        fits.add("no persistent cache", fmt_time(cold.median), fmt_spread(cold))
        fits.add("second process, persistent cache filled", fmt_time(warm.median), fmt_spread(warm))
        section.tables.append(fits)
        section.ratios.append(
            Ratio(
                f"first fit, breast cancer / {FIRST_FIT_TARGET_S:g} s",
                cold.median / FIRST_FIT_TARGET_S,
                "< 1× (< 1 s)",
                cold.median < FIRST_FIT_TARGET_S,
                note=f"{cold.median:.2f} s",
            )
        )
        section.ratios.append(
            Ratio(
                f"first fit with the cache filled / {CACHED_FIT_TARGET_S:g} s",
                warm.median / CACHED_FIT_TARGET_S,
                "< 1× (< 0.3 s)",
                warm.median < CACHED_FIT_TARGET_S,
                note=f"{warm.median:.2f} s",
            )
        )
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        section.notes.append(f"first fit failed: {exc}")
    walk = med.get("python examples/seed_walkthrough.py")
    section.ratios.append(
        Ratio(
            f"walkthrough process wall time / {WALKTHROUGH_TARGET_S:g} s",
            None if walk is None else walk / WALKTHROUGH_TARGET_S,
            "< 1× (< 2 s)",
            None if walk is None else walk < WALKTHROUGH_TARGET_S,
            note="" if walk is None else f"{walk:.2f} s",
        )
    )
    cold_walk = med.get("walkthrough, empty cache")
    section.ratios.append(
        Ratio(
            f"walkthrough, empty compilation cache / {WALKTHROUGH_TARGET_S:g} s",
            None if cold_walk is None else cold_walk / WALKTHROUGH_TARGET_S,
            "< 1× (< 2 s)",
            None if cold_walk is None else cold_walk < WALKTHROUGH_TARGET_S,
            note="" if cold_walk is None else f"{cold_walk:.2f} s",
        )
    )
    section.ratios.append(
        Ratio(
            "import jaxnet / import jax (process wall)",
            None
            if 'python -c "import jaxnet"' not in med
            else med['python -c "import jaxnet"'] / med['python -c "import jax"'],
        )
    )
    return section


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv).to_markdown())
