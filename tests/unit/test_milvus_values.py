"""The Milvus Helm values, manifests and policies as pure data (no Pulumi engine)."""

from __future__ import annotations

import ipaddress
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from hypothesis import given, settings as hyp_settings, strategies as st

from render import milvus_values as mv
from render.iam import irsa_trust_policy
from render.chart_keys import load_key_paths, unknown_keys
from render.naming import POOL_LABEL
from render.naming import pool_tolerations
from stacks import sizing
from stacks.catalog import load_catalog
from stacks.quantity import GIB, MIB, parse_quantity
from stacks.network_plan import plan_subnets
from stacks.errors import ConfigError
from stacks.settings import Settings
from stacks.validation import load_settings
from tests.conftest import STACKS, stack_document
from tests.golden_files import assert_golden
from render.bundle import planned_zones
from tools.offline import INVOKES

KEYS = load_key_paths(Path(__file__).resolve().parents[2] / "render" / "data" / "milvus_chart_keys.txt")
EXAMPLE_BUCKET = "milvus-eks-{stack}-milvus-example"


def settings_for(stack: str, milvus: dict | None = None, pools: dict | None = None) -> Settings:
    """The stack file's settings with `milvus`/`nodePools` keys merged over it (one level deep per key)."""
    config = stack_document(stack)
    raw = {k.removeprefix("milvus-eks:"): v for k, v in config.items() if k.startswith("milvus-eks:")}
    for key, value in (milvus or {}).items():
        raw.setdefault("milvus", {})[key] = value
    for name, pool in (pools or {}).items():
        raw["nodePools"][name] = {**raw["nodePools"].get(name, {}), **pool}
    return load_settings(raw, config["aws:region"])


MOCK_ZONES = INVOKES["aws:index/getAvailabilityZones:getAvailabilityZones"]({})["names"]


def shape(settings: Settings) -> dict[str, Any]:
    """What __main__ passes: the sizing planner's node counts per resource group."""
    plan = sizing.plan(settings)
    return {"query_node_replicas": plan.query_node_replicas,
            "streaming_node_replicas": plan.streaming_node_replicas,
            "resource_groups": plan.resource_groups,
            # Stand-in zone names, as the bundle renders them (the deploy swaps in the region's: render/bundle.py).
            "group_zones": plan.group_zones(planned_zones(settings))}


def values_for(settings: Settings, **overrides: Any) -> dict:
    kwargs = {**shape(settings), "bucket_name": EXAMPLE_BUCKET.format(stack="x"), **overrides}
    if settings.milvus.object_storage == "minio":
        kwargs["bucket_name"] = None
    return mv.render_milvus_values(settings, **kwargs)


@pytest.fixture(params=STACKS)
def stack(request) -> str:
    return request.param


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield f"{path}.{k}" if path else str(k), v
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


# ---------------------------------------------------------------------------------------------- golden


class _ReviewDumper(yaml.SafeDumper):
    """Multi-line strings (the user.yaml override) as literal blocks, so the golden file reads like the config."""


_ReviewDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def test_values_match_golden_files(stack: str):
    s = settings_for(stack)
    values = values_for(s, bucket_name=EXAMPLE_BUCKET.format(stack=stack))
    text = yaml.dump(values, Dumper=_ReviewDumper, sort_keys=True, width=120)
    assert yaml.safe_load(text) == values
    assert_golden(f"milvus/values-{stack}.yaml", text)


# ---------------------------------------------------------------------------------------------- chart keys


@pytest.mark.parametrize("variant", [
    {}, {"messageQueue": "pulsar"}, {"serviceAccountBinding": "irsa"},
    {"service": {"type": "internalNlb", "allowedCidrs": ["10.0.0.0/8"]}},
])
def test_every_key_exists_in_the_chart(stack: str, variant: dict):
    s = settings_for(stack, variant)
    values = values_for(s, irsa_role_arn="arn:aws:iam::123456789012:role/x", resource_groups=("a", "b"))
    assert unknown_keys(values, KEYS) == []


