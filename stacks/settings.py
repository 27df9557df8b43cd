"""The config contract: every key a stack file may set, its type, its default and what it means.

Stack files write camelCase keys under `milvus-eks:<topKey>`; the models here declare each key once with its
default. Field-level checks (types, ranges, syntax) live on the fields; checks across keys live in
`stacks.validation`. Models are frozen: the program never changes settings after loading them.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from stacks.thresholds import AlertThresholds
from stacks import versions
from stacks.quantity import parse_quantity

# Kubernetes syntax (k8s.io/apimachinery/pkg/util/validation).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|assumed-role)/[\w+=,.@/-]+$")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes name (RFC 1123 label: lowercase letters, digits and '-', "
            f"starting and ending alphanumeric, at most 63 characters)"
        )
    return value


# A resource group's name must satisfy Milvus (internal/proxy/util.go ValidateResourceGroupName: a letter or '_',
# then letters, digits, '_') and the chart, which appends it to the query and streaming node Deployment names and
# uses it as the label value milvus.io/resource-group (querynode-deployment.yaml:6,12 at chart 5.0.19): lowercase RFC 1123.
_RESOURCE_GROUP = re.compile(r"^[a-z][a-z0-9]*$")


def _resource_group_name(value: str) -> str:
    if len(value) > 63 or not _RESOURCE_GROUP.match(value):
        fix = re.sub(r"[^a-z0-9]", "", value.lower()).lstrip("0123456789")[:63] or "rga"
        raise ValueError(
            f"{value!r} is not a resource-group name both Milvus and Kubernetes accept: Milvus allows only "
            f"letters, digits and '_' and the chart puts the name into Deployment names (lowercase letters, digits "
            f"and '-'), so use lowercase letters and digits, starting with a letter, at most 63 characters "
            f"(e.g. {fix!r})"
        )
    return value


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise ValueError(f"label key prefix {prefix!r} must be a lowercase DNS subdomain of at most 253 characters")
    if len(name) > 63 or not _LABEL_NAME.match(name):
        raise ValueError(
            f"label key name {name!r} must be at most 63 characters of letters, digits, '-', '_' or '.', "
            f"starting and ending alphanumeric"
        )
    return value


def _label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(
            f"label value {value!r} must be empty or at most 63 characters of letters, digits, '-', '_' or '.', "
            f"starting and ending alphanumeric"
        )
    return value


def _ipv4_cidr(value: str) -> str:
    try:
        ipaddress.IPv4Network(value)
    except ValueError as err:
        raise ValueError(f"{value!r} is not an IPv4 CIDR such as 10.0.0.0/16 ({err})") from None
    return value


def _iam_arn(value: str) -> str:
    if not _IAM_ARN.match(value):
        raise ValueError(f"{value!r} is not an IAM role or user ARN (arn:aws:iam::123456789012:role/name)")
    return value


def _vendored(chart: str):
    def check(value: str) -> str:
        try:
            versions.chart_pin(chart, value)
        except LookupError as err:
            raise ValueError(str(err)) from None
        return value
    return AfterValidator(check)


def _quantity(value: str) -> str:
    parse_quantity(value)
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
ResourceGroupName = Annotated[str, AfterValidator(_resource_group_name)]
LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
Cidr = Annotated[str, AfterValidator(_ipv4_cidr)]
IamArn = Annotated[str, AfterValidator(_iam_arn)]
Quantity = Annotated[str, AfterValidator(_quantity)]


class Model(BaseModel):
    """camelCase in the stack file, snake_case in code; unknown keys and coercions are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
        use_attribute_docstrings=True,
    )


# ---------------------------------------------------------------------------------------------- network


class NetworkSettings(Model):
    vpc_cidr: Cidr = "10.40.0.0/16"
    """IPv4 range of the VPC; /16 to /22. Private subnets get the first half, public subnets a quarter."""
    az_count: int = Field(3, ge=2, le=6)
    """Availability zones to spread subnets and nodes over (EKS needs at least 2)."""
    nat_gateways: Literal["single", "perAz"] = "perAz"
    """`single`: one NAT gateway for all private subnets (cheap, one AZ's outage cuts egress); `perAz`: one each."""


# ---------------------------------------------------------------------------------------------- cluster


