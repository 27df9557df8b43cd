"""How long the scheduling check takes on a prod-sized input (the hand-written prod shape of
tests/unit/test_scheduling.py: 5 pools, 21 nodes, 32 pods and a node-exporter on every node) and on the dev shape
(two instance-type scenarios, problems found, so the node-count search for the fix runs too).

    python -m bench.bench_scheduling [-n 50]

Printed per input, in milliseconds, in one warm process: median and fastest wall time of `stacks.scheduling.check`,
and its median CPU time (what it costs when other processes share the cores).
"""

from __future__ import annotations

import argparse
import statistics
import time

from render.helm_postrender import PRIORITY_VALUES
from stacks.scheduling import check
from tests.unit.test_scheduling import DEV_POOL, dev_objects, prod_shaped


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="samples per input")
    args = parser.parse_args(argv)
    prod_objects, prod_pools = prod_shaped()
    inputs = {"prod shape": (prod_objects, prod_pools), "dev shape": (dev_objects(), [DEV_POOL])}
    for label, (objects, pools) in inputs.items():
        check(objects, pools, priorities=PRIORITY_VALUES)  # the catalog loads once per process
        samples, cpu = [], []
        for _ in range(args.n):
            started, started_cpu = time.perf_counter(), time.process_time()
            report = check(objects, pools, priorities=PRIORITY_VALUES)
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        print(f"{label}: wall median {statistics.median(samples):.1f} ms, fastest {min(samples):.1f} ms; "
              f"cpu median {statistics.median(cpu):.1f} ms ({args.n} runs, {len(report.problems)} problems)")


if __name__ == "__main__":
    main()
