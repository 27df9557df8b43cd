"""Query nodes may finish their graceful stop: on SIGTERM a query node waits (up to Milvus'
queryNode.gracefulStopTimeout) until QueryCoord has moved its segments to the rest of its replica. The chart sets no
grace period on query nodes, so without the post-renderer the kubelet kills them after 30 s, halfway through."""

from __future__ import annotations

import copy

import pytest
import yaml

from render import helm_postrender as hp

GRACE = hp.QUERY_NODE_STOP_SECONDS + hp.STOP_MARGIN_SECONDS


def _deployment(component: str, grace: int | None = None, name: str = "milvus") -> dict:
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "milvus", "component": component}
    pod = {"containers": [{"name": component}], **({"terminationGracePeriodSeconds": grace} if grace else {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"milvus-{component}"},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": labels}, "spec": pod}}}


def test_a_query_node_gets_the_milvus_timeout_plus_a_margin_and_nothing_else_changes():
    before = _deployment("querynode")
    original = copy.deepcopy(before)
    after = hp.stop_gracefully(before)
    assert before == original
    assert after["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == GRACE
    del after["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert after == original


@pytest.mark.parametrize("document", [
    _deployment("proxy"), _deployment("querynode", name="etcd"), _deployment("querynode", grace=GRACE + 1),
    {**_deployment("querynode"), "kind": "StatefulSet"},
])
def test_other_pods_and_a_longer_grace_are_left_alone(document):
    assert hp.stop_gracefully(document) == document


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_rendered_query_node_waits_as_long_as_its_milvus_config_says(request, stack):
    bundle = request.getfixturevalue(f"{stack}_graph").program["bundle"]
    objects = [o.obj for o in bundle.objects]
    query_nodes = [o for o in objects if o["kind"] == "Deployment"
                   and o["spec"]["template"]["metadata"]["labels"].get("component") == "querynode"]
    assert query_nodes
    config = next(o for o in objects if o["kind"] == "ConfigMap" and "user.yaml" in (o.get("data") or {}))
    timeout = yaml.safe_load(config["data"]["user.yaml"])["queryNode"]["gracefulStopTimeout"]
    for deployment in query_nodes:
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == \
            timeout + hp.STOP_MARGIN_SECONDS, deployment["metadata"]["name"]
    others = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")
              and o["spec"]["template"]["metadata"].get("labels", {}).get("component") not in ("querynode",)]
    assert all(o["spec"]["template"]["spec"].get("terminationGracePeriodSeconds") != GRACE for o in others)