class EndpointSettings(Model):
    private_access: bool = True
    """Reach the API server from inside the VPC."""
    public_access: bool = False
    """Reach the API server from the internet, limited to `publicAccessCidrs`."""
    public_access_cidrs: tuple[Cidr, ...] = ()
    """Allow-list for public access: the egress CIDRs of whoever runs `pulumi` (CI runners, your office).
    0.0.0.0/0 is refused unless `allowAnyPublicCidr` is true."""
    private_access_cidrs: tuple[Cidr, ...] = ()
    """Networks allowed to the private endpoint (HTTPS to the cluster security group), e.g. the VPC or a peered
    network holding a self-hosted CI runner. Without it only the cluster's own nodes reach the private endpoint."""
    allow_any_public_cidr: bool = False
    """Opt-in for an API server open to the whole internet (throwaway dev clusters only)."""


LogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]


ServiceAccountBinding = Literal["podIdentity", "irsa"]


class ClusterSettings(Model):
    kubernetes_version: str = Field(versions.KUBERNETES_VERSION, pattern=r"^1\.(2[89]|3[0-7])$")
    """EKS Kubernetes minor version, e.g. "1.35"; node groups follow it. Must be in the EKS release calendar and
    have pinned add-on versions in `stacks/versions.py`; refused once past standard support under STANDARD."""
    endpoint: EndpointSettings = EndpointSettings()
    log_types: tuple[LogType, ...] = ("api", "audit", "authenticator")
    """Control-plane log types sent to CloudWatch."""
    secrets_encryption: bool = True
    """Envelope-encrypt Kubernetes Secrets with a customer-managed KMS key."""
    admin_principals: tuple[IamArn, ...] = ()
    """IAM roles/users granted cluster admin through EKS access entries: the only admins (the cluster creator gets
    no implicit admin). Must include the role that runs `pulumi up`, or the program cannot reach the cluster."""
    deletion_protection: bool = False
    """Refuse `pulumi destroy` of the EKS cluster (and protect it in Pulumi state)."""
    support_type: Literal["STANDARD", "EXTENDED"] = "STANDARD"
    """EKS version support policy. EXTENDED keeps an old Kubernetes version running past standard support at six
    times the control-plane price; API-created clusters default to it, so it is set explicitly."""
    storage_reclaim_policy: Literal["Retain", "Delete"] = "Retain"
    """Reclaim policy of the default gp3 StorageClass (etcd, Prometheus, Grafana volumes). Retain keeps the EBS
    volumes after `pulumi destroy` or a deleted claim; Delete removes them (throwaway stacks)."""
    service_account_binding: ServiceAccountBinding = "irsa"
    """How every workload role of the program reaches its pods: Milvus' S3 role, the backup and restore roles and the
    Karpenter controller's role, all through one mechanism. `irsa` (IAM roles for service accounts: the cluster's one
    IAM OIDC provider, a trust policy naming the namespace and service account, the `eks.amazonaws.com/role-arn`
    annotation) is what Milvus documents and what all its storage clients read (web identity token). `podIdentity`
    (EKS Pod Identity associations) needs every S3 client in Milvus (Go, C++ and Woodpecker) to accept the agent's
    link-local credentials endpoint; the Go client refused it before minio-go v7.0.70 (milvus-io/milvus#34910) and the
    others are unverified, so use it only with a Milvus image tested against it. The EKS add-ons (VPC CNI, EBS CSI
    driver) keep their Pod Identity associations either way."""


# ---------------------------------------------------------------------------------------------- node pools

Role = Literal[
    "system", "monitoring", "mixCoordinator", "proxy", "queryNode", "dataNode", "streamingNode", "etcd",
    "messageQueue", "minio",
]
"""What a pool hosts. Every role must be hosted by exactly one pool; `system` hosts add-ons such as CoreDNS."""

ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]


class Taint(Model):
    key: LabelKey
    """Taint key, Kubernetes label-key syntax."""
    value: LabelValue = ""
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]
    """EKS spelling of the taint effect."""