def test_minio_variant_keys_exist():
    s = settings_for("dev", {"objectStorage": "minio", "backup": {"enabled": False}}, {"milvus": {"roles": [
        "mixCoordinator", "proxy", "queryNode", "dataNode", "streamingNode", "etcd", "messageQueue", "minio"]}})
    assert unknown_keys(values_for(s), KEYS) == []


def test_a_misspelt_key_is_reported():
    values = values_for(settings_for("dev"))
    values["queryNode"]["dsik"] = values["queryNode"].pop("disk")
    values["externalS3"]["useIam"] = True
    assert sorted(unknown_keys(values, KEYS)) == ["externalS3.useIam", "queryNode.dsik.enabled",
                                                  "queryNode.dsik.size.enabled"]


# ---------------------------------------------------------------------------------------------- mode, MQ, storage


def test_cluster_mode_with_the_26_components(stack: str):
    v = values_for(settings_for(stack))
    assert v["cluster"]["enabled"] is True
    for component in ("mixCoordinator", "proxy", "queryNode", "dataNode"):
        assert v[component]["enabled"] is True
    assert "enabled" not in v["streamingNode"]  # the chart has no such key; streaming.enabled renders it
    assert v["streaming"]["enabled"] is True
    for off in ("indexNode", "rootCoordinator", "queryCoordinator", "dataCoordinator", "indexCoordinator"):
        assert v[off]["enabled"] is False
    assert v["image"]["all"]["tag"] == settings_for(stack).milvus.image_tag


def test_woodpecker_is_the_default_message_queue(stack: str):
    v = values_for(settings_for(stack))
    assert v["woodpecker"]["enabled"] is True
    assert v["streaming"]["woodpecker"] == {"embedded": True, "storage": {"type": "minio"}}
    assert v["pulsarv3"]["enabled"] is False and v["pulsar"]["enabled"] is False and v["kafka"]["enabled"] is False


def test_pulsar_v3_on_request_placed_on_the_message_queue_pool():
    s = settings_for("prod", {"messageQueue": "pulsar"})
    v = values_for(s)
    assert v["pulsarv3"]["enabled"] is True and v["woodpecker"]["enabled"] is False
    for part in ("zookeeper", "bookkeeper", "broker", "proxy"):
        assert v["pulsarv3"][part]["nodeSelector"] == {POOL_LABEL: "streaming"}
        assert v["pulsarv3"][part]["tolerations"][0]["value"] == "streaming"


def test_s3_through_iam_with_the_regional_endpoint(stack: str):
    v = values_for(settings_for(stack), bucket_name="the-bucket")
    s3 = v["externalS3"]
    assert s3 | {} == {**s3, "enabled": True, "useIAM": True, "useSSL": True, "port": "443", "cloudProvider": "aws",
                       "host": "s3.us-west-2.amazonaws.com", "region": "us-west-2", "bucketName": "the-bucket"}
    assert v["minio"]["enabled"] is False


def test_no_static_credentials_in_values(stack: str):
    v = values_for(settings_for(stack))
    for path, value in walk(v):
        leaf = path.rsplit(".", 1)[-1].lower()
        assert leaf not in {"accesskey", "secretkey", "accesskeyid", "secretaccesskey", "password",
                            "defaultrootpassword"}, path
        assert not (isinstance(value, str) and value.startswith("AKIA")), path


def test_minio_mode_runs_minio_on_its_pool():
    s = settings_for("dev", {"objectStorage": "minio", "backup": {"enabled": False}}, {"milvus": {"roles": [
        "mixCoordinator", "proxy", "queryNode", "dataNode", "streamingNode", "etcd", "messageQueue", "minio"]}})
    v = values_for(s)
    assert v["minio"]["enabled"] is True and v["externalS3"] == {"enabled": False}
    assert v["minio"]["nodeSelector"] == {POOL_LABEL: "milvus"}
    assert v["minio"]["persistence"]["storageClass"] == "gp3"


