"""Stack-file validation: a table of one-key mutations of the dev baseline, each asserting on the structured error."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from stacks.config import StackConfigError
from stacks.errors import ConfigError
from stacks.validation import load_settings
from tests.conftest import as_engine_config, stack_document
from tools.offline import run_program


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """Mutation that sets `milvus-eks:<top>.<a>.<b>` (list indexes as integers) to `value`."""
    top, *rest = path.split(".")

    def mutate(config: dict) -> None:
        key = top if ":" in top else f"milvus-eks:{top}"
        if not rest:
            config[key] = value
            return
        node = config.setdefault(key, {})
        for part in rest[:-1]:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        last = rest[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return mutate


def _delete(key: str) -> Callable[[dict], None]:
    return lambda config: config.pop(key)


MUTATIONS = [
    # (id, mutation, expected key path, fragments of the message)
    ("unknown-top-key", _set("milvus-eks:netwrok", {}), "netwrok", ["did you mean 'network'"]),
    ("unknown-nested-key", _set("network.natGateway", "single"), "network.natGateway", ["did you mean 'natGateways'"]),
    ("unknown-pool-key", _set("nodePools.milvus.instanceType", ["m6id.large"]), "nodePools.milvus.instanceType",
     ["did you mean 'instanceTypes'"]),
    ("wrong-type-int", _set("network.azCount", "two"), "network.azCount", ["whole number", '"two"']),
    ("wrong-type-string", _set("cluster.kubernetesVersion", 1.33), "cluster.kubernetesVersion", ["string", "1.33"]),
    ("wrong-type-list", _set("nodePools.milvus.roles", "queryNode"), "nodePools.milvus.roles", ["list"]),
    ("wrong-type-bool", _set("nodePools.milvus.nvme", "yes"), "nodePools.milvus.nvme", ["true or false"]),
    ("fewer-than-2-azs", _set("network.azCount", 1), "network.azCount", ["greater than or equal to 2", "got 1"]),
    ("out-of-range-hop", _set("nodePools.system.metadataHopLimit", 0), "nodePools.system.metadataHopLimit",
     ["greater than or equal to 1"]),
    ("bad-enum", _set("network.natGateways", "many"), "network.natGateways", ['"many"', "'single'", "'perAz'"]),
    ("min-gt-max", _set("nodePools.system.minSize", 5), "nodePools.system.minSize", ["5", "maxSize 3"]),
    ("desired-outside", _set("nodePools.system.desiredSize", 9), "nodePools.system.desiredSize", ["9", "2..3"]),
    ("unknown-instance-type", _set("nodePools.milvus.instanceTypes", ["r6idd.large"]),
     "nodePools.milvus.instanceTypes[0]", ["r6idd.large", "did you mean r6id.large"]),
    ("non-nvme-in-nvme-pool", _set("nodePools.milvus.instanceTypes", ["m6id.2xlarge", "m7i.2xlarge"]),
     "nodePools.milvus.instanceTypes[1]", ["m7i.2xlarge", "no local NVMe", "nvme: false"]),
    ("mixed-arch", _set("nodePools.milvus.instanceTypes", ["m6id.2xlarge", "m6gd.2xlarge"]),
     "nodePools.milvus.instanceTypes", ["amd64", "arm64", "single architecture"]),
    ("bad-taint-effect", _set("nodePools.milvus.taints.0.effect", "NoSchedule"),
     "nodePools.milvus.taints[0].effect", ['"NoSchedule"', "'NO_SCHEDULE'"]),
    ("bad-taint-key", _set("nodePools.milvus.taints.0.key", "milvus eks/pool"), "nodePools.milvus.taints[0].key",
     ["milvus eks"]),
    ("bad-label-key", _set("nodePools.system.labels", {"team name": "search"}), "nodePools.system.labels.team name",
     ["label key"]),
    ("label-value-too-long", _set("nodePools.system.labels", {"team": "x" * 64}), "nodePools.system.labels.team",
     ["at most 63"]),
    ("bad-pool-name", _set("nodePools.Query_Pool", {"instanceTypes": ["m7i.large"], "roles": ["proxy"]}),
     "nodePools.Query_Pool", ["not a Kubernetes name"]),
    ("bad-namespace", _set("milvus.namespace", "Milvus"), "milvus.namespace", ["'Milvus'", "RFC 1123"]),
    ("namespace-too-long", _set("milvus.namespace", "m" * 64), "milvus.namespace", ["63"]),
    ("bad-cidr", _set("network.vpcCidr", "10.40.0.0/33"), "network.vpcCidr", ["IPv4 CIDR"]),
    ("vpc-too-small", _set("network.vpcCidr", "10.40.0.0/26"), "network.vpcCidr", ["/26", "/16 to /22"]),
    ("open-endpoint", _set("cluster.endpoint.publicAccessCidrs", ["0.0.0.0/0"]),
     "cluster.endpoint.publicAccessCidrs[0]", ["whole internet", "allowAnyPublicCidr"]),
    ("public-without-cidrs", _set("cluster.endpoint.publicAccessCidrs", []), "cluster.endpoint.publicAccessCidrs",
     ["0.0.0.0/0"]),
    ("role-hosted-twice", _set("nodePools.system.roles", ["system", "monitoring", "proxy"]), "nodePools",
     ["'proxy'", "system", "milvus"]),
    ("role-missing", _set("nodePools.milvus.roles", ["mixCoordinator", "proxy", "dataNode", "streamingNode", "etcd",
                                                      "messageQueue"]), "nodePools", ["'queryNode'"]),
    ("bad-admin-arn", _set("cluster.adminPrincipals", ["platform-admin"]), "cluster.adminPrincipals[0]",
     ["IAM role or user ARN"]),
    ("bad-quantity", _set("milvus.components.proxy.resources.limits.memory", "2GB"),
     "milvus.components.proxy.resources.limits.memory", ["'2GB'", "4Gi"]),
    ("standby-one-replica", _set("milvus.components.mixCoordinator.activeStandby", True),
     "milvus.components.mixCoordinator.replicas", ["at least 2"]),
    ("coordinators-without-standby", _set("milvus.components.mixCoordinator.replicas", 2),
     "milvus.components.mixCoordinator.replicas", ["activeStandby: true"]),
    ("nlb-without-cidrs", _set("milvus.service", {"type": "internalNlb"}), "milvus.service.allowedCidrs",
     ["internalNlb", "client CIDRs"]),
    ("backup-bad-schedule", _set("milvus.backup.schedule", "0 2 * *"), "milvus.backup.schedule",
     ["4 fields", "five"]),
    ("backup-schedule-out-of-range", _set("milvus.backup.schedule", "0 25 * * *"), "milvus.backup.schedule",
     ["hour value 25", "0-23"]),
    ("backup-retention-shorter-than-gap", _set("milvus.backup.schedule", "0 2 * * 0"),
     "milvus.backup.retentionDays", ["3 day(s)", "7 days", "at least 7"]),
    ("backup-prefix-is-milvus-folder", _set("milvus.backup.prefix", "milvus"), "milvus.backup.prefix",
     ["'milvus'", "release name"]),
    ("backup-with-minio", _set("milvus.objectStorage", "minio"), "milvus.backup.enabled",
     ["objectStorage: s3", "backup.enabled: false"]),
    ("missing-region", _delete("aws:region"), "aws:region", ["pulumi config set aws:region"]),
    ("missing-pools", _delete("milvus-eks:nodePools"), "nodePools", ["required"]),
    # The sizing planner (stacks/sizing.py).
    ("plan-exceeds-pool", _set("topology.collections.0.vectors", 100_000_000), "nodePools.milvus.maxSize",
     ["query nodes", "maxSize is 4", "raise it to"]),
    ("too-many-shards", _set("topology.collections.0.shards", 17), "topology.collections[0].shards",
     ["17 shards", "maxShardNum 16"]),
    ("hnsw-m-out-of-range", _set("topology.collections.0.index.params.M", 1), "topology.collections[0].index.params",
     ["M 1", "2..2048"]),
    ("unknown-index-param", _set("topology.collections.0.index.params.nlist", 128),
     "topology.collections[0].index.params", ["unknown HNSW parameter 'nlist'"]),
    ("undeclared-resource-group", _set("topology.collections.0.resourceGroups", ["rg-x"]),
     "topology.collections[0].resourceGroups", ["'rg-x'", "topology.resourceGroups"]),
    ("groups-not-matching-replicas", _set("topology.collections.0", {
        "name": "docs", "dim": 768, "vectors": 1000, "replicas": 3, "resourceGroups": ["rg-a", "rg-b"]}),
     "topology.collections[0].resourceGroups", ["2 groups for 3 replicas"]),
    ("segment-cannot-load", _set("topology.collections.0.segmentSizeMb", 16384),
     "topology.collections[0].segmentSizeMb", ["16384 MiB", "loadMemoryUsageFactor 2", "m6id.2xlarge"]),
]


@pytest.mark.parametrize("mutation,path,fragments", [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_mutation_fails_before_any_resource_with_the_key_named(mutation, path, fragments):
    config = stack_document("dev")
    mutation(config)
    with pytest.raises(StackConfigError) as caught:
        run_program("dev", config=as_engine_config(config))
    assert caught.value.registered == [], "a rejected stack must not register anything"
    matching = [p for p in caught.value.problems if p.path == path]
    assert matching, f"no problem at {path}: {caught.value}"
    for fragment in fragments:
        assert any(fragment in p.message for p in matching), f"{fragment!r} missing from {matching}"
    rendered = str(caught.value)
    full_key = path if ":" in path else f"milvus-eks:{path}"
    assert f"{full_key}: " in rendered


def test_every_problem_is_reported_at_once():
    config = stack_document("dev")
    # A pool that fails to parse (bad taint) must not hide the cross-key problems of another pool (min > max).
    for _, mutation, *_ in (MUTATIONS[0], MUTATIONS[7], MUTATIONS[10], MUTATIONS[15]):
        mutation(config)
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("milvus-eks:")}
    with pytest.raises(ConfigError) as caught:
        load_settings(raw, "us-west-2")
    paths = set(caught.value.paths())
    assert {"netwrok", "network.azCount", "nodePools.milvus.taints[0].effect",
            "nodePools.system.minSize"} <= paths
    assert str(caught.value).startswith(f"the stack configuration has {len(caught.value.problems)} problems")


def test_defaults_are_declared_once_and_apply():
    settings = load_settings({"nodePools": {"all": {
        "instanceTypes": ["m6id.2xlarge"], "nvme": True,
        "roles": ["system", "monitoring", "mixCoordinator", "proxy", "queryNode", "dataNode", "streamingNode",
                  "etcd", "messageQueue"]}}}, "eu-west-1")
    assert settings.network.az_count == 3 and settings.network.nat_gateways == "perAz"
    assert settings.cluster.secrets_encryption is True
    assert settings.cluster.endpoint.public_access is False
    assert settings.milvus.message_queue == "woodpecker" and settings.milvus.object_storage == "s3"
    assert settings.node_pools["all"].metadata_hop_limit == 1
    with pytest.raises(Exception):
        settings.network.az_count = 4  # frozen


def test_a_malformed_key_does_not_hide_the_pools_instance_type_problems():
    config = stack_document("dev")
    _set("nodePools.milvus.taints.0.effect", "NoSchedule")(config)
    _set("nodePools.milvus.instanceTypes", ["m6id.2xlarge", "m7i.xlarge"])(config)
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("milvus-eks:")}
    with pytest.raises(ConfigError) as caught:
        load_settings(raw, "us-west-2")
    assert set(caught.value.paths()) == {"nodePools.milvus.taints[0].effect", "nodePools.milvus.instanceTypes[1]"}