class NodePoolSettings(Model):
    instance_types: tuple[str, ...] = Field(min_length=1)
    """EC2 instance types, all of one CPU architecture; the first is the one sizing assumes."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    """SPOT is cheaper but nodes can be reclaimed with two minutes' notice; keep stateful roles on ON_DEMAND."""
    nvme: bool = False
    """Put kubelet, containerd and every emptyDir on the instance-store NVMe (RAID0); needs NVMe instance types."""
    roles: tuple[Role, ...] = Field(min_length=1)
    """What the pool hosts: system, monitoring, mixCoordinator, proxy, queryNode, dataNode, streamingNode, etcd,
    messageQueue, minio. Each role lives in exactly one pool; pods are placed by the pool's label and taints."""
    min_size: int = Field(1, ge=0, le=1000)
    """Fewest nodes; for the pool hosting query nodes, raised to the planned query-node count."""
    max_size: int = Field(3, ge=1, le=1000)
    """Most nodes; validation fails when the plan needs more."""
    desired_size: int | None = Field(None, ge=0, le=1000)
    """Node count (defaults to the planned count or `minSize`). Every `pulumi up` sets it: no autoscaler owns the
    managed node groups, so min, desired and max always come from the plan together."""
    labels: dict[LabelKey, LabelValue] = {}
    """Extra node labels (the pool, role and NVMe labels are added and cannot be overridden)."""
    taints: tuple[Taint, ...] = ()
    """Node taints; the pods of the pool's roles get matching tolerations."""
    root_volume_gb: int = Field(50, ge=20, le=16384)
    """Encrypted gp3 root volume size."""
    metadata_hop_limit: int = Field(1, ge=1, le=64)
    """IMDSv2 hop limit; 1 keeps pods from reaching node credentials."""
    max_unavailable: int = Field(1, ge=1, le=100)
    """Nodes replaced at once during a rolling node-group update."""
    provisioner: Literal["managedNodeGroup", "karpenter"] = "managedNodeGroup"
    """Who launches the pool's nodes. `managedNodeGroup`: an EKS managed node group sized by the plan.
    `karpenter`: a Karpenter NodePool and EC2NodeClass that launch nodes for pending pods, in the zone they need, up
    to `maxSize` nodes (`minSize`/`desiredSize` only price the pool). The pool hosting `system` stays a managed node
    group: it runs the Karpenter controller."""


# ---------------------------------------------------------------------------------------------- milvus


