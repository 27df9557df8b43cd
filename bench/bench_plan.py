"""How long the offline plan of the prod stack takes, against what the Pulumi SDKs alone cost.

    python -m bench.bench_plan [-n 5] [--stack prod]

Every sample runs in a fresh interpreter (what a user or CI job pays, SDK imports included), three ways:
- plan:     `tools.plan.main([stack, --out tmp])` in-process: program under mocks + cost + artifacts;
- program:  `tools.offline.run_program(stack)` alone;
- baseline: import the SDKs — the modules and resource classes the program uses (pulumi_aws and pulumi_kubernetes
            load a class and its input/output types lazily, on first attribute access, so importing the package alone
            leaves most of the SDK unloaded) — then register as many trivial
            `pulumi.CustomResource("test:index:Trivial", ...)` under the same recording mocks as the program
            registers resources. The ratios that count are against this baseline;
- package imports only: the same without resolving the classes, shown to make the lazy-loading cost visible.
Printed: median seconds of each, the ratios, and the warm in-process time of the plan (the same process planning
again: no imports). Python's bytecode cache matters a lot for the SDKs (pulumi_aws
is ~100 MB of source): this benchmark runs with the caller's environment, so PYTHONDONTWRITEBYTECODE=1 means every
sample compiles the SDKs; `--pycache DIR` measures with a warm bytecode cache in DIR instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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

_BASELINE = """
import importlib, json, sys, time
start = time.perf_counter()
import pulumi
from tools.offline import PROJECT, RecordingMocks, RecordingMonitor
for module in json.loads(sys.argv[2]):
    importlib.import_module(module)
# With classes listed, also resolve each resource class: the SDKs load a class's modules on first attribute access.
for module, cls in json.loads(sys.argv[4]):
    getattr(importlib.import_module(module), cls)
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


def sdk_modules(types: set[str]) -> list[str]:
    """The SDK modules a set of resource type tokens come from (`aws:ec2/vpc:Vpc` → pulumi_aws.ec2)."""
    packages = {"aws": "pulumi_aws", "kubernetes": "pulumi_kubernetes", "random": "pulumi_random"}
    modules = set()
    for token in types:
        package, module, name = token.split(":")
        if package == "pulumi" and module == "providers":
            package, module = name, "index"
        if package not in packages:
            continue
        base = packages[package]
        if package == "kubernetes" and "/" in module:
            group, version = module.split("/", 1)
            candidate = f"{base}.{group.split('.')[0]}.{version}"
        else:
            head = module.split("/")[0]
            candidate = base if head == "index" else f"{base}.{head}"
        try:
            found = importlib.util.find_spec(candidate) is not None
        except ModuleNotFoundError:
            found = False
        # Custom resources (e.g. monitoring.coreos.com/v1) come from the generic apiextensions module.
        modules.add(candidate if found else f"{base}.apiextensions" if package == "kubernetes" else base)
    return sorted(modules)


def sdk_classes(types: set[str]) -> list[tuple[str, str]]:
    """(module, class) per resource type the SDK modules define (`aws:ec2/vpc:Vpc` → pulumi_aws.ec2, Vpc)."""
    found = []
    for token in sorted(types):
        [module] = sdk_modules({token}) or [None]
        if module is None:
            continue
        cls = token.rsplit(":", 1)[-1] if not token.startswith("pulumi:providers:") else "Provider"
        if hasattr(importlib.import_module(module), cls):
            found.append((module, cls))
    return found


def _sample(script: str, args: list[str], env: dict[str, str]) -> float:
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


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
    from tools.offline import run_program

    graph = run_program(args.stack)
    count = len(graph.resources)
    modules = sdk_modules({r.type for r in graph.resources})
    if args.pycache:  # fill the cache once so every sample below reads it
        _sample(_PLAN, [args.stack], env)

    classes = sdk_classes({r.type for r in graph.resources})
    samples: dict[str, list[float]] = {"plan": [], "program": [], "baseline": [], "package imports only": []}
    for _ in range(args.n):  # interleaved so a load spike on the host hits every variant alike
        samples["plan"].append(_sample(_PLAN, [args.stack], env))
        samples["program"].append(_sample(_PROGRAM, [args.stack], env))
        samples["baseline"].append(
            _sample(_BASELINE, [args.stack, json.dumps(modules), str(count), json.dumps(classes)], env))
        samples["package imports only"].append(
            _sample(_BASELINE, [args.stack, json.dumps(modules), str(count), "[]"], env))
    median = {k: statistics.median(v) for k, v in samples.items()}

    warm = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.n):
            start = time.perf_counter()
            result = plan.build(args.stack)
            plan.write(result.files, Path(out))
            warm.append(time.perf_counter() - start)

    print(f"stack {args.stack}: {count} resources; SDK modules in the baseline: {', '.join(modules)}")
    print(f"bytecode cache: {'warm in ' + str(args.pycache) if args.pycache else 'as the environment has it'}"
          f" (PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE', 'unset')})")
    for name in samples:
        spread = ", ".join(f"{s:.2f}" for s in samples[name])
        print(f"  {name:<20} median {median[name]:.2f} s  (samples {spread})")
    print(f"  plan warm in-process median {statistics.median(warm):.3f} s")
    print(f"ratio program/baseline {median['program'] / median['baseline']:.2f}  (target <= 1.5)")
    print(f"ratio plan/baseline    {median['plan'] / median['baseline']:.2f}")
    print(f"ratio program/package imports only {median['program'] / median['package imports only']:.2f}  "
          f"(the SDKs' lazy class loading included)")
    print(f"{args.stack} plan absolute {median['plan']:.2f} s  (target < 3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
