"""The cost estimate: exact arithmetic on a small inventory, and the inventory the program's graph yields."""

from __future__ import annotations

import pytest

from stacks import sizing

from reports.cost import (
    SPOT_DISCOUNT,
    ClusterItem,
    Inventory,
    NodeGroupItem,
    estimate,
    volume_claims,
    inventory_from_resources,
)
from reports.pricing import HOURS_PER_MONTH, PriceNotFound, load_price_table
from tests.conftest import stack_document
from tools.offline import Graph
from tools.plan import _stack_settings

PRICES = load_price_table()


def _item(est, key):
    return next(i for i in est.line_items if i.key == key)


def test_on_demand_spot_storage_nat_and_control_plane_arithmetic():
    inventory = Inventory(
        region="us-east-1",
        node_groups=(NodeGroupItem("a", "m7i.large", 2, "ON_DEMAND", 50),
                     NodeGroupItem("b", "m7i.large", 2, "SPOT", 20)),
        nat_gateways=2, clusters=(ClusterItem("c", "STANDARD"),))
    est = estimate(inventory, PRICES)
    hourly = PRICES.instance_hourly("us-east-1", "m7i.large")
    assert _item(est, "node group a").monthly_usd == round(2 * hourly * HOURS_PER_MONTH, 2)
    assert _item(est, "node group b").monthly_usd == round(2 * hourly * HOURS_PER_MONTH * (1 - SPOT_DISCOUNT), 2)
    assert _item(est, "root volumes a").monthly_usd == round(100 * PRICES.ebs_gp3_gb_month("us-east-1"), 2)
    assert _item(est, "NAT gateways").monthly_usd == round(2 * PRICES.nat_gateway_hour("us-east-1") * 730, 2)
    assert _item(est, "NAT data processed").monthly_usd == 0
    assert _item(est, "EKS cluster c").monthly_usd == 73.0
    assert est.total == round(sum(i.monthly_usd for i in est.line_items), 2)
    assert not any("us-east-1 only" in w or "EXTENDED" in w for w in est.warnings)
    assert {s.what for s in est.sources} >= {"EC2 on-demand", "EBS gp3 storage", "NAT gateway hour"}


def test_spot_discount_zero_is_the_on_demand_upper_bound():
    inventory = Inventory(region="us-east-1", node_groups=(NodeGroupItem("b", "m6id.2xlarge", 3, "SPOT", 50),))
    spot, on_demand = estimate(inventory, PRICES), estimate(inventory, PRICES, spot_discount=0)
    assert _item(on_demand, "node group b").monthly_usd == round(3 * 0.4746 * 730, 2)
    assert _item(spot, "node group b").monthly_usd < _item(on_demand, "node group b").monthly_usd
    with pytest.raises(ValueError):
        estimate(inventory, PRICES, spot_discount=1.0)


def test_other_region_is_priced_at_us_east_1_with_a_warning_naming_it():
    est = estimate(Inventory(region="eu-west-1", nat_gateways=1), PRICES)
    assert est.priced_region == "us-east-1"
    assert any("eu-west-1" in w and "us-east-1" in w for w in est.warnings)


def test_cluster_without_standard_support_is_priced_extended_with_a_warning():
    est = estimate(Inventory(region="us-east-1", clusters=(ClusterItem("c", None),)), PRICES)
    assert _item(est, "EKS cluster c").monthly_usd == round(0.60 * 730, 2)
    assert any("support_type" in w and "STANDARD" in w for w in est.warnings)


def test_unpriced_instance_type_is_left_out_with_a_warning_instead_of_guessed():
    inventory = Inventory(region="us-east-1", node_groups=(NodeGroupItem("x", "hpc7a.12xlarge", 1, "ON_DEMAND", 50),))
    est = estimate(inventory, PRICES)
    assert not any(i.key == "node group x" for i in est.line_items)
    assert any("hpc7a.12xlarge" in w and "not priced and left out of the total" in w for w in est.warnings)
    with pytest.raises(PriceNotFound):
        PRICES.instance_hourly("us-east-1", "hpc7a.12xlarge")


def test_volume_claims_count_replicas_and_claims():
    statefulset = {"kind": "StatefulSet", "metadata": {"name": "etcd", "namespace": "milvus"},
                   "spec": {"replicas": 3, "volumeClaimTemplates": [
                       {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "10Gi"}}}}]}}
    claim = {"kind": "PersistentVolumeClaim", "metadata": {"name": "grafana", "namespace": "monitoring"},
             "spec": {"resources": {"requests": {"storage": "5Gi"}}}}
    found = {c.source: (c.size_gib, c.count) for obj in (statefulset, claim, {"kind": "Deployment"})
             for c in volume_claims(obj)}
    assert found == {"statefulset milvus/etcd: data": (10.0, 3), "pvc monitoring/grafana": (5.0, 1)}


