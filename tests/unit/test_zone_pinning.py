"""replicaPerZone: each resource group's query-node Deployment lands in its own zone. The chart renders one query-node
Deployment per `replicaResourceGroups` entry from the shared `queryNode` block, so the values carry the group → zone
map and the post-renderer applies it per Deployment."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import yaml

from render import helm_postrender as hp
from stacks import sizing
from render.bundle import planned_zones
from tests.unit.test_milvus_values import MOCK_ZONES, settings_for, values_for

ZONES = planned_zones(settings_for("prod"))


def _deployment(group: str | None, annotations: dict | None) -> dict:
    """Shaped like charts/milvus/templates/querynode-deployment.yaml @ 9832476 renders it for one group."""
    labels = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "milvus", "component": "querynode",
              **({hp.GROUP_LABEL: group} if group else {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"milvus-querynode{'-' + group if group else ''}", "labels": labels},
            "spec": {"replicas": 3, "template": {
                "metadata": {"labels": labels, "annotations": annotations or {}},
                "spec": {"nodeSelector": {"milvus-eks/pool": "query"}, "containers": [{"name": "querynode"}]}}}}


def _zones_annotation() -> dict:
    values = values_for(settings_for("prod"))
    return values["queryNode"]["annotations"]


def test_prod_values_carry_each_groups_zone():
    s = settings_for("prod")
    plan = sizing.plan(s)
    mapping = json.loads(_zones_annotation()[hp.ZONES_ANNOTATION])
    assert mapping == {"rga": ZONES[0], "rgb": ZONES[1]}
    assert set(mapping) == set(plan.resource_groups) and len(set(mapping.values())) == len(mapping)


def test_each_group_deployment_is_pinned_to_its_zone_and_nothing_else_changes():
    annotations = _zones_annotation()
    for group, zone in (("rga", ZONES[0]), ("rgb", ZONES[1])):
        before = _deployment(group, annotations)
        original = copy.deepcopy(before)
        after = hp.pin_zone(before)
        assert before == original  # the input is never changed
        assert after["spec"]["template"]["spec"]["nodeSelector"] == {"milvus-eks/pool": "query",
                                                                     hp.ZONE_LABEL: zone}
        after["spec"]["template"]["spec"]["nodeSelector"].pop(hp.ZONE_LABEL)
        assert after == original


def test_without_groups_or_the_map_nothing_is_pinned():
    annotations = _zones_annotation()
    assert hp.pin_zone(_deployment(None, annotations)) == _deployment(None, annotations)
    assert hp.pin_zone(_deployment("rga", None)) == _deployment("rga", None)
    spread = values_for(settings_for("dev"))
    assert "annotations" not in spread["queryNode"]


def test_a_group_missing_from_the_map_is_an_error():
    with pytest.raises(ValueError, match="rgc"):
        hp.pin_zone(_deployment("rgc", _zones_annotation()))


def test_the_script_applies_it_to_helms_stream():
    stream = yaml.safe_dump_all([_deployment("rgb", _zones_annotation()), {"apiVersion": "v1", "kind": "Service",
                                                                             "metadata": {"name": "milvus"}}])
    result = subprocess.run([sys.executable, hp.__file__], input=stream, capture_output=True, text=True, check=True)
    deployment, service = yaml.safe_load_all(result.stdout)
    assert deployment["spec"]["template"]["spec"]["nodeSelector"][hp.ZONE_LABEL] == ZONES[1]
    assert deployment["spec"]["template"]["spec"]["priorityClassName"] == hp.SERVING
    assert service["kind"] == "Service"


def test_the_bundle_pins_each_group_and_the_deploy_names_the_real_zones(prod_graph):
    bundle = prod_graph.program["bundle"]
    pinned = {o.obj["metadata"]["name"]: o.obj["spec"]["template"]["spec"]["nodeSelector"].get(hp.ZONE_LABEL)
              for o in bundle.objects if o.obj["kind"] == "Deployment" and "querynode" in o.obj["metadata"]["name"]}
    assert pinned == {"milvus-querynode-rga": ZONES[0], "milvus-querynode-rgb": ZONES[1]}
    values = prod_graph.one("kubernetes:helm.sh/v3:Release", "milvus-release").inputs["values"]
    deployed = json.loads(values["queryNode"]["annotations"][hp.ZONES_ANNOTATION])
    assert deployed == {"rga": MOCK_ZONES[0], "rgb": MOCK_ZONES[1]}  # what Helm's post-renderer will read