def test_s3_without_a_bucket_is_refused():
    with pytest.raises(ValueError, match="no bucket name"):
        mv.render_milvus_values(settings_for("dev"), query_node_replicas=1, streaming_node_replicas=1,
                                resource_groups=(), bucket_name=None)


def test_irsa_annotates_the_service_account_and_pod_identity_does_not(stack: str):
    arn = "arn:aws:iam::123456789012:role/milvus"
    irsa = values_for(settings_for(stack, {"serviceAccountBinding": "irsa"}), irsa_role_arn=arn)
    assert irsa["serviceAccount"] == {"create": True, "name": "milvus",
                                      "annotations": {"eks.amazonaws.com/role-arn": arn}}
    assert "annotations" not in values_for(settings_for(stack))["serviceAccount"]


# ---------------------------------------------------------------------------------------------- etcd


def test_etcd_on_gp3_with_quota_and_compaction(stack: str):
    s = settings_for(stack, {"etcd": {"replicas": 5, "quotaBackendGi": 6, "storageGi": 20}})
    etcd = values_for(s)["etcd"]
    assert etcd["replicaCount"] == 5
    assert etcd["persistence"]["storageClass"] == "gp3" and etcd["persistence"]["size"] == "20Gi"
    assert etcd["autoCompactionMode"] == "revision" and etcd["autoCompactionRetention"] == "1000"
    env = {e["name"]: e["value"] for e in etcd["extraEnvVars"]}
    # The chart's own two entries must survive Helm's list replacement.
    assert env == {"ETCD_QUOTA_BACKEND_BYTES": str(6 * GIB), "ETCD_HEARTBEAT_INTERVAL": "500",
                   "ETCD_ELECTION_TIMEOUT": "2500"}
    assert etcd["pdb"] == {"create": True, "minAvailable": 3}


# ---------------------------------------------------------------------------------------------- placement


ROLE_OF = {"mixCoordinator": "mixCoordinator", "proxy": "proxy", "queryNode": "queryNode", "dataNode": "dataNode",
           "streamingNode": "streamingNode", "etcd": "etcd", "woodpecker": "messageQueue"}


def test_every_component_lands_on_the_pool_of_its_role(stack: str):
    s = settings_for(stack)
    v = values_for(s)
    for key, role in ROLE_OF.items():
        pool = s.pool_for(role)
        assert v[key]["nodeSelector"] == {POOL_LABEL: pool}, key
        assert v[key]["tolerations"] == pool_tolerations(s.node_pools[pool]), key
    # prod spreads the roles over distinct pools, so a wrong lookup cannot pass by accident
    if stack == "prod":
        assert v["queryNode"]["nodeSelector"] != v["proxy"]["nodeSelector"]


