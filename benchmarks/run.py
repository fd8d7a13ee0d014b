"""Run the jaxnet benchmarks: ``python -m benchmarks.run [--quick] [--only NAME]``.

Prints the machine, every benchmark's tables and one summary table of
ratios (all measured in this run) against the project's targets, and writes
the same markdown to ``benchmarks/RESULTS.md`` after a full run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import big_mlp, seed_steps, startup, sweep  # noqa: E402
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

BENCHMARKS: dict[str, Callable[[bool], Section]] = {
    seed_steps.NAME: seed_steps.run,
    sweep.NAME: sweep.run,
    big_mlp.NAME: big_mlp.run,
    startup.NAME: startup.run,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smaller counts and fewer repeats (a smoke run; numbers are rough)")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "RESULTS.md",
                        help="where to write the markdown results (default: benchmarks/RESULTS.md)")
    parser.add_argument("--write", action="store_true",
                        help="write the results file even after a --quick or --only run")
    parser.add_argument("--wait-quiet", type=float, default=60.0, metavar="SECONDS",
                        help="before each section wait up to this long for other processes to leave "
                             "the CPUs idle (default 60; 0 = don't wait)")
    parser.add_argument("--retries", type=int, default=1, metavar="N",
                        help="rerun a section up to N times when other processes used more than "
                             f"{100 * OTHER_LOAD_LIMIT:.0f}%% of the CPUs during it; the least disturbed run "
                             "is kept (default 1)")
    parser.add_argument("--no-write", action="store_true", help="never write the results file")
    return parser.parse_args(argv)


def render(sections: list[Section], machine: Table, *, quick: bool, seconds: float) -> str:
    """The whole report as markdown (what is printed and written)."""
    mode = "quick smoke run (`--quick`), numbers are rough" if quick else "full run"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    head = (
        "# jaxnet benchmark results\n\n"
        f"Produced by `python -m benchmarks.run` ({mode}) on {stamp}, "
        f"{seconds:.0f} s in all. Every ratio below was measured in this same run.\n"
    )
    parts = [head, machine.to_markdown(), ratio_table(sections).to_markdown()]
    parts.extend(s.to_markdown() for s in sections)
    return "\n".join(parts)


def _pct(value: float | None) -> str:
    return "unknown" if value is None else f"{100 * value:.0f}%"


def _measure(name: str, args: argparse.Namespace) -> tuple[Section, float | None]:
    """Run one section after waiting for a quiet machine; note the load seen."""
    print(f"--- running {name} ...", flush=True)
    before = wait_until_quiet(args.wait_quiet)
    t0 = time.perf_counter()
    with OtherLoad() as load:
        section = BENCHMARKS[name](args.quick)
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or list(BENCHMARKS)
    t_start = time.perf_counter()
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
    print(ratio_table(sections).to_markdown())
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
