"""How long the offline plan of the prod stack takes, against what the Pulumi SDKs alone cost.

    python -m bench.bench_plan [-n 5] [--stack prod] [--pycache DIR]

Every sample is a fresh process (what a user or CI job pays, SDK imports included), timed two ways: inside the
process (from its first line to the end of the work) and as a whole process (from starting it to its exit, so
interpreter start-up and shutdown count), with the CPU seconds it used (all threads, the Helm engine's included):
- plan command: `python -m tools.plan STACK --out TMP`, exactly what a user runs; its whole-process time is the
            criterion (target < 3 s);
- plan in-process: `tools.plan.main([STACK, --out, TMP])` called from a script (no garbage-collector settings of
            the command's own);
- program:  `tools.offline.run_program(STACK)` alone;
- baseline: import every SDK module the program imports (pulumi_aws, pulumi_kubernetes, pulumi_random and their
            submodules, as a run of the program lists them in sys.modules) and register as many trivial
            `pulumi.CustomResource("test:index:Trivial", ...)` under the same recording mocks as the program registers
            resources. The ratios that count are against this baseline;
- package imports only: the same with only the three top-level packages imported (the SDKs load a class and its
            input/output types lazily, on first attribute access), to show what the lazy loading costs.
Printed per variant: median and min of each measure; then the warm in-process time of the plan (the same process
planning again: no imports). The machine this runs on is often shared: compare medians of runs made at the same
load (`uptime`), and CPU seconds, which a loaded machine hides less than wall seconds.
Python's bytecode cache matters a lot for the SDKs (pulumi_aws is ~100 MB of source): this benchmark runs with the
caller's environment, so PYTHONDONTWRITEBYTECODE=1 means every sample compiles whatever has no cached bytecode
(the project's own modules, ~0.3-0.5 s); `--pycache DIR` measures with a warm bytecode cache in DIR instead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDK_PACKAGES = ("pulumi_aws", "pulumi_kubernetes", "pulumi_random")

_PLAN = """
import contextlib, io, sys, tempfile, time
start = time.perf_counter()
from tools import plan
with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()), \
        contextlib.redirect_stderr(io.StringIO()):
    assert plan.main([sys.argv[1], "--out", out]) == 0
print(time.perf_counter() - start)
"""

_PROGRAM = """
import sys, time
start = time.perf_counter()
from tools.offline import run_program
graph = run_program(sys.argv[1])
print(time.perf_counter() - start)
"""

_SDK_MODULES = """
import json, sys
from tools.offline import run_program
graph = run_program(sys.argv[1])
packages = tuple(json.loads(sys.argv[2]))
print(json.dumps({"count": len(graph.resources),
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] in packages)}))
"""

_BASELINE = """
import importlib, json, sys, time
start = time.perf_counter()
import pulumi
from tools.offline import PROJECT, RecordingMocks, RecordingMonitor
for module in json.loads(sys.argv[2]):
    importlib.import_module(module)
count = int(sys.argv[3])
mocks = RecordingMocks()
monitor = RecordingMonitor(mocks)
pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=sys.argv[1], preview=False, monitor=monitor)

@pulumi.runtime.test
def program():
    resources = [pulumi.CustomResource("test:index:Trivial", f"trivial-{i}", {"value": i}) for i in range(count)]
    return pulumi.Output.all(*[r.urn for r in resources])

program()
assert len(monitor.graph) == count
print(time.perf_counter() - start)
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """(stdout, whole-process wall seconds, CPU seconds) of one child process."""
    cpu, start = _children_cpu(), time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"benchmark child failed: {' '.join(command)}\n{result.stderr}")
    return result.stdout, wall, _children_cpu() - cpu


def _sample(script: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    stdout, wall, cpu = _run([sys.executable, "-c", script, *args], env)
    return {"in-process": float(stdout.strip().splitlines()[-1]), "whole process": wall, "cpu": cpu}


def _command_sample(stack: str, env: dict[str, str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        _, wall, cpu = _run([sys.executable, "-m", "tools.plan", stack, "--out", out], env)
    return {"whole process": wall, "cpu": cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5, help="samples per variant (default 5)")
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--pycache", type=Path, help="bytecode cache directory (enables writing bytecode there)")
    args = parser.parse_args(argv)

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if args.pycache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(args.pycache)
    sys.path.insert(0, str(ROOT))
    from tools import plan

    # What the program imports, from a run of its own (the parent's imports would blur it).
    listed = json.loads(_run([sys.executable, "-c", _SDK_MODULES, args.stack, json.dumps(SDK_PACKAGES)],
                             env)[0].strip().splitlines()[-1])
    count, modules = listed["count"], listed["modules"]
    if args.pycache:  # fill the cache once so every sample below reads it
        _command_sample(args.stack, env)

    samples: dict[str, list[dict[str, float]]] = {
        "plan command": [], "plan in-process": [], "program": [], "baseline": [], "package imports only": []}
    for _ in range(args.n):  # interleaved so a load spike on the host hits every variant alike
        samples["plan command"].append(_command_sample(args.stack, env))
        samples["plan in-process"].append(_sample(_PLAN, [args.stack], env))
        samples["program"].append(_sample(_PROGRAM, [args.stack], env))
        samples["baseline"].append(_sample(_BASELINE, [args.stack, json.dumps(modules), str(count)], env))
        samples["package imports only"].append(
            _sample(_BASELINE, [args.stack, json.dumps(list(SDK_PACKAGES)), str(count)], env))

    def median(variant: str, measure: str) -> float:
        return statistics.median(s[measure] for s in samples[variant])

    warm = []
    with tempfile.TemporaryDirectory() as out:
        plan.build(args.stack)  # this process's imports, once
        for _ in range(args.n):
            start = time.perf_counter()
            result = plan.build(args.stack)
            plan.write(result.files, Path(out))
            warm.append(time.perf_counter() - start)

    print(f"stack {args.stack}: {count} resources; the baseline imports the {len(modules)} SDK modules the "
          f"program imports")
    print(f"bytecode cache: {'warm in ' + str(args.pycache) if args.pycache else 'as the environment has it'}"
          f" (PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE', 'unset')}); load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    print(f"  {'seconds, median (min)':<22} {'in-process':>16} {'whole process':>16} {'cpu':>16}")
    for name, runs in samples.items():
        cells = []
        for measure in ("in-process", "whole process", "cpu"):
            values = [s[measure] for s in runs if measure in s]
            cells.append(f"{statistics.median(values):.2f} ({min(values):.2f})" if values else "-")
        print(f"  {name:<22} {cells[0]:>16} {cells[1]:>16} {cells[2]:>16}")
    print(f"  plan warm in-process median {statistics.median(warm):.3f} s")
    print(f"ratio program/baseline {median('program', 'in-process') / median('baseline', 'in-process'):.2f}  "
          f"(in-process: what the program costs beyond the SDK modules it loads and as many registrations)")
    print(f"ratio plan command/baseline {median('plan command', 'whole process') / median('baseline', 'whole process'):.2f}"
          f"  (whole process)")
    print(f"ratio program/package imports only "
          f"{median('program', 'in-process') / median('package imports only', 'in-process'):.2f}  "
          f"(the SDKs' lazy class loading included)")
    print(f"{args.stack} plan command, whole process: median {median('plan command', 'whole process'):.2f} s, "
          f"CPU {median('plan command', 'cpu'):.2f} s  (target < 3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