class ResourceList(Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    ephemeral_storage: Quantity | None = Field(None, alias="ephemeralStorage")


class Resources(Model):
    requests: ResourceList = ResourceList()
    limits: ResourceList = ResourceList()


class ComponentSettings(Model):
    replicas: int | None = Field(None, ge=0, le=100)
    """Pod count; for queryNode and streamingNode the planner decides when unset."""
    resources: Resources = Resources()
    """Requests/limits; unset values take the component's default."""


class MixCoordinatorSettings(ComponentSettings):
    active_standby: bool = False
    """Run a hot standby coordinator (needs replicas >= 2)."""


class AutoscalingSettings(Model):
    enabled: bool = False
    """Scale the proxies with a HorizontalPodAutoscaler on CPU (the chart's `proxy.hpa`) instead of `replicas`."""
    min_replicas: int = Field(2, ge=1, le=100)
    max_replicas: int = Field(6, ge=1, le=100)
    """The namespace quota admits this many proxies (plus rollout surge)."""
    cpu_utilization: int = Field(60, ge=10, le=100)
    """Target average CPU use, in percent of the proxies' CPU request."""


class ProxySettings(ComponentSettings):
    autoscaling: AutoscalingSettings = AutoscalingSettings()


class MilvusComponents(Model):
    mix_coordinator: MixCoordinatorSettings = MixCoordinatorSettings()
    proxy: ProxySettings = ProxySettings()
    query_node: ComponentSettings = ComponentSettings()
    data_node: ComponentSettings = ComponentSettings()
    streaming_node: ComponentSettings = ComponentSettings()


class EtcdSettings(Model):
    replicas: int = Field(3, ge=1, le=7)
    storage_gi: int = Field(10, ge=1, le=1000)
    """gp3 volume per etcd member."""
    quota_backend_gi: int = Field(4, ge=1, le=8)
    """ETCD_QUOTA_BACKEND_BYTES; etcd refuses writes above it (Milvus then stops)."""
    resources: Resources = Resources()


class WoodpeckerSettings(Model):
    replicas: int = Field(3, ge=3, le=15)
    resources: Resources = Resources()


class BucketSettings(Model):
    versioning: bool = True
    protect: bool = False
    """Protect the bucket in Pulumi state: `pulumi destroy` fails instead of deleting data."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete a non-empty bucket. Only for throwaway stacks."""
    noncurrent_version_days: int = Field(30, ge=1, le=3650)


class ServiceSettings(Model):
    type: Literal["ClusterIP", "internalNlb"] = "ClusterIP"
    allowed_namespaces: tuple[DnsLabel, ...] = ()
    """Namespaces whose pods may reach the proxy port (19530)."""
    allowed_cidrs: tuple[Cidr, ...] = ()
    """Address ranges (e.g. the VPC) that may reach the proxy port."""


def _cron(value: str) -> str:
    from stacks.cron import CronError, parse

    try:
        parse(value)
    except CronError as err:
        raise ValueError(str(err)) from None
    return value


Cron = Annotated[str, AfterValidator(_cron)]


class BackupSettings(Model):
    enabled: bool = True
    """Run milvus-backup on a schedule (a CronJob on the system pool); needs `objectStorage: s3`."""
    schedule: Cron = "0 2 * * *"
    """When backups start, cron syntax in UTC (Kubernetes CronJob `schedule`), e.g. "0 2 * * *" daily at 02:00."""
    retention_days: int = Field(7, ge=1, le=3650)
    """Scheduled backups older than this are deleted after the next successful backup (the newest always stays)."""
    destination: Literal["prefix", "bucket"] = "prefix"
    """`prefix`: a folder of the Milvus bucket (cheap, shares its fate); `bucket`: a dedicated bucket (prod)."""
    prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] = "backup"
    """Root folder of the backups (milvus-backup `backupRootPath`); must differ from the Milvus release name."""
    versioning: bool = True
    """Version the dedicated bucket: a deleted or overwritten backup stays recoverable for `noncurrentVersionDays`."""
    noncurrent_version_days: int = Field(30, ge=1, le=3650)
    """How long a deleted backup's versions are kept in the dedicated, versioned bucket."""
    protect: bool = True
    """Protect the dedicated bucket in Pulumi state: `pulumi destroy` fails instead of deleting the backups."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete a non-empty dedicated bucket. Only for throwaway stacks."""
    resources: Resources = Resources()
    """Requests/limits of the backup container; unset values take the defaults in render/backup.py."""


class MilvusSettings(Model):
    namespace: DnsLabel = "milvus"
    release_name: DnsLabel = "milvus"
    chart_version: Annotated[str, _vendored(versions.MILVUS.name)] = versions.MILVUS_CHART
    """Only a chart vendored in charts/ can be installed (charts/README.md says how to add one)."""
    image_tag: str = versions.MILVUS_IMAGE_TAG
    message_queue: Literal["woodpecker", "pulsar"] = "woodpecker"
    object_storage: Literal["s3", "minio"] = "s3"
    service_account_binding: ServiceAccountBinding | None = None
    """Where earlier stack files set `cluster.serviceAccountBinding` (then it bound only Milvus' roles); still read,
    with the same meaning: it now binds every workload role, the Karpenter controller's too. Set one of the two keys;
    both with different values is an error."""
    mmap: bool = True
    """mmap vector fields and indexes to local disk on NVMe query pools."""
    authorization: bool = True
    components: MilvusComponents = MilvusComponents()
    etcd: EtcdSettings = EtcdSettings()
    woodpecker: WoodpeckerSettings = WoodpeckerSettings()
    bucket: BucketSettings = BucketSettings()
    service: ServiceSettings = ServiceSettings()
    backup: BackupSettings = BackupSettings()
    """Scheduled backups with milvus-backup, their retention and destination (docs/runbook.md#restore)."""


# ---------------------------------------------------------------------------------------------- topology

IndexType = Literal["FLAT", "IVF_FLAT", "IVF_SQ8", "HNSW", "DISKANN"]
Metric = Literal["L2", "IP", "COSINE"]


class IndexSettings(Model):
    type: IndexType = "HNSW"
    params: dict[str, int] = {}
    """Build parameters: M/efConstruction (HNSW), nlist (IVF_*), maxDegree/searchListSize (DISKANN)."""


class ResourceGroupSettings(Model):
    name: ResourceGroupName
    min_nodes: int = Field(0, ge=0, le=1000)
    """Query nodes the group keeps even when its collections need fewer."""


