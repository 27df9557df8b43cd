"""The capacity chain: pure arithmetic, and one-key mutations that must stop the program before it registers
anything, naming the key and both numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from render import bundle as rendered
from render.workloads import surge, workloads
from stacks import capacity, sizing
from stacks.capacity import Container, LimitDefaults, Workload
from stacks.config import StackConfigError
from stacks.quantity import GIB, MIB
from tests.conftest import STACKS, as_engine_config, stack_document
from tests.unit.test_milvus_values import settings_for
from tools.offline import run_program

DEFAULTS = LimitDefaults({"cpu": Decimal("0.1"), "memory": Decimal(128 * MIB)},
                         {"cpu": Decimal("0.5"), "memory": Decimal(512 * MIB)})


def test_a_pod_is_the_sum_of_its_containers_or_its_largest_init_container():
    w = Workload("ns", "w", "Deployment", "p", 2,
                 (Container("a", {"cpu": Decimal("1")}, {"cpu": Decimal("2")}), Container("b", {}, {})),
                 (Container("init", {"cpu": Decimal("3")}, {"cpu": Decimal("3")}),))
    requests, limits = capacity.pod_amounts(w, DEFAULTS)
    assert requests["cpu"] == Decimal("3")  # init 3 > 1 + 0.1 (LimitRange default for b)
    assert limits["cpu"] == Decimal("3")  # init 3 > 2 + 0.5
    assert requests["memory"] == 2 * 128 * MIB and limits["memory"] == 2 * 512 * MIB  # both from the defaults


def test_a_container_with_only_a_limit_requests_its_limit():
    c = capacity.effective(Container("c", {}, {"memory": Decimal(GIB)}), DEFAULTS)
    assert c.requests["memory"] == GIB and c.requests["cpu"] == Decimal("0.1")


def test_usage_adds_surge_and_volumes():
    w = Workload("ns", "w", "Deployment", "p", 3, (Container("a", {"cpu": Decimal("1")}, {"cpu": Decimal("1")}),),
                 max_surge=1)
    s = Workload("ns", "s", "StatefulSet", "p", 3, (Container("a", {"cpu": Decimal("1")}, {"cpu": Decimal("1")}),),
                 pvcs=2, pvc_bytes=30 * GIB)
    usage = capacity.namespace_usage("ns", (w, s), DEFAULTS)
    assert usage.planned["requests.cpu"] == 6 and usage.surge["requests.cpu"] == 1
    assert usage.planned["pods"] == 6 and usage.surge["pods"] == 1
    assert usage.planned["persistentvolumeclaims"] == 6 and usage.planned["requests.storage"] == 90 * GIB


@pytest.mark.parametrize("strategy,replicas,expected", [
    (None, 1, 1), (None, 8, 2), ({"type": "Recreate"}, 3, 0),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}, 5, 0),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, 5, 1),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%"}}, 3, 2)])
def test_surge_follows_kubernetes_defaults(strategy, replicas, expected):
    assert surge(strategy, replicas) == expected


@pytest.mark.parametrize("stack", STACKS)
def test_the_plans_fit_and_leave_the_configured_headroom(stack: str):
    s = settings_for(stack)
    report = capacity_report(s, sizing.plan(s))
    assert report.problems == ()
    factor = Decimal(str(s.quotas.headroom))
    for q in report.quotas:
        for key, needed in q.usage.with_surge().items():
            assert q.hard[key] >= needed * (1 + factor), (q.namespace, key)
    for p in report.pools:
        assert p.requested_cpu <= p.allocatable_cpu and p.requested_memory <= p.allocatable_memory


def test_every_pod_has_a_priority_class_and_a_pool():
    s = settings_for("prod")
    pods = [w for w in inventory(s, sizing.plan(s)) if w.kind != "Service"]
    assert pods
    for w in pods:
        assert w.priority_class, w.name
        assert (w.pool is None) == (w.kind == "DaemonSet"), w.name


def test_pulsar_parts_are_counted_when_chosen():
    s = settings_for("dev", {"messageQueue": "pulsar"})
    names = {w.name for w in inventory(s, sizing.plan(s))}
    assert {"milvus-pulsarv3-bookie", "milvus-pulsarv3-broker", "milvus-pulsarv3-zookeeper"} <= names
    report = capacity_report(s, sizing.plan(s))
    assert report.quota("milvus").usage.planned["requests.storage"] == (30 + 3 * 20 + 3 * 300) * GIB


def capacity_report(settings, plan):
    return rendered.build(settings, plan).capacity


def inventory(settings, plan):
    return workloads([o.obj for o in rendered.build(settings, plan).objects if not o.crd], {})


def _shrink_pool(c):
    c["milvus-eks:nodePools"]["milvus"].update(minSize=1, maxSize=1)


def _raise_replicas(c):
    c["milvus-eks:milvus"] = {**c.get("milvus-eks:milvus", {}), "components": {"dataNode": {"replicas": 30}}}


def _pin_small(c):
    c["milvus-eks:quotas"] = {"pinned": {"milvus": {"requestsCpu": "1"}}}


@pytest.mark.parametrize("mutate,path,numbers", [
    (_shrink_pool, "nodePools.milvus.maxSize", ("1 × m6id.2xlarge", "9.5 CPU", "7.91 CPU")),
    (_raise_replicas, "nodePools.milvus.maxSize", ("52.82 CPU", "4 × m6id.2xlarge")),
    (_pin_small, "quotas.pinned.milvus.requestsCpu", ("at 1 CPU", "9.35 CPU", "9350m")),
])
def test_a_broken_chain_stops_the_program_naming_the_key(mutate, path, numbers):
    config = stack_document("dev")
    mutate(config)
    with pytest.raises(StackConfigError) as caught:
        run_program("dev", config=as_engine_config(config))
    assert caught.value.registered == []
    matching = [p for p in caught.value.problems if p.path == path]
    assert matching, str(caught.value)
    for number in numbers:
        assert number in matching[0].message, matching[0].message
