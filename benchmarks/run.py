"""Run the jaxnet benchmarks: ``python -m benchmarks.run [--quick] [--only NAME]``.

Prints the machine, every benchmark's tables and one summary table of
ratios (all measured in this run) against the project's targets, and writes
the same markdown to ``benchmarks/RESULTS.md`` after a full run. The GPU
section (``gpu``) runs only where ``jax.default_backend() == "gpu"`` (or, at
tiny sizes on the CPU, with ``--pretend-gpu``) and writes
``benchmarks/RESULTS-gpu.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import big_mlp, first_model, gpu, seed_steps, startup, sweep, sweep_vs_fit  # noqa: E402
from benchmarks._harness import (  # noqa: E402
    BENCH_DIR,
    OtherLoad,
    Section,
    Table,
    load_average,
    machine_info,
    machine_table,
    ratio_table,
    wait_until_quiet,
)

OTHER_LOAD_LIMIT = 0.10  # share of the CPUs other processes may use before a section counts as disturbed

BENCHMARKS: dict[str, Callable[..., Section]] = {
    seed_steps.NAME: seed_steps.run,
    sweep.NAME: sweep.run,
    sweep_vs_fit.NAME: sweep_vs_fit.run,
    big_mlp.NAME: big_mlp.run,
    startup.NAME: startup.run,
    first_model.NAME: first_model.run,
    gpu.NAME: gpu.run,  # skipped with a message unless jax's default backend is a GPU (or --pretend-gpu)
}
DEFAULT_WAIT_S, DEFAULT_RETRIES = 60.0, 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller counts and fewer repeats, no waiting for idle CPUs and no retries "
        "(a smoke run of about 2 minutes; numbers are rough and not comparable with "
        "the targets)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=BENCH_DIR / "RESULTS.md",
        help="where to write the markdown results (default: benchmarks/RESULTS.md)",
    )
    parser.add_argument(
        "--write", action="store_true", help="write the results file even after a --quick or --only run"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=None,
        metavar="SECONDS",
        help="before each section wait up to this long for other processes to leave "
        f"the CPUs idle (default {DEFAULT_WAIT_S:.0f}, with --quick 0; 0 = don't wait)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=None,
        metavar="N",
        help="rerun a section up to N times when other processes used more than "
        f"{100 * OTHER_LOAD_LIMIT:.0f}%% of the CPUs during it; the least disturbed run "
        f"is kept (default {DEFAULT_RETRIES}, with --quick 0)",
    )
    parser.add_argument("--no-write", action="store_true", help="never write the results file")
    parser.add_argument(
        "--pretend-gpu",
        action="store_true",
        help="run the gpu section even without a GPU, at tiny sizes on the default "
        "device (a test of the section's code, not a measurement)",
    )
    parser.add_argument(
        "--gpu-output",
        type=Path,
        default=None,
        metavar="PATH",
        help="where the gpu section writes its report (default: benchmarks/RESULTS-gpu.md "
        "after a run on a GPU; with --pretend-gpu only when given)",
    )
    args = parser.parse_args(argv)
    if args.wait_quiet is None:
        args.wait_quiet = 0.0 if args.quick else DEFAULT_WAIT_S
    if args.retries is None:
        args.retries = 0 if args.quick else DEFAULT_RETRIES
    return args


def render(sections: list[Section], machine: Table, *, quick: bool, seconds: float) -> str:
    """The whole report as markdown (what is printed and written)."""
    mode = "quick smoke run (`--quick`), numbers are rough" if quick else "full run"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    head = (
        "# jaxnet benchmark results\n\n"
        f"Produced by `python -m benchmarks.run` ({mode}) on {stamp}, "
        f"{seconds:.0f} s in all. Every ratio below was measured in this same run.\n"
    )
    parts = [head, machine.to_markdown(), ratio_table(sections, comparable=not quick).to_markdown()]
    parts.extend(s.to_markdown() for s in sections)
    return "\n".join(parts)


def _pct(value: float | None) -> str:
    return "unknown" if value is None else f"{100 * value:.0f}%"


def _call(name: str, args: argparse.Namespace) -> Section:
    """Run one section's function with the options it takes."""
    if name == gpu.NAME:
        return gpu.run(args.quick, pretend=args.pretend_gpu)
    return BENCHMARKS[name](args.quick)