class CollectionSettings(Model):
    database: DnsLabel | Literal["default"] = "default"
    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")]
    dim: int = Field(ge=2, le=32768)
    vectors: int = Field(ge=0, le=10**12)
    """Entities the collection will hold when fully loaded."""
    index: IndexSettings = IndexSettings()
    metric: Metric = "COSINE"
    shards: int = Field(1, ge=1)
    replicas: int = Field(1, ge=1, le=100)
    resource_groups: tuple[ResourceGroupName, ...] = ()
    """0 names: the default group; 1: every replica there; otherwise one per replica."""
    scalar_bytes_per_entity: int = Field(0, ge=0, le=10**7)
    segment_size_mb: int = Field(1024, ge=64, le=16384)


ZoneFailure = Literal["spread", "fullCapacity", "replicaPerZone"]


class TopologySettings(Model):
    resource_groups: tuple[ResourceGroupSettings, ...] = ()
    """Milvus resource groups; with several, each replica of a collection can live in its own group."""
    collections: tuple[CollectionSettings, ...] = ()
    """The workload the cluster is sized for."""
    reconciler_image: Annotated[str, Field(pattern=r"^[^\s@]+@sha256:[0-9a-f]{64}$")] | None = None
    """An image that already holds the reconciler's packages (build it from docker/reconciler.Dockerfile), pinned
    by digest (`repo@sha256:...`). Unset: the Job installs topology/requirements.txt from PyPI with hashes at each
    run, which needs HTTPS egress to pypi.org and files.pythonhosted.org."""
    zone_failure: ZoneFailure = "spread"
    """What losing one availability zone costs. `spread`: every group's query nodes spread over the zones, sized
    for the workload alone (the plan reports whether a zone loss still leaves a full replica). `fullCapacity`:
    every group grows until losing its largest zone share still leaves room for everything it serves.
    `replicaPerZone`: each resource group is pinned to its own zone and sized for its replicas only, so a zone
    loss takes whole replicas away (at reduced QPS) and leaves the others serving; needs a Karpenter query pool."""


# ---------------------------------------------------------------------------------------------- quotas


class PinnedQuota(Model):
    """ResourceQuota values to use instead of the computed ones; unset keys stay computed."""

    requests_cpu: Quantity | None = None
    requests_memory: Quantity | None = None
    limits_cpu: Quantity | None = None
    limits_memory: Quantity | None = None
    requests_ephemeral_storage: Quantity | None = None
    limits_ephemeral_storage: Quantity | None = None
    requests_storage: Quantity | None = None
    """Total storage all PersistentVolumeClaims may request."""
    persistentvolumeclaims: int | None = Field(None, ge=0)
    pods: int | None = Field(None, ge=1)
    services_loadbalancers: int | None = Field(None, ge=0)
    services_nodeports: int | None = Field(None, ge=0)


class QuotaSettings(Model):
    headroom: float = Field(0.2, ge=0, le=5)
    """Fraction added over the planned requests/limits (including rolling-update surge)."""
    extra_namespaces: tuple[DnsLabel, ...] = ()
    pinned: dict[DnsLabel, PinnedQuota] = {}
    """Explicit quotas per namespace, used instead of the computed ones (must still admit the plan)."""
    default_request: ResourceList = ResourceList(cpu="100m", memory="128Mi", ephemeral_storage="256Mi")
    """LimitRange default request for containers that set none (the quota counts every container)."""
    default_limit: ResourceList = ResourceList(cpu="500m", memory="512Mi", ephemeral_storage="1Gi")
    """LimitRange default limit for containers that set none."""


# ---------------------------------------------------------------------------------------------- monitoring


class GrafanaSettings(Model):
    persistence: bool = False
    storage_gi: int = Field(10, ge=1, le=1000)


class SecretText(Model):
    """A value set with `pulumi config set --secret --path ...`: the stack file holds `{secure: ...}`, which the
    Pulumi engine decrypts before the program runs. The offline plan, which has no key, sees the ciphertext."""

    secure: str


Secret = str | SecretText
"""A secret value: plain text as the engine hands it over, or `{secure: ...}` when read without the key."""

Severity = Literal["critical", "warning", "info"]


