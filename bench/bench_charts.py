"""What rendering and validating the vendored charts costs, stage by stage, in a fresh interpreter.

    python -m bench.bench_charts [-n 5] [--stack prod]

Each sample is a new process (what `tools.plan` pays once per run): import helm_python (it loads the 85 MB
libhelm_c), load each archive, render Milvus and kube-prometheus-stack with the stack's values (the first
kube-prometheus-stack render also parses its 4.5 MB of CRDs), render both again (charts and CRDs cached: the
template engine alone), then validate every object. Printed: median CPU seconds of the process (all threads, Go's
included) and wall seconds per stage; wall time is what a user waits, CPU time what a loaded machine cannot hide.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

SAMPLE = r"""
import json, sys, time
stages = {}
def mark(name, started):
    stages[name] = (time.process_time() - started[0], time.perf_counter() - started[1])
    started[:] = [time.process_time(), time.perf_counter()]
started = [time.process_time(), time.perf_counter()]
import helm_python
mark("import helm_python", started)
from render import charts, helm_postrender, milvus_values as mv, monitoring_values as kps, validate
from render.naming import pool_tolerations
from stacks import sizing, versions
import yaml
from stacks.validation import load_settings
from tools.offline import stack_file
config = yaml.safe_load(stack_file(sys.argv[1]).read_text())["config"]
s = load_settings({k.removeprefix("milvus-eks:"): v for k, v in config.items() if k.startswith("milvus-eks:")},
                  config["aws:region"])
plan = sizing.plan(s)
milvus_values = mv.render_milvus_values(s, query_node_replicas=plan.query_node_replicas,
                                        streaming_node_replicas=plan.streaming_node_replicas,
                                        resource_groups=plan.resource_groups, bucket_name="planned-bucket")
kps_values = kps.render_kps_values(s, pool_tolerations(s.node_pools[s.pool_for("monitoring")]), ())
mark("settings, plan, values", started)
for pin in versions.CHARTS:
    charts.load_chart(pin)
mark("load both archives", started)
def render():
    m = charts.render_chart(versions.MILVUS, milvus_values, release="milvus", namespace="milvus",
                            post_render=helm_postrender.post_render, kubernetes_version=s.cluster.kubernetes_version)
    k = charts.render_chart(versions.KUBE_PROMETHEUS_STACK, kps_values, release="kube-prometheus-stack",
                            namespace="monitoring", post_render=None, kubernetes_version=s.cluster.kubernetes_version)
    return m, k
m, k = render()
mark("first render (milvus + kps, CRDs parsed)", started)
charts.render_chart(versions.MILVUS, milvus_values, release="milvus", namespace="milvus",
                    post_render=helm_postrender.post_render, kubernetes_version=s.cluster.kubernetes_version)
mark("milvus render again", started)
charts.render_chart(versions.KUBE_PROMETHEUS_STACK, kps_values, release="kube-prometheus-stack",
                    namespace="monitoring", post_render=None, kubernetes_version=s.cluster.kubernetes_version)
mark("kps render again", started)
problems = validate.validate_objects([*m, *k], s.cluster.kubernetes_version)
mark(f"validate {len(m) + len(k)} objects", started)
assert not problems, problems
print(json.dumps(stages))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args(argv)
    samples = [json.loads(subprocess.run([sys.executable, "-c", SAMPLE, args.stack], check=True, text=True,
                                         capture_output=True).stdout) for _ in range(args.n)]
    print(f"{'stage':45} {'cpu s':>7} {'wall s':>7}   (median of {args.n}, stack {args.stack})")
    for stage in samples[0]:
        cpu = statistics.median(s[stage][0] for s in samples)
        wall = statistics.median(s[stage][1] for s in samples)
        print(f"{stage:45} {cpu:7.3f} {wall:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
