"""Monthly cost estimate: an inventory of what a stack runs, multiplied by sourced list prices.

Two pure steps. `inventory_from_resources` reads the registered resource graph (node groups and their launch
templates, NAT gateways, the EKS cluster, Helm values and Kubernetes objects that claim gp3 volumes) plus the plan's
data volume; `estimate` prices that inventory with `reports.pricing`. Nothing here guesses a price: prices exist for
us-east-1 only (reports/data/prices.md), so another region is priced at us-east-1 rates with a warning naming it.

Not priced, because no sourced number exists in the price files: public IPv4 addresses (NAT EIPs), KMS keys,
cross-AZ and internet data transfer, EBS snapshots, S3 requests, CloudWatch logs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Protocol

from reports.pricing import HOURS_PER_MONTH, PriceNotFound, PriceTable
from stacks.quantity import GIB, parse_quantity

PRICED_REGION = "us-east-1"
"""The only region the price files cover."""

SPOT_DISCOUNT = 0.60
"""Assumed Spot saving over on-demand: a planning figure, not a price. Spot prices move per AZ and hour and no dated
Spot price is in the price files; AWS advertises savings of "up to 90%". Pass `spot_discount=0` to `estimate` for
the on-demand upper bound."""

EKS_DEFAULT_DISK_GB = 20
"""A managed node group without a launch template disk gets a 20 GiB root volume (aws.eks.NodeGroup `diskSize`)."""

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EIP = "aws:ec2/eip:Eip"
KMS_KEY = "aws:kms/key:Key"
KARPENTER_NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
KARPENTER_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
PLANNED_NODES_ANNOTATION = "milvus-eks/planned-nodes"
"""On a Karpenter NodePool: the nodes the plan expects it to run (render/karpenter.py)."""


class GraphResource(Protocol):
    type: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class NodeGroupItem:
    name: str
    instance_type: str
    """The first listed type: the one sizing assumes (a managed node group may launch any of them)."""
    nodes: int
    capacity_type: str
    root_volume_gb: int
    kind: str = "node group"
    """`node group` (EKS managed) or `karpenter pool` (a NodePool, priced at the plan's node count)."""


@dataclass(frozen=True)
class VolumeItem:
    source: str
    """The object that makes the claim, e.g. `statefulset milvus/milvus-etcd: data`."""
    size_gib: float
    count: int


@dataclass(frozen=True)
class ClusterItem:
    name: str
    support_type: str | None
    """`upgradePolicy.supportType`; None when unset, which AWS treats as EXTENDED."""


@dataclass(frozen=True)
class Inventory:
    region: str
    node_groups: tuple[NodeGroupItem, ...] = ()
    volumes: tuple[VolumeItem, ...] = ()
    nat_gateways: int = 0
    clusters: tuple[ClusterItem, ...] = ()
    object_storage_gib: float = 0.0
    object_storage_source: str = "none"
    backup_storage_gib: float = 0.0
    """Full backups kept at steady state × data size (render/backup.py `storage_estimate`)."""
    backup_storage_source: str = "none"
    unpriced: tuple[str, ...] = ()
    """Resources present but not priced (no sourced price), e.g. `3 Elastic IPs (public IPv4)`."""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineItem:
    category: str
    key: str
    """Stable across sizes (`node group query`), so a plan diff sees a change, not a removal and an addition."""
    item: str
    quantity: float
    unit: str
    unit_usd: float
    monthly_usd: float
    note: str = ""


@dataclass(frozen=True)
class PriceSource:
    what: str
    url: str
    date: str


@dataclass(frozen=True)
class CostEstimate:
    region: str
    priced_region: str
    line_items: tuple[LineItem, ...]
    warnings: tuple[str, ...]
    sources: tuple[PriceSource, ...]
    assumptions: tuple[str, ...] = field(default=())

    @property
    def total(self) -> float:
        return round(sum(item.monthly_usd for item in self.line_items), 2)

    def by_category(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for item in self.line_items:
            totals[item.category] = round(totals.get(item.category, 0.0) + item.monthly_usd, 2)
        return totals

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "pricedRegion": self.priced_region,
            "currency": "USD",
            "period": "month",
            "hoursPerMonth": HOURS_PER_MONTH,
            "total": self.total,
            "byCategory": self.by_category(),
            "lineItems": [asdict(item) for item in self.line_items],
            "warnings": list(self.warnings),
            "assumptions": list(self.assumptions),
            "sources": [asdict(source) for source in self.sources],
        }


# ------------------------------------------------------------------------------------------------ inventory


def inventory_from_resources(resources: Iterable[GraphResource], region: str,
                             plan: Mapping[str, Any] | None = None,
                             collections: Iterable[Any] = (),
                             objects: Iterable[Mapping[str, Any]] = ()) -> Inventory:
    """What the registered graph runs. `plan` is the exported capacity plan (if any); `collections` are the
    topology settings, used for the object-storage volume only when the plan does not state it; `objects` are the
    Kubernetes objects that will exist (the bundle's, plus the StatefulSets operators make), whose claims are the
    gp3 volumes."""
    resources = list(resources)
    by_parent: dict[str, list[GraphResource]] = {}
    for r in resources:
        by_parent.setdefault(r.parent, []).append(r)
    notes: list[str] = []

    groups = []
    for ng in (r for r in resources if r.type == NODE_GROUP):
        scaling = ng.inputs.get("scalingConfig") or {}
        nodes = scaling.get("desiredSize", scaling.get("minSize", 0))
        root = _root_volume_gb(ng, by_parent.get(ng.parent, []))
        if root is None:
            root = int(ng.inputs.get("diskSize") or EKS_DEFAULT_DISK_GB)
            notes.append(f"node group {ng.name}: no launch-template root volume found; counted {root} GiB")
        groups.append(NodeGroupItem(name=_pool_name(ng), instance_type=ng.inputs["instanceTypes"][0], nodes=int(nodes),
                                    capacity_type=ng.inputs.get("capacityType") or "ON_DEMAND",
                                    root_volume_gb=int(root)))

    # By name, managed node groups first: the graph lists resources in the order the engine answered, which varies
    # from run to run, and the line items must not.
    groups.sort(key=lambda g: g.name)
    groups.extend(sorted(_karpenter_pools(resources, notes), key=lambda g: g.name))

    volumes = [claim for obj in objects for claim in volume_claims(obj)]
    if not volumes:
        notes.append("no persistent volume claims among the rendered objects: EBS covers node root volumes only")

    clusters = tuple(ClusterItem(c.inputs.get("name") or c.name, (c.inputs.get("upgradePolicy") or {}).get("supportType"))
                     for c in resources if c.type == EKS_CLUSTER)
    object_gib, object_source = _object_storage(plan, collections)

    unpriced = []
    for type_, what in ((EIP, "Elastic IPs (public IPv4 address hours)"), (KMS_KEY, "KMS keys")):
        count = sum(1 for r in resources if r.type == type_)
        if count:
            unpriced.append(f"{count} {what}")
    unpriced.append("data transfer (cross-AZ, internet), S3 requests, EBS snapshots, CloudWatch logs")

    return Inventory(region=region, node_groups=tuple(groups), volumes=tuple(volumes),
                     nat_gateways=sum(1 for r in resources if r.type == NAT_GATEWAY), clusters=clusters,
                     object_storage_gib=object_gib, object_storage_source=object_source, unpriced=tuple(unpriced),
                     notes=tuple(notes))


def _karpenter_pools(resources: list[GraphResource], notes: list[str]) -> list[NodeGroupItem]:
    """Karpenter launches nodes for pending pods, so a NodePool has no size of its own: it is priced at the node
    count the plan expects (its `milvus-eks/planned-nodes` annotation), with its first listed instance type, its
    capacity type and its EC2NodeClass's root volume."""
    classes = {((c.inputs.get("metadata") or {}).get("name") or c.name): c.inputs.get("spec") or {}
               for c in resources if c.type == KARPENTER_NODE_CLASS}
    found = []
    for r in (r for r in resources if r.type == KARPENTER_NODE_POOL):
        metadata, spec = r.inputs.get("metadata") or {}, r.inputs.get("spec") or {}
        name = metadata.get("name") or r.name
        template = (spec.get("template") or {}).get("spec") or {}
        requirements = {q["key"]: q.get("values") or [] for q in template.get("requirements") or []}
        types = requirements.get("node.kubernetes.io/instance-type") or []
        planned = (metadata.get("annotations") or {}).get(PLANNED_NODES_ANNOTATION)
        if not types or planned is None:
            notes.append(f"karpenter pool {name}: no instance-type requirement or planned node count; not priced")
            continue
        capacity = "SPOT" if requirements.get("karpenter.sh/capacity-type") == ["spot"] else "ON_DEMAND"
        node_class = classes.get((template.get("nodeClassRef") or {}).get("name"), {})
        root = next((m.get("ebs", {}).get("volumeSize") for m in node_class.get("blockDeviceMappings") or []
                     if m.get("rootVolume")), None)
        if root is None:
            notes.append(f"karpenter pool {name}: no root volume in its EC2NodeClass; counted {EKS_DEFAULT_DISK_GB} GiB")
        found.append(NodeGroupItem(name=name, instance_type=types[0], nodes=int(planned), capacity_type=capacity,
                                   root_volume_gb=round(_gib(root)) if root else EKS_DEFAULT_DISK_GB,
                                   kind="karpenter pool"))
    return found


def _pool_name(ng: GraphResource) -> str:
    labels = ng.inputs.get("labels") or {}
    return labels.get("milvus-eks/pool") or ng.name


def _root_volume_gb(ng: GraphResource, siblings: list[GraphResource]) -> int | None:
    # The node group's launch template is its sibling under the NodePool component.
    for lt in (s for s in siblings if s.type == LAUNCH_TEMPLATE):
        for mapping in lt.inputs.get("blockDeviceMappings") or []:
            size = (mapping.get("ebs") or {}).get("volumeSize")
            if size:
                return int(size)
    return None


def volume_claims(obj: Mapping[str, Any]) -> list[VolumeItem]:
    """The gp3 volumes an object makes: a StatefulSet's claim templates once per replica, a PersistentVolumeClaim
    once."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    where = f"{meta.get('namespace', 'default')}/{meta.get('name')}"
    if obj.get("kind") == "PersistentVolumeClaim":
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        return [VolumeItem(f"pvc {where}", _gib(size), 1)] if size else []
    if obj.get("kind") != "StatefulSet":
        return []
    items = []
    for template in spec.get("volumeClaimTemplates") or []:
        size = (((template.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
        if size:
            claim = (template.get("metadata") or {}).get("name", "data")
            items.append(VolumeItem(f"statefulset {where}: {claim}", _gib(size), int(spec.get("replicas", 1))))
    return items


def _gib(quantity: str | int) -> float:
    return float(parse_quantity(quantity)) / GIB


_PLAN_OBJECT_KEYS = ("objectStorageBytes", "object_storage_bytes", "s3Bytes")
_PLAN_COLLECTION_KEYS = (("rawBytes", "raw_bytes"), ("indexBytes", "index_bytes", "index_memory_bytes"),
                         ("scalarBytes", "scalar_bytes"))
"""Per planned collection: raw vectors, index (its memory footprint stands in for the files in S3), scalars."""


def _object_storage(plan: Mapping[str, Any] | None, collections: Iterable[Any]) -> tuple[float, str]:
    """Bytes the bucket will hold: the plan's own figure if it states one, else raw vectors + index per planned
    collection, else raw vectors and scalars from the topology settings (index files not counted)."""
    if plan:
        for key in _PLAN_OBJECT_KEYS:
            if isinstance(plan.get(key), (int, float)):
                return plan[key] / GIB, f"plan.{key}"
        planned = plan.get("collections")
        if isinstance(planned, list) and planned:
            total = 0.0
            for c in planned:
                for keys in _PLAN_COLLECTION_KEYS:
                    total += next((c[k] for k in keys if isinstance(c.get(k), (int, float))), 0)
            if total:
                return total / GIB, "plan.collections (raw vectors + index + scalars)"
    raw = sum(c.vectors * (c.dim * 4 + c.scalar_bytes_per_entity) for c in collections)
    if raw:
        return raw / GIB, "topology settings (raw vectors + scalars; index files not counted)"
    return 0.0, "none"


def with_pool_sizes(inventory: Inventory, nodes: Mapping[str, int]) -> Inventory:
    """The same inventory with other node counts for the named pools (e.g. another plan of the same stack)."""
    from dataclasses import replace

    return replace(inventory, node_groups=tuple(replace(g, nodes=nodes.get(g.name, g.nodes))
                                                for g in inventory.node_groups))


# ------------------------------------------------------------------------------------------------ pricing


def estimate(inventory: Inventory, prices: PriceTable, *, spot_discount: float = SPOT_DISCOUNT,
             nat_gb_per_month: float = 0.0) -> CostEstimate:
    if not 0 <= spot_discount < 1:
        raise ValueError(f"spot_discount must be in [0, 1), got {spot_discount}")
    region = PRICED_REGION
    warnings: list[str] = []
    if inventory.region != PRICED_REGION:
        warnings.append(f"prices are for {PRICED_REGION} only; stack region {inventory.region} is priced at "
                        f"{PRICED_REGION} rates (no sourced prices for {inventory.region})")
    items: list[LineItem] = []
    sources: dict[str, PriceSource] = {}

    def source(service: str, item: str, what: str) -> float:
        price = prices.service_price(service, item, region)
        sources[what] = PriceSource(what, price.source_url, price.source_date)
        return price.usd

    for g in inventory.node_groups:
        try:
            hourly = prices.instance_hourly(region, g.instance_type)
        except PriceNotFound as missing:
            # A type the catalog knows but the price source does not: the plan is still valid, only its cost is
            # incomplete, and says so.
            warnings.append(f"node group {g.name} ({g.nodes} × {g.instance_type}) is not priced and left out of the "
                            f"total: {missing}")
            continue
        discount = spot_discount if g.capacity_type == "SPOT" else 0.0
        unit = hourly * HOURS_PER_MONTH * (1 - discount)
        note = f"{g.capacity_type.lower()}, ${hourly:.4f}/h on-demand"
        if discount:
            note += f", assumed {discount:.0%} Spot saving"
        items.append(LineItem("compute", f"{g.kind} {g.name}", f"{g.kind} {g.name}: {g.nodes} × {g.instance_type}", g.nodes,
                              "node-month", round(unit, 4), round(unit * g.nodes, 2), note))
    if inventory.node_groups:
        sources["EC2 on-demand"] = PriceSource(
            "EC2 on-demand", "https://github.com/aws/karpenter-provider-aws/blob/6fc13b5236fd04fd16ff3f9dc7490d0813994099/"
            "pkg/providers/pricing/zz_generated.pricing_aws.go", "2026-07-20")

    gb_month = source("ebs", "gp3_storage", "EBS gp3 storage")
    for g in inventory.node_groups:
        size = g.root_volume_gb * g.nodes
        items.append(LineItem("storage", f"root volumes {g.name}", f"root volumes {g.name}: {g.nodes} × {g.root_volume_gb} GiB gp3", size,
                              "GB-month", gb_month, round(size * gb_month, 2)))
    for v in inventory.volumes:
        size = v.size_gib * v.count
        items.append(LineItem("storage", v.source, f"{v.source}: {v.count} × {v.size_gib:g} GiB gp3", size, "GB-month",
                              gb_month, round(size * gb_month, 2), "storage class gp3 assumed"))

    if inventory.nat_gateways:
        hour = source("vpc", "nat_gateway_hour", "NAT gateway hour")
        items.append(LineItem("network", "NAT gateways", f"NAT gateways: {inventory.nat_gateways}", inventory.nat_gateways,
                              "gateway-month", round(hour * HOURS_PER_MONTH, 4),
                              round(hour * HOURS_PER_MONTH * inventory.nat_gateways, 2)))
        per_gb = source("vpc", "nat_gateway_data_processed", "NAT gateway data processed")
        items.append(LineItem("network", "NAT data processed", "NAT data processed", nat_gb_per_month, "GB", per_gb,
                              round(per_gb * nat_gb_per_month, 2),
                              "assumed 0 GB" if not nat_gb_per_month else ""))

    for c in inventory.clusters:
        extended = c.support_type != "STANDARD"
        what = "EKS control plane, extended support" if extended else "EKS control plane, standard support"
        hour = source("eks", "control_plane_extended_support" if extended else "control_plane_standard_support",
                      what)
        items.append(LineItem("control plane", f"EKS cluster {c.name}", f"EKS cluster {c.name}", 1, "cluster-month",
                              round(hour * HOURS_PER_MONTH, 2), round(hour * HOURS_PER_MONTH, 2),
                              f"upgradePolicy.supportType={c.support_type or 'unset'}"))
        if extended:
            standard = prices.eks_control_plane_hour(region) * HOURS_PER_MONTH
            support = c.support_type or "unset (AWS default: EXTENDED)"
            warnings.append(
                f"EKS cluster {c.name} has upgradePolicy.supportType {support}: priced at the extended-support rate "
                f"${hour:.2f}/h, which AWS bills once the Kubernetes version leaves standard support; set "
                f'upgrade_policy={{"support_type": "STANDARD"}} for ${standard:.0f}/month')

    if inventory.object_storage_gib:
        per_gb = source("s3", "standard_storage_first_50tb", "S3 Standard storage")
        items.append(LineItem("storage", "S3 Standard", "S3 Standard: planned data", round(inventory.object_storage_gib, 1),
                              "GB-month", per_gb, round(inventory.object_storage_gib * per_gb, 2),
                              inventory.object_storage_source))

    if inventory.backup_storage_gib:
        per_gb = source("s3", "standard_storage_first_50tb", "S3 Standard storage")
        items.append(LineItem("storage", "S3 Standard backups", "S3 Standard: backups",
                              round(inventory.backup_storage_gib, 1), "GB-month", per_gb,
                              round(inventory.backup_storage_gib * per_gb, 2), inventory.backup_storage_source))

    warnings.extend(inventory.notes)
    if inventory.unpriced:
        warnings.append("not priced (no sourced price): " + "; ".join(inventory.unpriced))
    assumptions = (f"{HOURS_PER_MONTH} hours per month", f"Spot saving {spot_discount:.0%} (SPOT_DISCOUNT)",
                   f"NAT data processed {nat_gb_per_month:g} GB/month")
    return CostEstimate(region=inventory.region, priced_region=region, line_items=tuple(items),
                        warnings=tuple(warnings), sources=tuple(sources.values()), assumptions=assumptions)