class SlackReceiver(Model):
    api_url: Secret
    """Incoming-webhook URL (secret)."""
    channel: str | None = None
    """Channel to post to; the webhook's own channel when unset."""


class PagerDutyReceiver(Model):
    routing_key: Secret
    """Events API v2 integration (routing) key (secret)."""


class WebhookReceiver(Model):
    url: Secret
    """URL that receives Alertmanager's JSON payload (secret: such URLs often embed a token)."""


class AlertReceiver(Model):
    name: DnsLabel
    severities: tuple[Severity, ...] = ("critical", "warning")
    """Severities routed to this receiver (every alert of the project carries one)."""
    slack: SlackReceiver | None = None
    pagerduty: PagerDutyReceiver | None = None
    webhook: WebhookReceiver | None = None


class AlertingSettings(Model):
    receivers: tuple[AlertReceiver, ...] = ()
    """Where alerts are delivered. Empty (the default): alerts are kept in Alertmanager only (its UI and API) and
    the plan says so; each receiver needs exactly one of `slack`, `pagerduty`, `webhook`."""
    group_wait: str = Field("30s", pattern=r"^[0-9]+(s|m|h)$")
    group_interval: str = Field("5m", pattern=r"^[0-9]+(s|m|h)$")
    repeat_interval: str = Field("4h", pattern=r"^[0-9]+(s|m|h)$")


class MonitoringSettings(Model):
    enabled: bool = True
    namespace: DnsLabel = "monitoring"
    chart_version: Annotated[str, _vendored(versions.KUBE_PROMETHEUS_STACK.name)] = versions.KUBE_PROMETHEUS_STACK_CHART
    """Only a chart vendored in charts/ can be installed (charts/README.md says how to add one)."""
    retention: str = Field("15d", pattern=r"^[0-9]+(h|d|w|y)$")
    storage_gi: int = Field(50, ge=1, le=16384)
    prometheus_replicas: int = Field(1, ge=1, le=5)
    grafana: GrafanaSettings = GrafanaSettings()
    runbook_url: str = "docs/runbook.md"
    """Where alerts' `runbook_url` annotations point: the runbook as your team browses it (e.g. its URL in your Git
    host); each alert appends its own anchor."""
    alerts: AlertThresholds = AlertThresholds()
    """Alert thresholds; unset ones take their defaults (see `docs/runbook.md`)."""
    alerting: AlertingSettings = AlertingSettings()
    """Alert delivery: receivers (Slack, PagerDuty, webhook) and the severities each gets."""


# ---------------------------------------------------------------------------------------------- all


class Settings(Model):
    """The whole stack configuration, as loaded from `Pulumi.<stack>.yaml`."""

    region: str
    aws_profile: str | None = None
    """`aws:profile`: the AWS CLI profile the program's AWS provider uses (default: the usual credential chain)."""
    allowed_account_ids: tuple[str, ...] = ()
    """`aws:allowedAccountIds`: the provider refuses to act in any other AWS account."""
    network: NetworkSettings = NetworkSettings()
    cluster: ClusterSettings = ClusterSettings()
    node_pools: dict[DnsLabel, NodePoolSettings]
    milvus: MilvusSettings = MilvusSettings()
    topology: TopologySettings = TopologySettings()
    quotas: QuotaSettings = QuotaSettings()
    monitoring: MonitoringSettings = MonitoringSettings()

    @property
    def service_account_binding(self) -> str:
        """The one binding of every workload role: `cluster.serviceAccountBinding`, or `milvus.serviceAccountBinding`
        where a stack file still sets it there (validation refuses the two disagreeing)."""
        return self.milvus.service_account_binding or self.cluster.service_account_binding

    def pool_for(self, role: str) -> str:
        """The name of the pool hosting `role` (validation guarantees exactly one)."""
        return next(name for name, pool in self.node_pools.items() if role in pool.roles)


RENAMED_KEYS = {
    "topology.surviveZoneLoss": "was replaced by topology.zoneFailure; write zoneFailure: fullCapacity for true, "
                                "spread for false (or replicaPerZone: one zone per resource group, fewer nodes)",
}
"""Keys older stack files may still carry → what to write instead."""

TOP_LEVEL_KEYS = ("network", "cluster", "nodePools", "milvus", "topology", "quotas", "monitoring")