def test_query_nodes_one_per_node_and_spread_over_zones(stack: str):
    v = values_for(settings_for(stack))
    labels = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "milvus", "component": "querynode"}
    (term,) = v["queryNode"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term == {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": labels}}
    (zone,) = v["queryNode"]["topologySpreadConstraints"]
    assert zone["topologyKey"] == "topology.kubernetes.io/zone" and zone["labelSelector"]["matchLabels"] == labels
    for component, label in (("mixCoordinator", "mixcoord"), ("proxy", "proxy"), ("streamingNode", "streamingnode")):
        keys = {c["topologyKey"] for c in v[component]["topologySpreadConstraints"]}
        assert "topology.kubernetes.io/zone" in keys
        assert all(c["labelSelector"]["matchLabels"]["component"] == label
                   for c in v[component]["topologySpreadConstraints"])


def test_resource_groups_use_replica_resource_groups():
    s = settings_for("prod")
    v = values_for(s, resource_groups=("rga", "rgb"), query_node_replicas=3, streaming_node_replicas=2)
    assert v["replicaResourceGroups"] == ["rga", "rgb"]
    assert v["queryNode"]["replicas"] == 3 and v["streamingNode"]["replicas"] == 2
    assert "replicaResourceGroups" not in values_for(s, resource_groups=())


# ---------------------------------------------------------------------------------------------- sizing


def test_query_node_fills_its_node_minus_daemonsets_and_disk_reserve():
    s = settings_for("prod")
    node = load_catalog()["r6id.4xlarge"]
    r = mv.query_node_resources(s)
    assert r["requests"] == r["limits"]
    assert parse_quantity(r["limits"]["memory"]) == node.alloc_memory_bytes - mv.DAEMONSET_OVERHEAD_MEMORY_BYTES
    assert parse_quantity(r["limits"]["cpu"]) * 1000 == node.alloc_millicpu - mv.DAEMONSET_OVERHEAD_MILLICPU
    expected = int(Decimal(node.nvme_bytes) * Decimal("0.85")) - 30 * GIB
    assert r["limits"]["ephemeral-storage"] == f"{expected // GIB}Gi" == "722Gi"
    q = values_for(s)["queryNode"]
    assert q["disk"] == {"enabled": True, "size": {"enabled": True}}  # LOCAL_STORAGE_SIZE from the limit
    assert q["resources"] == r


def test_configured_query_node_resources_win():
    s = settings_for("dev", {"components": {"queryNode": {"resources": {"limits": {"memory": "20Gi"}}}}})
    r = mv.query_node_resources(s)
    assert r["limits"]["memory"] == "20Gi"
    assert r["requests"]["memory"] != "20Gi"


def test_non_nvme_query_pool_sizes_disk_from_the_root_volume_and_skips_mmap():
    s = settings_for("dev", {"components": {}},  # the query node sized from its node, not dev's pin
                     pools={"milvus": {"instanceTypes": ["m7i.2xlarge"], "nvme": False, "rootVolumeGb": 100}})
    r = mv.query_node_resources(s)
    assert r["limits"]["ephemeral-storage"] == f"{(int(100 * GIB * Decimal('0.85')) - 30 * GIB) // GIB}Gi"
    assert yaml.safe_load(values_for(s)["extraConfigFiles"]["user.yaml"])["queryNode"]["mmap"] == {
        "vectorField": False, "vectorIndex": False}


NVME_TYPES = sorted(t.name for t in load_catalog().values() if t.nvme and t.alloc_memory_mib * MIB > 4 * GIB
                    and t.local_nvme_gb >= 100)


@hyp_settings(max_examples=40, deadline=None)
@given(st.sampled_from(NVME_TYPES))
def test_query_node_always_fits_its_node(instance_type: str):
    # Bypasses the planner's cross-key checks: only the query node's fit on one node is under test here.
    base = settings_for("prod")
    query = base.node_pools["query"].model_copy(update={"instance_types": (instance_type,)})
    pools = {**base.node_pools, "query": query}
    s = base.model_copy(update={"node_pools": pools})
    node = load_catalog()[instance_type]
    r = mv.query_node_resources(s)["limits"]
    assert 0 < parse_quantity(r["memory"]) <= node.alloc_memory_bytes
    assert 0 < parse_quantity(r["cpu"]) * 1000 <= node.alloc_millicpu
    assert GIB <= parse_quantity(r["ephemeral-storage"]) <= node.nvme_bytes * Decimal("0.85")


def test_defaults_and_overrides_for_other_components():
    s = settings_for("dev", {"components": {"proxy": {"resources": {"requests": {"cpu": "3"}}}}})
    v = values_for(s)
    assert v["proxy"]["resources"]["requests"] == {**mv.DEFAULT_RESOURCES["proxy"]["requests"], "cpu": "3"}
    assert v["dataNode"]["resources"] == mv.DEFAULT_RESOURCES["dataNode"]
    for component in ("mixCoordinator", "proxy", "dataNode", "streamingNode"):
        assert set(v[component]["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}


def test_mmap_follows_nvme_and_the_setting():
    on = yaml.safe_load(values_for(settings_for("prod"))["extraConfigFiles"]["user.yaml"])
    assert on["queryNode"]["mmap"] == {"vectorField": True, "vectorIndex": True}
    off = yaml.safe_load(values_for(settings_for("prod", {"mmap": False}))["extraConfigFiles"]["user.yaml"])
    assert off["queryNode"]["mmap"] == {"vectorField": False, "vectorIndex": False}


# ---------------------------------------------------------------------------------------------- availability


def test_rollouts_never_go_to_zero(stack: str):
    s = settings_for(stack)
    for qn in (1, 3):
        v = values_for(s, query_node_replicas=qn)
        for component in ("proxy", "queryNode", "dataNode", "streamingNode"):
            update = v[component]["strategy"]["rollingUpdate"]
            assert update["maxSurge"] >= 1 or update["maxUnavailable"] < v[component]["replicas"], component


def test_mixcoord_strategy_only_with_active_standby():
    assert "strategy" not in values_for(settings_for("dev"))["mixCoordinator"]  # chart forces Recreate
    prod = values_for(settings_for("prod"))["mixCoordinator"]
    assert prod["activeStandby"] == {"enabled": True} and prod["replicas"] == 2
    assert prod["strategy"] == mv.NEVER_BELOW_REPLICAS


def test_pdbs_for_multi_pod_components_select_chart_labels():
    s = settings_for("prod")
    pods = mv.pods_per_component(s, 2, 1, ("rga", "rgb"))
    assert pods == {"mixCoordinator": 2, "proxy": 3, "queryNode": 4, "dataNode": 2, "streamingNode": 2}
    pdbs = {p["metadata"]["name"]: p for p in mv.pdb_manifests("milvus", "milvus", pods)}
    assert set(pdbs) == {"milvus-mixcoord", "milvus-proxy", "milvus-querynode", "milvus-datanode",
                         "milvus-streamingnode"}
    qn = pdbs["milvus-querynode"]["spec"]
    assert qn == {"maxUnavailable": 1, "selector": {"matchLabels": {
        "app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "milvus", "component": "querynode"}}}
    assert mv.pdb_manifests("milvus", "milvus", {"proxy": 1, "queryNode": 1}) == []


# ---------------------------------------------------------------------------------------------- security


def test_auth_and_root_password_from_the_secret(stack: str):
    v = values_for(settings_for(stack))
    assert yaml.safe_load(v["extraConfigFiles"]["user.yaml"])["common"]["security"]["authorizationEnabled"] is True
    env = {e["name"]: e for e in v["mixCoordinator"]["extraEnv"]}
    assert env["COMMON_SECURITY_DEFAULTROOTPASSWORD"] == {
        "name": "COMMON_SECURITY_DEFAULTROOTPASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "milvus-root-credentials", "key": "password"}}}
    off = values_for(settings_for(stack, {"authorization": False}))
    assert yaml.safe_load(off["extraConfigFiles"]["user.yaml"])["common"]["security"]["authorizationEnabled"] is False


def test_root_password_env_maps_to_the_config_key():
    # Milvus' env formatter and config key formatter (lower-case, drop '_' '.' '/') must meet on the same key.
    def milvus_format(key: str) -> str:
        return key.lower().replace("/", "").replace("_", "").replace(".", "")
    assert milvus_format(mv.ROOT_PASSWORD_ENV) == milvus_format("common.security.defaultRootPassword")


def test_service_is_cluster_ip_or_an_internal_nlb_limited_to_allowed_cidrs():
    assert values_for(settings_for("dev"))["service"] == {"type": "ClusterIP"}
    assert mv.load_balancer_service_manifest(settings_for("dev")) is None
    # The chart's Service stays ClusterIP; the NLB is the program's own Service with externalTrafficPolicy Local, so
    # the proxy sees client addresses, not the node address kube-proxy would put there (3d704d9: chart's Service,
    # policy Cluster).
    assert values_for(settings_for("prod"))["service"] == {"type": "ClusterIP"}
    svc = mv.load_balancer_service_manifest(settings_for("prod"))
    assert svc["spec"]["type"] == "LoadBalancer" and svc["spec"]["externalTrafficPolicy"] == "Local"
    assert svc["spec"]["selector"] == mv.pod_labels("milvus", "proxy")
    assert svc["spec"]["loadBalancerSourceRanges"] == ["10.50.0.0/16"]
    assert svc["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-internal"] == "true"
    assert svc["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"


def _policies(s) -> dict[str, dict]:
    return {p["metadata"]["name"]: p["spec"] for p in mv.network_policy_manifests(s)}


def test_network_policies():
    s = settings_for("prod", {"service": {"type": "ClusterIP", "allowedNamespaces": ["apps"],
                                          "allowedCidrs": ["10.50.0.0/16"]}})
    policies = _policies(s)
    assert policies["milvus-default-deny"] == {"policyTypes": ["Ingress", "Egress"], "podSelector": {}}
    same = policies["milvus-allow-same-namespace"]
    assert same["podSelector"] == {"matchExpressions": [
        {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["etcd"]}]}
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}]
    proxy = policies["milvus-allow-proxy-clients"]
    assert proxy["podSelector"]["matchLabels"]["component"] == "proxy"
    (rule,) = proxy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 19530}]
    pod_subnets = list(mv.pod_subnets(s))
    assert {json.dumps(f, sort_keys=True) for f in rule["from"]} == {json.dumps(f, sort_keys=True) for f in [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "milvus"}}},
        {"ipBlock": {"cidr": "10.50.0.0/16", "except": pod_subnets}}]}
    (metrics,) = policies["milvus-allow-metrics"]["ingress"]
    assert metrics == {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                                 "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}],
                       "ports": [{"protocol": "TCP", "port": 9091}]}


def _admits(peer: dict, ip: str) -> bool:
    block = peer.get("ipBlock")
    if not block:
        return False
    addr = ipaddress.IPv4Address(ip)
    return addr in ipaddress.IPv4Network(block["cidr"]) and not any(
        addr in ipaddress.IPv4Network(e) for e in block.get("except", []))


def test_client_cidrs_never_admit_a_pod_address():
    # prod admits its VPC (10.50.0.0/16); on 3d704d9 that ipBlock covered every pod address (VPC CNI), so any pod
    # of any namespace reached the proxy and allowedNamespaces restricted nothing.
    s = settings_for("prod")
    (rule,) = _policies(s)["milvus-allow-proxy-clients"]["ingress"]
    for subnet in mv.pod_subnets(s):
        pod_ip = str(next(ipaddress.IPv4Network(subnet).hosts()))
        assert not any(_admits(peer, pod_ip) for peer in rule["from"]), pod_ip
    public = plan_subnets(s.network.vpc_cidr, s.network.az_count).public[0]
    assert any(_admits(peer, str(next(ipaddress.IPv4Network(public).hosts()))) for peer in rule["from"])


def test_a_client_cidr_inside_a_pod_subnet_is_refused():
    pod_subnet = plan_subnets("10.50.0.0/16", 3).private[0]
    with pytest.raises(ConfigError) as err:
        settings_for("prod", {"service": {"type": "internalNlb", "allowedCidrs": [pod_subnet]}})
    assert err.value.paths() == ["milvus.service.allowedCidrs[0]"]
    assert "allowedNamespaces" in str(err.value)


def test_etcd_admits_only_milvus_its_peers_and_prometheus():
    s = settings_for("prod")
    policies = _policies(s)
    etcd = {"app.kubernetes.io/name": "etcd", "app.kubernetes.io/instance": "milvus"}
    selecting_etcd = {n for n, p in policies.items() if "ingress" in p and (
        p["podSelector"].get("matchLabels") == etcd or p["podSelector"] == {})}
    # 3d704d9: allow-same-namespace (every pod of the namespace) and allow-etcd-metrics (every pod of monitoring).
    assert selecting_etcd == {"milvus-allow-etcd-clients", "milvus-allow-etcd-metrics"}
    clients = policies["milvus-allow-etcd-clients"]["ingress"]
    assert [peer["podSelector"]["matchLabels"] for rule in clients for peer in rule["from"]] == [
        {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "milvus"}, etcd]
    (metrics,) = policies["milvus-allow-etcd-metrics"]["ingress"]
    (peer,) = metrics["from"]
    assert peer["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
    assert metrics["ports"] == [{"protocol": "TCP", "port": 2379}]


def test_egress_is_denied_by_default_and_opened_per_path():
    for binding in ("irsa", "podIdentity"):
        s = settings_for("prod", {"serviceAccountBinding": binding})
        policies = _policies(s)
        egress = {n: p for n, p in policies.items() if "Egress" in p["policyTypes"]}
        assert egress["milvus-default-deny"]["podSelector"] == {} and "egress" not in egress["milvus-default-deny"]
        dns = egress["milvus-allow-egress-dns-and-namespace"]["egress"]
        assert {"protocol": "UDP", "port": 53} in dns[0]["ports"]
        https = egress["milvus-allow-egress-https"]["egress"]
        assert https[0] == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
        agent = [r for r in https if r["to"] == [{"ipBlock": {"cidr": "169.254.170.23/32"}}]]
        assert bool(agent) is (binding == "podIdentity")


def test_etcd_requires_authentication_and_milvus_logs_in():
    v = values_for(settings_for("prod"))
    rbac = v["etcd"]["auth"]["rbac"]
    # 3d704d9 left the chart's `auth.rbac.create: false`: any client that reached 2379 could rewrite the metadata.
    assert rbac["create"] is True and rbac["allowNoneAuthentication"] is False
    assert rbac["existingSecret"] == mv.root_secret_name("milvus")
    assert rbac["existingSecretPasswordKey"] == mv.ETCD_PASSWORD_KEY
    user = yaml.safe_load(v["extraConfigFiles"]["user.yaml"])
    assert user["etcd"]["auth"] == {"enabled": True, "userName": "root"}
    assert "password" not in user["etcd"]["auth"]
    for component in mv.COMPONENTS:
        env = {e["name"]: e for e in v[component]["extraEnv"]}
        assert env["ETCD_AUTH_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": mv.root_secret_name("milvus"), "key": mv.ETCD_PASSWORD_KEY}
    secret = mv.root_secret_manifest("milvus", "milvus", "p1", "p2")
    assert secret["stringData"][mv.ETCD_PASSWORD_KEY] == "p2"


def test_etcd_password_env_maps_to_the_config_key():
    def milvus_format(key: str) -> str:
        return key.lower().replace("/", "").replace("_", "").replace(".", "")
    assert milvus_format(mv.ETCD_PASSWORD_ENV) == milvus_format("etcd.auth.password")


def test_milvus_and_etcd_pods_meet_pod_security_restricted(stack: str):
    v = values_for(settings_for(stack))
    pod, container = v["securityContext"], v["containerSecurityContext"]
    # 3d704d9: no securityContext at all (root, privilege escalation, default capabilities, no seccomp).
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["allowPrivilegeEscalation"] is False and container["capabilities"] == {"drop": ["ALL"]}
    for component in mv.COMPONENTS:  # no per-component override shadows the global one (T/*-deployment.yaml)
        assert "securityContext" not in v[component] and "containerSecurityContext" not in v[component]
    assert {"name": "milvus-data-root", "mountPath": "/var/lib/milvus"} in v["volumeMounts"]
    etcd_pod, etcd_container = v["etcd"]["podSecurityContext"], v["etcd"]["containerSecurityContext"]
    assert etcd_pod["enabled"] and etcd_pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert etcd_container["runAsNonRoot"] is True and etcd_container["allowPrivilegeEscalation"] is False
    assert etcd_container["capabilities"] == {"drop": ["ALL"]}


def test_namespace_enforces_restricted_where_every_pod_is_ours():
    labels = mv.namespace_manifest(settings_for("prod"))["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"  # 3d704d9: baseline
    pulsar = mv.namespace_manifest(settings_for("prod", {"messageQueue": "pulsar"}))["metadata"]["labels"]
    assert pulsar["pod-security.kubernetes.io/enforce"] == "baseline"
    assert pulsar["pod-security.kubernetes.io/warn"] == "restricted"


def test_bucket_role_policy_names_only_the_bucket():
    doc = json.loads(mv.bucket_access_policy("arn:aws:s3:::b1"))
    resources = {r for stmt in doc["Statement"] for r in ([stmt["Resource"]] if isinstance(stmt["Resource"], str)
                                                         else stmt["Resource"])}
    assert resources == {"arn:aws:s3:::b1", "arn:aws:s3:::b1/*"}
    actions = {a for stmt in doc["Statement"] for a in stmt["Action"]}
    assert {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= actions
    assert not any("*" in a for a in actions)


def test_bucket_policy_refuses_plain_http():
    (stmt,) = json.loads(mv.tls_only_bucket_policy("arn:aws:s3:::b1"))["Statement"]
    assert stmt["Effect"] == "Deny" and stmt["Principal"] == "*"
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert stmt["Resource"] == ["arn:aws:s3:::b1", "arn:aws:s3:::b1/*"]


def test_irsa_trust_is_limited_to_the_service_account():
    doc = json.loads(irsa_trust_policy("arn:aws:iam::1:oidc-provider/x", "https://oidc.eks/id/ABC", "ns", "sa"))
    (stmt,) = doc["Statement"]
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Condition"]["StringEquals"] == {"oidc.eks/id/ABC:sub": "system:serviceaccount:ns:sa",
                                                 "oidc.eks/id/ABC:aud": "sts.amazonaws.com"}


@pytest.mark.parametrize("release, name", [("milvus", "milvus"), ("search", "search-milvus"),
                                           ("my-milvus-prod", "my-milvus-prod")])
def test_fullname_follows_the_chart(release: str, name: str):
    assert mv.fullname(release) == name
    assert mv.endpoint(release, "ns") == f"{name}.ns.svc.cluster.local:19530"


def test_autoscaled_proxies_use_the_charts_hpa_and_count_at_their_maximum():
    s = settings_for("prod")
    scaling = s.milvus.components.proxy.autoscaling
    assert scaling.enabled
    proxy = values_for(s)["proxy"]
    # The chart renders its HPA from these keys (charts/milvus/templates/proxy-hpa.yaml) and drops the Deployment's
    # replica count for a negative value (proxy-deployment.yaml: `if ge (int .Values.proxy.replicas) 0`).
    assert proxy["hpa"] == {"enabled": True, "minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas,
                            "cpuUtilization": scaling.cpu_utilization}
    assert proxy["replicas"] == -1
    from render.bundle import build
    from render.workloads import workloads

    plan = sizing.plan(s)
    objects = [o.obj for o in build(s, plan).objects if not o.crd]
    # The chart renders the HPA and a Deployment without replicas; the inventory counts the HPA's maximum.
    (hpa,) = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "milvus-proxy" and hpa["spec"]["maxReplicas"] == 9
    (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "milvus-proxy"]
    assert "replicas" not in deployment["spec"]
    (proxies,) = [w for w in workloads(objects, {}) if w.name == "milvus-proxy"]
    assert proxies.replicas == scaling.max_replicas
    assert mv.pods_per_component(s, plan.query_node_replicas, plan.streaming_node_replicas,
                                 plan.resource_groups)["proxy"] == scaling.min_replicas  # the PDB's floor
    fixed = values_for(settings_for("dev"))["proxy"]
    assert "hpa" not in fixed and fixed["replicas"] >= 1
