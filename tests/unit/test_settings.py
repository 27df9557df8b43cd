"""Stack-file validation: a table of one-key mutations of the dev baseline, each asserting on the structured error."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

from stacks.config import StackConfigError
from stacks.errors import ConfigError
from stacks.validation import load_settings, load_stack_config
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
    # Provider and API name rules, computed where the names are built (render/naming.py).
    ("pool-name-breaks-prefix", _set("nodePools.query-pools-for-search", {"instanceTypes": ["m7i.large"],
                                                                           "roles": ["monitoring"]}),
     "nodePools.query-pools-for-search", ["name prefix", "is 38 characters", "shorten it to at most 21"]),
    ("pool-name-50", _set("nodePools." + "p" * 50, {"instanceTypes": ["m7i.large"], "roles": ["monitoring"]}),
     "nodePools." + "p" * 50, ["is 66 characters"]),
    ("helm-release-too-long", _set("milvus.releaseName", "m" * 54), "milvus.releaseName",
     ["Helm release name", "at most 53"]),
    ("topology-job-name-too-long", _set("milvus.releaseName", "m" * 45), "milvus.releaseName",
     ["topology", "Kubernetes object name", "at most 63"]),
    # Namespaces.
    ("namespace-kube-system", _set("milvus.namespace", "kube-system"), "milvus.namespace", ["reserves"]),
    ("namespace-kube-public", _set("monitoring.namespace", "kube-public"), "monitoring.namespace", ["reserves"]),
    ("namespace-default", _set("quotas.extraNamespaces", ["default"]), "quotas.extraNamespaces[0]", ["reserves"]),
    ("namespace-shared", _set("monitoring.namespace", "milvus"), "monitoring.namespace",
     ["the same as milvus.namespace"]),
    # Topology.
    ("duplicate-collection", lambda c: c["milvus-eks:topology"]["collections"].append(
        {"name": "docs", "dim": 8, "vectors": 10}),
     "topology.collections[1].name", ["'default.docs' is already declared at topology.collections[0]"]),
    ("duplicate-resource-group", _set("topology.resourceGroups", [{"name": "rga"}, {"name": "rga"}]),
     "topology.resourceGroups[1].name", ["already declared"]),
    # Milvus refuses '-' in group names (internal/proxy/util.go ValidateResourceGroupName); the chart puts them
    # into Deployment names, which refuse '_' and capitals. Each message suggests a name both accept.
    ("resource-group-dash", _set("topology.resourceGroups", [{"name": "rg-a"}]), "topology.resourceGroups[0].name",
     ["'rg-a' is not a resource-group name", "Milvus allows only letters, digits and '_'", "e.g. 'rga'"]),
    ("resource-group-underscore", _set("topology.resourceGroups", [{"name": "rg_a"}]),
     "topology.resourceGroups[0].name", ["'rg_a'", "Deployment names", "e.g. 'rga'"]),
    ("resource-group-capitals", _set("topology.resourceGroups", [{"name": "RgA"}]), "topology.resourceGroups[0].name",
     ["'RgA'", "lowercase letters and digits", "e.g. 'rga'"]),
    ("resource-group-leading-digit", _set("topology.resourceGroups", [{"name": "1rg"}]),
     "topology.resourceGroups[0].name", ["starting with a letter", "e.g. 'rg'"]),
    ("collection-group-dash", lambda c: c["milvus-eks:topology"]["collections"][0].update(resourceGroups=["rg-a"]),
     "topology.collections[0].resourceGroups[0]", ["'rg-a' is not a resource-group name"]),
    # Values that silently change meaning.
    ("replicas-zero", _set("milvus.components.dataNode.replicas", 0), "milvus.components.dataNode.replicas",
     ["is 0", "at least 1"]),
    ("request-above-limit", _set("milvus.etcd.resources", {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}),
     "milvus.etcd.resources.requests.cpu", ["2 is above the limit 500m"]),
    ("zero-limit", _set("milvus.woodpecker.resources", {"limits": {"memory": "0"}}),
     "milvus.woodpecker.resources.limits.memory", ["is 0"]),
    ("default-request-above-default-limit", _set("quotas.defaultRequest", {"cpu": "2"}),
     "quotas.defaultRequest.cpu", ["above quotas.defaultLimit.cpu 500m"]),
    # Region and access.
    ("unknown-region", _set("aws:region", "mars-east-1"), "aws:region", ["unknown AWS region 'mars-east-1'"]),
    ("region-typo", _set("aws:region", "us-west2"), "aws:region", ["did you mean us-west-2?"]),
    ("region-list", _set("aws:region", ["us-west-2"]), "aws:region", ["must be a region name"]),
    ("split-open-ranges", _set("cluster.endpoint.publicAccessCidrs", ["0.0.0.0/1", "128.0.0.0/1"]),
     "cluster.endpoint.publicAccessCidrs", ["together cover 0.0.0.0/0"]),
    ("public-only-restricted", _set("cluster.endpoint.privateAccess", False), "cluster.endpoint.privateAccess",
     ["could not reach the API server", "privateAccess: true"]),
    ("system-pool-tainted", _set("nodePools.system.taints", [{"key": "a", "effect": "NO_EXECUTE"}]),
     "nodePools.system.taints", ["every pool is tainted", "CoreDNS"]),
    # Free text reaching templates.
    ("runbook-template", _set("monitoring.runbookUrl", "https://x/{{ .Labels }}"), "monitoring.runbookUrl",
     ["'{{'"]),
    ("image-tag-space", _set("milvus.imageTag", "v2.6 beta"), "milvus.imageTag", ["not an image tag"]),
    ("image-tag-slash", _set("milvus.imageTag", "milvusdb/milvus"), "milvus.imageTag", ["no spaces or '/'"]),
    # Credentials and provider keys.
    ("plaintext-secret", _set("aws:secretKey", "abc"), "aws:secretKey", ["pulumi config set --secret aws:secretKey"]),
    ("plaintext-token", _set("milvus-eks:apiToken", "abc"), "milvus-eks:apiToken", ["--secret"]),
    ("provider-key-ignored", _set("aws:skipCredentialsValidation", True), "aws:skipCredentialsValidation",
     ["is not applied", "own AWS provider"]),
    ("bad-allowed-accounts", _set("aws:allowedAccountIds", ["12345"]), "aws:allowedAccountIds",
     ["12-digit"]),
    # Library internals never leak into a key.
    ("database-mixed-case", _set("topology.collections.0.database", "Search"), "topology.collections[0].database",
     ["'Search' is not a Kubernetes name"]),
    # The sizing planner (stacks/sizing.py).
    ("plan-exceeds-pool", _set("topology.collections.0.vectors", 100_000_000), "nodePools.milvus.maxSize",
     ["query nodes", "maxSize is 4", "raise it to"]),
    ("too-many-shards", _set("topology.collections.0.shards", 17), "topology.collections[0].shards",
     ["17 shards", "maxShardNum 16"]),
    ("hnsw-m-out-of-range", _set("topology.collections.0.index.params.M", 1), "topology.collections[0].index.params",
     ["M 1", "2..2048"]),
    ("unknown-index-param", _set("topology.collections.0.index.params.nlist", 128),
     "topology.collections[0].index.params", ["unknown HNSW parameter 'nlist'"]),
    ("undeclared-resource-group", _set("topology.collections.0.resourceGroups", ["rgx"]),
     "topology.collections[0].resourceGroups", ["'rgx'", "topology.resourceGroups"]),
    ("groups-not-matching-replicas", _set("topology.collections.0", {
        "name": "docs", "dim": 768, "vectors": 1000, "replicas": 3, "resourceGroups": ["rga", "rgb"]}),
     "topology.collections[0].resourceGroups", ["2 groups for 3 replicas"]),
    ("segment-cannot-load", _set("topology.collections.0.segmentSizeMb", 16384),
     "topology.collections[0].segmentSizeMb", ["16384 MiB", "loadMemoryUsageFactor 2", "m6id.2xlarge"]),
    # Zone-failure modes and provisioners.
    ("bad-zone-failure", _set("topology.zoneFailure", "survive"), "topology.zoneFailure",
     ['"survive"', "'spread'", "'fullCapacity'", "'replicaPerZone'"]),
    ("renamed-survive-zone-loss", _set("topology.surviveZoneLoss", True), "topology.surviveZoneLoss",
     ["replaced by topology.zoneFailure", "zoneFailure: fullCapacity"]),
    ("replica-per-zone-without-groups", _set("topology.zoneFailure", "replicaPerZone"), "topology.zoneFailure",
     ["declares 0", "at least 2"]),
    ("replica-per-zone-on-a-managed-group", _set("topology.zoneFailure", "replicaPerZone"),
     "nodePools.milvus.provisioner", ["managedNodeGroup", "set provisioner: karpenter"]),
    ("bad-provisioner", _set("nodePools.milvus.provisioner", "autoscaler"), "nodePools.milvus.provisioner",
     ['"autoscaler"', "'managedNodeGroup'", "'karpenter'"]),
    ("hpa-and-fixed-proxies", _set("milvus.components.proxy", {"replicas": 2, "autoscaling": {"enabled": True}}),
     "milvus.components.proxy.replicas", ["autoscaling.enabled is true", "minReplicas"]),
    ("hpa-min-above-max", _set("milvus.components.proxy.autoscaling", {"minReplicas": 5, "maxReplicas": 3}),
     "milvus.components.proxy.autoscaling.minReplicas", ["5 is above maxReplicas 3"]),
    ("karpenter-on-the-system-pool", _set("nodePools.system.provisioner", "karpenter"),
     "nodePools.system.provisioner", ["Karpenter controller runs", "managedNodeGroup"]),
    # One binding for every workload role: the older key is read, but may not contradict the new one.
    ("bad-binding", _set("cluster.serviceAccountBinding", "IRSA"), "cluster.serviceAccountBinding",
     ['"IRSA"', "'podIdentity'", "'irsa'"]),
    ("bad-legacy-binding", _set("milvus.serviceAccountBinding", "pod-identity"), "milvus.serviceAccountBinding",
     ['"pod-identity"', "'podIdentity'"]),
    ("bindings-disagree", lambda c: (_set("cluster.serviceAccountBinding", "irsa")(c),
                                     _set("milvus.serviceAccountBinding", "podIdentity")(c)),
     "milvus.serviceAccountBinding", ["'podIdentity' but cluster.serviceAccountBinding is 'irsa'",
                                      "remove milvus.serviceAccountBinding"]),
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
    assert not any(internal in rendered for internal in ("function-after", "literal[", "Input should be"))


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
    settings = load_settings({"cluster": {"adminPrincipals": ["arn:aws:iam::123456789012:role/deploy"]},
                              "nodePools": {"all": {
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


@pytest.mark.parametrize("keys,expected", [
    ({}, "irsa"),
    ({"cluster": {"serviceAccountBinding": "podIdentity"}}, "podIdentity"),
    # A stack file written before the key moved keeps its meaning (and now binds Karpenter's role the same way).
    ({"milvus": {"serviceAccountBinding": "podIdentity"}}, "podIdentity"),
    ({"milvus": {"serviceAccountBinding": "irsa"}}, "irsa"),
    ({"cluster": {"serviceAccountBinding": "podIdentity"}, "milvus": {"serviceAccountBinding": "podIdentity"}},
     "podIdentity"),
])
def test_one_binding_for_every_workload_role(keys, expected):
    raw = {k.split(":", 1)[1]: v for k, v in stack_document("dev").items() if k.startswith("milvus-eks:")}
    for section, values in keys.items():
        raw[section] = {**raw.get(section, {}), **values}
    assert load_settings(raw, "us-west-2").service_account_binding == expected


def test_a_malformed_key_does_not_hide_the_pools_instance_type_problems():
    config = stack_document("dev")
    _set("nodePools.milvus.taints.0.effect", "NoSchedule")(config)
    _set("nodePools.milvus.instanceTypes", ["m6id.2xlarge", "m7i.xlarge"])(config)
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("milvus-eks:")}
    with pytest.raises(ConfigError) as caught:
        load_settings(raw, "us-west-2")
    assert set(caught.value.paths()) == {"nodePools.milvus.taints[0].effect", "nodePools.milvus.instanceTypes[1]"}


def _renamed(namespace: str) -> Callable[[dict], None]:
    def mutate(config: dict) -> None:
        for key in [k for k in config if k.startswith("milvus-eks:")]:
            config[key.replace("milvus-eks:", f"{namespace}:")] = config.pop(key)
    return mutate


@pytest.mark.parametrize("namespace,fragment", [("other-app", "belong to project 'other-app'"),
                                                ("milvus_eks", "did you mean 'milvus-eks'?")])
def test_a_foreign_or_misspelt_namespace_says_so_instead_of_nodepools_required(namespace, fragment):
    config = stack_document("dev")
    _renamed(namespace)(config)
    with pytest.raises(StackConfigError) as caught:
        run_program("dev", config=as_engine_config(config))
    assert f"{namespace}:nodePools" in caught.value.paths()
    assert all(fragment in p.message for p in caught.value.problems if p.path.startswith(namespace))
    assert "nodePools" not in caught.value.paths()


@pytest.mark.parametrize("stack,fragments", [
    ("Staging", ["the stack name 'Staging'", "S3 bucket name prefix 'milvus-eks-Staging-milvus-'", "lowercase"]),
    ("team_search", ["S3 bucket name prefix"]),
    ("search-platform-staging", ["S3 bucket name prefix", "at most 37", "pulumi stack init search-platf"]),
])
def test_a_stack_name_that_breaks_names_is_refused_with_the_names(stack, fragments):
    config = stack_document("dev")
    with pytest.raises(ConfigError) as caught:
        load_stack_config(config, stack)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message


def test_the_shipped_stacks_build_every_name_validation_checked():
    """A name a component builds through the Namer that validation did not build first would escape the checks."""
    import render.naming as naming
    from render.naming import planned_names

    built: list[str] = []
    original = naming.checked

    def recording(name, rule):
        built.append(name)
        return original(name, rule)

    config = stack_document("dev")
    settings = load_stack_config(config, "dev")
    planned = {p.build() for p in planned_names(settings, "dev", zones=("us-west-2a", "us-west-2b"))}
    naming.checked = recording
    try:
        run_program("dev")
    finally:
        naming.checked = original
    # The topology Job's name carries a content digest that only the render knows; its length is what counts.
    shapes = {re.sub(r"-topology-[0-9a-f]{10}$", "-topology-0000000000", name) for name in built}
    assert built and shapes <= planned, sorted(shapes - planned)


def test_the_engines_own_keys_and_encrypted_secrets_are_accepted():
    config = stack_document("dev") | {"pulumi:tags": {"team": "search"}, "aws:secretKey": {"secure": "v1:abc"}}
    assert load_stack_config(config, "dev").region == "us-west-2"
    # From the engine, a secret arrives decrypted; its key is what marks it secret.
    assert load_stack_config(stack_document("dev") | {"aws:token": "t"}, "dev", secret_keys={"aws:token"})
