"""Write the CRDs of the vendored kube-prometheus-stack archive to the file the program applies them from.

    python -m tools.vendor_crds

Run after bumping the chart (charts/README.md); tests/unit/test_bundle.py fails while the file differs from the
archive's CRDs.
"""

from __future__ import annotations

from render import monitoring_values as kps
from render.charts import ROOT, crds_file, crds_yaml, render_chart
from stacks.versions import chart_pin, KUBE_PROMETHEUS_STACK


def main() -> int:
    pin = chart_pin(kps.RELEASE, KUBE_PROMETHEUS_STACK.version)
    crds = [o.obj for o in render_chart(pin, {}, release=kps.RELEASE, namespace="monitoring", post_render=None)
            if o.crd]
    (ROOT / crds_file(pin)).write_text(crds_yaml(crds))
    print(f"wrote {len(crds)} CRDs to {crds_file(pin)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