def test_the_plans_volumes_are_the_rendered_claims(graph: Graph):
    bundle = graph.program["bundle"]
    inventory = inventory_from_resources(graph.resources, "us-west-2",
                                         objects=[*(o.obj for o in bundle.objects), *bundle.operated])
    sources = {v.source for v in inventory.volumes}
    assert "statefulset milvus/milvus-etcd: data" in sources
    assert any(s.startswith("statefulset monitoring/prometheus-") for s in sources)


def test_graph_inventory_matches_the_stack_file(graph: Graph):
    document = stack_document(graph.stack)
    pools = document["milvus-eks:nodePools"]
    collections = _stack_settings(graph.stack).topology.collections
    inventory = inventory_from_resources(graph.resources, document["aws:region"], collections=collections)
    groups = {g.name: g for g in inventory.node_groups}
    assert set(groups) == set(pools)
    for name, pool in pools.items():
        assert groups[name].instance_type == pool["instanceTypes"][0]
        if pool.get("provisioner") == "karpenter":
            # Priced at the plan's count, carried on the NodePool (Karpenter sizes the pool from pending pods).
            registered = next(r for r in graph.of_type("kubernetes:karpenter.sh/v1:NodePool")
                              if r.inputs["metadata"]["name"] == name)
            planned = sizing.plan(_stack_settings(graph.stack)).pool(name).desired_size
            assert groups[name].kind == "karpenter pool"
            assert groups[name].nodes == planned == int(
                registered.inputs["metadata"]["annotations"]["milvus-eks/planned-nodes"])
        else:
            registered = next(g for g in graph.of_type("aws:eks/nodeGroup:NodeGroup")
                              if g.inputs["labels"]["milvus-eks/pool"] == name)
            assert groups[name].nodes == registered.inputs["scalingConfig"]["desiredSize"]
        assert pool["minSize"] <= groups[name].nodes <= pool["maxSize"]
        assert groups[name].capacity_type == pool.get("capacityType", "ON_DEMAND")
        assert groups[name].root_volume_gb == pool.get("rootVolumeGb", 50)
    nat = document["milvus-eks:network"]["natGateways"]
    assert inventory.nat_gateways == (1 if nat == "single" else document["milvus-eks:network"]["azCount"])
    assert len(inventory.clusters) == 1
    raw = sum(c.vectors * (c.dim * 4 + c.scalar_bytes_per_entity) for c in collections)
    assert inventory.object_storage_gib == pytest.approx(raw / 2**30)


def test_prod_costs_more_than_dev(dev_graph: Graph, prod_graph: Graph):
    dev = estimate(inventory_from_resources(dev_graph.resources, "us-west-2"), PRICES)
    prod = estimate(inventory_from_resources(prod_graph.resources, "us-west-2"), PRICES)
    assert prod.total > 3 * dev.total
    assert prod.by_category()["compute"] > dev.by_category()["compute"]


def test_prod_zone_aligned_meets_the_cost_target_and_full_capacity_is_priced_beside_it(prod_graph: Graph):
    # Issue 13, "done when": zone-aligned prod <= $9,000/month; the full-capacity mode stays priced next to it.
    from tools.plan import build

    document = build("prod", graph=prod_graph).document
    modes = document["zoneFailureModes"]
    assert modes["replicaPerZone"]["current"] and document["cost"]["total"] == modes["replicaPerZone"]["monthlyUsd"]
    assert modes["replicaPerZone"]["monthlyUsd"] <= 9000
    assert modes["replicaPerZone"]["queryMemoryUtilisation"] >= 0.65
    assert modes["replicaPerZone"]["zoneLossWorst"]["replicasLeft"] >= 1
    full = modes["fullCapacity"]
    assert full["queryNodes"] > modes["replicaPerZone"]["queryNodes"]
    # Resizing the query pool is the only difference: the gap is the extra query nodes and their root volumes.
    node_month = PRICES.instance_hourly("us-east-1", "r6id.4xlarge") * HOURS_PER_MONTH
    gb_month = PRICES.service_price("ebs", "gp3_storage", "us-east-1").usd
    extra = full["queryNodes"] - modes["replicaPerZone"]["queryNodes"]
    assert full["monthlyUsd"] - modes["replicaPerZone"]["monthlyUsd"] == pytest.approx(
        extra * (node_month + 50 * gb_month), abs=0.05)