def _measure(name: str, args: argparse.Namespace) -> tuple[Section, float | None]:
    """Run one section after waiting for a quiet machine; note the load seen."""
    print(f"--- running {name} ...", flush=True)
    before = wait_until_quiet(args.wait_quiet, say=lambda line: print(line, flush=True))
    t0 = time.perf_counter()
    with OtherLoad() as load:
        section = _call(name, args)
    section.seconds = time.perf_counter() - t0
    during = load.fraction
    warn = " — timings are skewed, rerun on an idle machine" if (during or 0) > OTHER_LOAD_LIMIT else ""
    section.notes.append(
        f"Other processes used {_pct(before)} of the CPUs just before and {_pct(during)} during this "
        f"section{warn}; it took {section.seconds:.0f} s."
    )
    return section, during


def run_section(name: str, args: argparse.Namespace) -> Section:
    """Run a section; rerun it (up to --retries times) if other work disturbed it."""
    section, during = _measure(name, args)
    for _ in range(args.retries):
        if during is None or during <= OTHER_LOAD_LIMIT:
            break
        print(f"--- {name}: other processes used {100 * during:.0f}% of the CPUs; running it again", flush=True)
        again, again_during = _measure(name, args)
        if again_during is not None and again_during < during:
            section, during = again, again_during
    return section


def write_gpu_report(section: Section, machine: Table, args: argparse.Namespace, seconds: float) -> None:
    """Write the gpu section alone (with the machine and its ratios) to RESULTS-gpu.md or --gpu-output."""
    if args.no_write or not gpu.ran(section):
        return
    path = args.gpu_output
    if path is None:
        if args.pretend_gpu or args.quick:
            print("(gpu section: pretend or quick run, RESULTS-gpu.md not written; pass --gpu-output to force)")
            return
        path = BENCH_DIR / "RESULTS-gpu.md"
    path.write_text(render([section], machine, quick=args.quick, seconds=seconds))
    print(f"wrote {path}")


def _announce(args: argparse.Namespace, names: list[str]) -> None:
    """Say up front what the harness will wait for, so a long run is never a silent one."""
    if args.wait_quiet > 0:
        waits = f"before each section it waits up to {args.wait_quiet:.0f} s for idle CPUs"
    else:
        waits = "no waiting for idle CPUs"
    retries = (
        f"reruns a section up to {args.retries} time(s) if others used > {100 * OTHER_LOAD_LIMIT:.0f}% of the CPUs"
        if args.retries > 0
        else "no retries"
    )
    kind = "quick run" if args.quick else "full run"
    print(f"jaxnet benchmarks ({kind}): {', '.join(names)}; {waits}; {retries}.", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or list(BENCHMARKS)
    t_start = time.perf_counter()
    _announce(args, names)
    machine = machine_table(machine_info())
    print(machine.to_markdown(), flush=True)
    sections: list[Section] = []
    for name in names:
        section = run_section(name, args)
        print(section.to_markdown(), flush=True)
        print(f"--- {name} took {section.seconds:.1f} s\n", flush=True)
        sections.append(section)
    machine.add("load average at end (1/5/15 min)", load_average())
    report = render(sections, machine, quick=args.quick, seconds=time.perf_counter() - t_start)
    print(ratio_table(sections, comparable=not args.quick).to_markdown())
    for section in sections:
        if section.name == gpu.NAME:
            write_gpu_report(section, machine, args, time.perf_counter() - t_start)
    full = not args.quick and not args.only
    if not args.no_write and (full or args.write):
        args.output.write_text(report)
        print(f"wrote {args.output}")
    else:
        print(f"(partial or quick run: {args.output} not written; pass --write to force)")
    failures = [f for s in sections for f in s.failures]
    for failure in failures:
        print(f"CHECK FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
