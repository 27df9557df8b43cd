"""Write what the program reads of the vendored charts' CRDs, from the archives pinned in stacks/versions.py:

    python -m tools.vendor_crds

- for every pinned chart, its crds/ folders parsed into JSON (`render.charts.crd_index_file`), which the offline
  render reads instead of parsing megabytes of YAML on every run;
- the CRDs of kube-prometheus-stack as one YAML file the program applies them from (`render.charts.crds_file`).

Run after bumping a chart (charts/README.md); tests/unit/test_charts.py and tests/unit/test_bundle.py fail while a
file differs from its archive.
"""

from __future__ import annotations

from render import monitoring_values as kps
from render.charts import ROOT, crd_index_file, crds_file, crds_yaml, render_chart, write_crd_index
from stacks.versions import CHARTS, chart_pin, KUBE_PROMETHEUS_STACK


def main() -> int:
    for pin in CHARTS:
        index = write_crd_index(pin)
        print(f"wrote {sum(len(f['objects']) for f in index['files'])} CRDs to {crd_index_file(pin)}")
    pin = chart_pin(kps.RELEASE, KUBE_PROMETHEUS_STACK.version)
    crds = [o.obj for o in render_chart(pin, {}, release=kps.RELEASE, namespace="monitoring", post_render=None)
            if o.crd]
    (ROOT / crds_file(pin)).write_text(crds_yaml(crds))
    print(f"wrote {len(crds)} CRDs to {crds_file(pin)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
