"""Shared helpers for the jaxnet benchmarks: timing, tables, machine info,
worker subprocesses and C compilation.

Nothing here imports jax, so the orchestrating process (``benchmarks.run``)
stays light; each benchmark does its jax work in worker subprocesses, which
keeps float32 and float64 (``jax_enable_x64``) runs apart.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"
C_DIR = BENCH_DIR / "c"
BUILD_DIR = C_DIR / "build"  # git-ignored
RESULT_MARKER = "@@BENCH-RESULT@@ "
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Stats:
    """Repeated wall-clock measurements of one quantity, in seconds."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def scaled(self, factor: float) -> Stats:
        """The same measurements multiplied by ``factor`` (e.g. 1/steps)."""
        return Stats([s * factor for s in self.samples])

    def to_json(self) -> list[float]:
        return list(self.samples)

    @classmethod
    def from_json(cls, data: Sequence[float]) -> Stats:
        return cls(list(data))


def time_calls(fn: Callable[[], Any], *, repeat: int, warmup: int = 1) -> Stats:
    """Time ``repeat`` calls of ``fn`` after ``warmup`` untimed calls.

    ``fn`` must itself wait for its result (``jax.block_until_ready``).
    """
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return Stats(samples)


def time_once(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call of ``fn`` and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def noise(stats: Stats) -> float:
    """Timing noise of a measurement: median - min (robust to slow outliers)."""
    return stats.median - stats.min


def marginal_cost(short: Stats, n_short: int, long: Stats, n_long: int) -> float | None:
    """Cost per unit from two measurements at counts ``n_short < n_long``.

    ``(median(long) - median(short)) / (n_long - n_short)``, or None when the
    difference is <= 0 or smaller than the noise of the two measurements
    (median - min of each, added): then the count is too small to see the
    per-unit cost under the fixed cost, and the caller says so instead of
    printing a meaningless (e.g. negative) number.

    >>> marginal_cost(Stats([1.0, 1.0]), 10, Stats([2.0, 2.0]), 110)
    0.01
    >>> marginal_cost(Stats([1.0, 1.2]), 10, Stats([0.9, 1.0]), 110) is None
    True
    """
    diff = long.median - short.median
    if n_long <= n_short or diff <= 0 or diff < noise(long) + noise(short):
        return None
    return diff / (n_long - n_short)


NOT_MEASURABLE = "not measurable at this count"


def adaptive_repeat(one_call: float, budget: float, most: int, least: int = 1) -> int:
    """How many timed repeats fit in ``budget`` seconds when one call takes ``one_call`` s.

    >>> adaptive_repeat(0.1, 1.0, 5), adaptive_repeat(10.0, 1.0, 5)
    (5, 1)
    """
    if one_call <= 0:
        return most
    return max(least, min(most, int(budget / one_call)))


def guard(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one measurement; turn an exception into an ``error`` entry (reported in the table, not hidden)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        tb = traceback.format_exc(limit=4)
        return {"error": f"{type(exc).__name__}: {exc}".strip()[:400], "traceback": tb[-1500:]}


def fmt_time(seconds: float | None) -> str:
    """Human-readable duration with a unit chosen for 3 significant digits."""
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    raise AssertionError("unreachable")


def fmt_spread(stats: Stats | None, factor: float = 1.0) -> str:
    """``min–max`` of a measurement, scaled by ``factor``."""
    if stats is None:
        return "—"
    return f"{fmt_time(stats.min * factor)} – {fmt_time(stats.max * factor)}"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}×"


# --------------------------------------------------------------------------
# Tables and sections
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Table:
    """A markdown table with a title and optional notes under it."""

    title: str
    headers: list[str]
    rows: list[list[str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def add(self, *cells: Any) -> None:
        """Append a row; newlines in a cell (e.g. an error message) become spaces."""
        self.rows.append([" ".join(str(c).split("\n")) for c in cells])

    def to_markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines) + "\n"


@dataclasses.dataclass
class Ratio:
    """One line of the summary table: a ratio measured in this run vs a target.

    ``reached`` is None when there is no target (informational line).
    """

    name: str
    value: float | None
    target: str = ""
    reached: bool | None = None
    note: str = ""

    def cells(self) -> list[str]:
        mark = {True: "yes", False: "**NO**", None: "—"}[self.reached]
        if self.value is None:
            mark = "skipped" if self.target else "—"
        return [self.name, fmt_ratio(self.value), self.target or "—", mark, self.note]


def at_most(name: str, value: float | None, limit: float, note: str = "") -> Ratio:
    """Ratio line with target ``value <= limit`` (e.g. time / reference time)."""
    reached = None if value is None else value <= limit
    return Ratio(name, value, f"≤ {limit:g}×", reached, note)


def at_least(name: str, value: float | None, limit: float, note: str = "") -> Ratio:
    """Ratio line with target ``value >= limit`` (e.g. speed-up)."""
    reached = None if value is None else value >= limit
    return Ratio(name, value, f"≥ {limit:g}×", reached, note)


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None if either is missing."""
    if a is None or b is None or b == 0:
        return None
    return a / b


@dataclasses.dataclass
class Section:
    """The outcome of one benchmark: tables, summary ratios, notes."""

    name: str
    title: str
    tables: list[Table] = dataclasses.field(default_factory=list)
    ratios: list[Ratio] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)  # failed agreement checks
    seconds: float = 0.0

    def to_markdown(self) -> str:
        parts = [f"## {self.title}", ""]
        parts.extend(t.to_markdown() for t in self.tables)
        lines = [f"**CHECK FAILED:** {f}" for f in self.failures] + self.notes
        if lines:
            parts.append("\n".join(f"- {n}" for n in lines) + "\n")
        return "\n".join(parts)


def ratio_table(sections: Iterable[Section], *, comparable: bool = True) -> Table:
    """The one summary table: every ratio of every section, with targets.

    ``comparable=False`` (a ``--quick`` run: small counts, no waiting for
    idle CPUs) drops the target and reached columns, so that no rough number
    reads as a target met or missed.
    """
    if not comparable:
        table = Table(
            "Ratios measured in this run — NOT comparable with the targets (quick run: small counts, "
            "no waiting for idle CPUs)",
            ["ratio", "measured", "note"],
        )
        for section in sections:
            for r in section.ratios:
                cells = r.cells()
                table.add(cells[0], cells[1], cells[4])
        return table
    table = Table(
        "Ratios measured in this run, against the project's performance targets",
        ["ratio", "measured", "target", "reached", "note"],
    )
    for section in sections:
        for r in section.ratios:
            table.add(*r.cells())
    return table


# --------------------------------------------------------------------------
# Machine information
# --------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform as a fallback)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cc_version(cc: str = "cc") -> str:
    path = shutil.which(cc)
    if path is None:
        return "not found"
    out = subprocess.run([path, "--version"], capture_output=True, text=True)
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


def machine_info() -> dict[str, str]:
    """CPU, cores and library versions, for the header of the results."""
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    return {
        "CPU": cpu_model(),
        "cores": f"{cores} logical ({usable} usable by this process)",
        "OS": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "jax / jaxlib": f"{_version('jax')} / {_version('jaxlib')}",
        "optax": _version("optax"),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "jaxnet": _version("jaxnet"),
        "C compiler": cc_version(),
        "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE": " / ".join(os.environ.get(v, "unset") for v in OPENBLAS_VARS),
        "load average at start (1/5/15 min)": load_average(),
    }


def load_average() -> str:
    """The 1/5/15-minute load averages: other work on the machine skews timings."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def cpu_busy_fraction(seconds: float = 0.5) -> float | None:
    """Fraction of all CPUs busy during ``seconds`` (from /proc/stat).

    Called while this suite runs nothing, it measures other work on the
    machine, which would skew the timings that follow.
    """

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return None if total <= 0 else 1.0 - (idle1 - idle0) / total


def _proc_stat_busy_seconds() -> float | None:
    """Busy CPU-seconds of the whole machine since boot (all CPUs, /proc/stat)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """Measures how much CPU *other* processes used while a block ran.

    Machine busy time (/proc/stat) minus the CPU time of this process and
    its waited-for children (``os.times``), over wall time × cores.  Any
    worker subprocess must have been waited for before ``stop``.
    """

    def __init__(self) -> None:
        self.fraction: float | None = None

    def __enter__(self) -> OtherLoad:
        self._busy0 = _proc_stat_busy_seconds()
        self._own0 = self._own()
        self._t0 = time.perf_counter()
        return self

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __exit__(self, *exc: Any) -> None:
        busy1 = _proc_stat_busy_seconds()
        wall = time.perf_counter() - self._t0
        if busy1 is None or self._busy0 is None or wall <= 0:
            return
        other = (busy1 - self._busy0) - (self._own() - self._own0)
        self.fraction = max(0.0, other / (wall * (os.cpu_count() or 1)))


def wait_until_quiet(max_wait: float, threshold: float = 0.15, say: Callable[[str], Any] = print) -> float | None:
    """Wait up to ``max_wait`` s for other work to use < ``threshold`` of the CPUs.

    Says (through ``say``) what it waits for and how the wait ended, so a
    slow run is never a silent one. Returns the last busy fraction seen
    (None if /proc/stat is unreadable). ``max_wait <= 0`` only samples once.
    """
    busy = cpu_busy_fraction()
    if busy is None or busy < threshold or max_wait <= 0:
        return busy
    say(
        f"    waiting up to {max_wait:.0f} s for idle CPUs (others use {100 * busy:.0f}%, "
        f"want < {100 * threshold:.0f}%) ..."
    )
    t0 = time.monotonic()
    deadline = t0 + max_wait
    while busy is not None and busy >= threshold and time.monotonic() < deadline:
        busy = cpu_busy_fraction(1.0)
    waited = time.monotonic() - t0
    if busy is not None and busy >= threshold:
        say(f"    gave up waiting after {waited:.0f} s: others still use {100 * busy:.0f}% of the CPUs")
    else:
        say(f"    CPUs idle after {waited:.0f} s")
    return busy


def machine_table(info: dict[str, str]) -> Table:
    table = Table("Machine", ["item", "value"])
    for key, value in info.items():
        table.add(key, value)
    return table


# --------------------------------------------------------------------------
# Worker subprocesses
# --------------------------------------------------------------------------


def child_env(*, drop_openblas: bool = False, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process that can ``import benchmarks``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    if drop_openblas:
        for var in OPENBLAS_VARS:
            env.pop(var, None)
    if extra:
        env.update(extra)
    return env


def emit_result(result: Any) -> None:
    """Print a worker's JSON result on its own marked line of stdout."""
    sys.stdout.flush()
    print(RESULT_MARKER + json.dumps(result), flush=True)


class WorkerError(RuntimeError):
    """A worker subprocess failed or printed no result."""


def run_worker(
    module: str,
    args: dict[str, Any],
    *,
    timeout: float,
    drop_openblas: bool = False,
    env_extra: dict[str, str] | None = None,
) -> Any:
    """Run ``python -m benchmarks.<module> --worker JSON`` and return its result.

    The worker's stderr is forwarded when it fails, so tracebacks are visible.
    """
    cmd = [sys.executable, "-m", f"benchmarks.{module}", "--worker", json.dumps(args)]
    try:
        proc = subprocess.run(
            cmd,
            cwd=REPO,
            env=child_env(drop_openblas=drop_openblas, extra=env_extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise WorkerError(f"{module} {args} timed out after {timeout:.0f} s") from exc
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    tail = " | ".join(line.strip() for line in (proc.stderr or "").strip().splitlines()[-3:])
    raise WorkerError(f"worker benchmarks.{module} exited {proc.returncode} without a result: {tail[-600:]}")


def worker_args(argv: Sequence[str]) -> dict[str, Any] | None:
    """The JSON arguments if this process was started as a worker, else None."""
    if len(argv) >= 2 and argv[0] == "--worker":
        return json.loads(argv[1])
    return None


def run_json_command(cmd: Sequence[str], *, timeout: float) -> Any:
    """Run a command that prints one JSON object on its last stdout line."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise WorkerError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# C programs
# --------------------------------------------------------------------------


def compile_c(source: str, output: str, flags: Sequence[str], compiler: str = "cc") -> tuple[Path | None, str]:
    """Compile ``benchmarks/c/<source>`` into the build directory.

    Returns (path to the binary, command line), or (None, reason) if there is
    no compiler or compilation failed; callers then skip their C rows.
    """
    cc = shutil.which(compiler)
    if cc is None:
        return None, f"no `{compiler}` on PATH"
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    out = BUILD_DIR / output
    cmd = [cc, *flags, str(C_DIR / source), "-o", str(out), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    shown = " ".join([compiler, *flags, source, "-lm"])
    if proc.returncode != 0:
        return None, f"`{shown}` failed: {proc.stderr.strip()[:500]}"
    return out, shown


# --------------------------------------------------------------------------
# The worked example, in float64 numpy (reference loss for any parameters)
# --------------------------------------------------------------------------

SEED_X = (0.5, 0.8)
SEED_Y = 1.0
SEED_LOSS_AFTER_ONE_STEP = 0.6169411948853357
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def seed_params_numpy(dtype: Any = None) -> dict[str, Any]:
    """The worked-example initial parameters as numpy arrays."""
    import numpy as np

    dtype = dtype or np.float64
    return {
        "W1": np.array([[0.2, -0.3], [0.4, 0.1], [-0.5, 0.2]], dtype),
        "b1": np.array([0.1, -0.2, 0.1], dtype),
        "W2": np.array([[0.3, -0.4, 0.5]], dtype),
        "b2": np.array([0.1], dtype),
    }


def seed_loss64(params: dict[str, Any]) -> float:
    """Loss of the worked-example sample at ``params``, evaluated in float64.

    Used to compare implementations on a common footing: every
    implementation reports its final parameters and this gives the loss.
    """
    import numpy as np

    shapes = {k: v.shape for k, v in seed_params_numpy().items()}
    p = {k: np.asarray(params[k], np.float64).reshape(shapes[k]) for k in PARAM_NAMES}
    x = np.array(SEED_X)
    z1 = p["W1"] @ x + p["b1"]
    z2 = float((p["W2"] @ np.maximum(z1, 0.0) + p["b2"])[0])
    return float(np.logaddexp(0.0, z2) - SEED_Y * z2)


def params_to_json(params: dict[str, Any]) -> dict[str, list]:
    """Parameters (numpy / jax / torch arrays) as nested float64 lists."""
    import numpy as np

    return {k: np.asarray(params[k], dtype=np.float64).tolist() for k in PARAM_NAMES}


def max_param_diff(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Largest absolute difference between two parameter sets."""
    import numpy as np

    return max(float(np.max(np.abs(np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64)))) for k in PARAM_NAMES)


def module_main(worker: Callable[[Any], Any], run: Callable[..., Any]) -> None:
    """``python -m benchmarks.X``: a worker subprocess when called with worker arguments, else the section alone."""
    args = worker_args(sys.argv[1:])
    if args is not None:
        emit_result(worker(args))
    else:
        print(run(quick="--quick" in sys.argv).to_markdown())
