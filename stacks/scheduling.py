"""Scheduling feasibility: will every rendered pod start — in any creation order — and can every workload roll, on
the nodes the plan buys, for every instance type a pool allows? Pure: rendered objects and pool shapes in, a
frozen report out; no cluster, no Pulumi.

The model. Pods come from Deployments, StatefulSets, DaemonSets, Jobs, CronJobs and ReplicaSets; other objects
(custom resources included) are ignored, so operator-made pods count only when the caller passes the StatefulSets the
operator will create (render/workloads.py `operated_statefulsets` for Prometheus and Alertmanager). Each pool becomes
`nodes` nodes, zones assigned round-robin, labelled like EKS labels them (the pool's labels plus
`kubernetes.io/hostname`, `topology.kubernetes.io/zone`, `node.kubernetes.io/instance-type`, `kubernetes.io/os`,
`kubernetes.io/arch`). One *scenario* per instance type a pool allows: the baseline puts every pool on its first
type, and each further type of a pool gets a scenario where that pool is made only of that type (a managed node group
may mix its types; a homogeneous pool is the case a per-type problem is reported against). Node allocatable comes
from the catalog (cpu, memory, max pods); ephemeral storage is the capacity the caller passes minus what the kubelet
withholds on EKS AL2023 (nodeadm `kubeReserved` ephemeral-storage 1Gi and the hard eviction threshold
`nodefs.available` 10 %, both subtracted from allocatable by the kubelet). DaemonSets go first, one pod on every node
they select and tolerate; together with the EKS add-on DaemonSets that are not in the bundle they may use the
per-node DaemonSet budget of `stacks.sizing` (whichever is larger is charged), and the add-ons take their pod slots.
Every other pod is then placed one at a time: a node must pass the pod's nodeSelector, required node affinity, taints
(NoSchedule/NoExecute), required pod anti-affinity (both the pod's own terms and the terms of pods already there),
topology spread constraints with `whenUnsatisfiable: DoNotSchedule` (skew over the domains of the nodes the pod's
node affinity allows, `minDomains` and `matchLabelKeys` honoured), and its requests — max(sum of containers and
sidecars, largest init container) per resource, a container with only a limit requesting its limit as the API server
defaults it — plus one pod slot. A pod that fits nowhere may preempt: as kube-scheduler's DefaultPreemption does,
lower-priority pods are evicted from the node whose victims have the lowest top priority (then the fewest victims),
and the victims go back to the queue (they must start elsewhere or end Pending). Pods are placed in several creation
orders, each a first-fit-decreasing or a scheduler-like pass: largest first onto the first node that fits
(first-fit-decreasing), largest first and smallest first onto the node left least allocated (kube-scheduler's default
score), both sorted by priority first as the scheduling queue does when every pod waits at once, and both again
regardless of priority (pods that arrive one by one are scheduled as they come); the order the objects come in; and
24 random arrival orders (fixed seed, alternately first fit and least allocated), which ignore priority because a pod
that arrives alone is scheduled at once. The first install is feasible only if every order starts every pod; a pod
left Pending is reported with the first order that strands it, the scheduler's reasons and the key to change. Job and
CronJob pods must fit once the long-running pods run and are then removed (they complete). Rollouts are checked on
every distinct settled placement: a Deployment surges `maxSurge` pods (percentages rounded up) and may go
`maxUnavailable` below its replicas (rounded down; both zero means one, as the Deployment controller resolves them);
it progresses if it may retire a pod first, if a surge pod fits beside everything running, or if the surge pod
preempts pods that then start elsewhere; its *headroom* is how many extra pods fit without evicting anything (the
worst placement counts). `Recreate` always progresses. A StatefulSet rolling update deletes a pod and recreates it,
which must fit again (in the same zone when it has volume claims: an EBS volume stays in its zone); `OnDelete` never
rolls by itself. A DaemonSet with `maxSurge` needs room for a second pod on every node.

Stricter or looser than kube-scheduler. Stricter: the DaemonSet budget is charged even where the add-ons request
less; a namespace selector in an anti-affinity term counts pods of every namespace; a pod stranded in any one of the
orders tried is reported, even if the real scheduler's random tie-breaking would rarely produce that order; a
Deployment with `maxUnavailable` 0 whose surge pod finds no room is reported stalled unless its pool is autoscaled
(Karpenter, `PoolShape.autoscaled`), below its maximum, and a fresh node of it has room for the pod: then the
autoscaler launches one (the check does not model the minutes that takes). Looser: preferred rules (preferred node and pod affinity, `ScheduleAnyway` spread,
PreferNoSchedule taints) are ignored — they change where pods go, never whether they start, but a real placement may
therefore differ from every order tried; required pod affinity, host ports, volume limits and volume topology beyond
"same zone on recreate", extended resources and pod overhead are not modelled; pods outside the bundle (CoreDNS and
other EKS add-on Deployments) are invisible except through the DaemonSet budget; the instance-store filesystem's own
overhead is not subtracted; preemption ignores PodDisruptionBudgets. Different by construction: a finite set of
orders stands for "any order" (the search is not exhaustive; a StatefulSet's `podManagementPolicy` only changes the
arrival order, which they cover); a pool's nodes are homogeneous in each scenario (a real pool may mix its types);
every workload is rolled alone against the settled cluster (Helm upgrades them together: their surges take turns for
the same free room, and the drift in packing that leaves behind is not modelled); ties between equally good nodes go
to the first node instead of a random one.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from math import ceil, floor
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping, Sequence

from stacks.catalog import load_catalog
from stacks.errors import Problem
from stacks.quantity import GIB, MIB, parse_quantity
from stacks.sizing import DAEMONSET_OVERHEAD_MEMORY_BYTES, DAEMONSET_OVERHEAD_MILLICPU

RESOURCES = ("cpu", "memory", "ephemeral-storage")
"""Per-node amounts in the order of every internal vector: millicores, bytes, bytes, then pod slots."""
_CPU, _MEMORY, _EPHEMERAL, _PODS = range(4)

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"

# awslabs/amazon-eks-ami nodeadm/internal/kubelet/config.go: `withDefaultReservedResources` reserves ephemeral-storage
# 1Gi for the kubelet, `defaultKubeletSubConfig` sets evictionHard nodefs.available 10 %; the kubelet subtracts both
# from allocatable (kubernetes pkg/kubelet/cm/helpers.go `hardEvictionReservation`, SignalNodeFsAvailable).
KUBE_RESERVED_EPHEMERAL_BYTES = GIB
NODEFS_EVICTION_FRACTION = Decimal("0.10")
# EKS add-on DaemonSets on every node that the bundle does not contain: aws-node, kube-proxy, eks-pod-identity-agent,
# ebs-csi-node. Their cpu/memory is inside the DaemonSet budget of stacks.sizing; their pod slots are counted here.
ADDON_DAEMONSET_PODS = 4

RANDOM_ORDERS = 24
RANDOM_SEED = 10
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet")

# Which stack-file key sets a chart pod's resources, by its labels. Milvus components carry `component: <name>`
# (zilliztech/milvus-helm charts/milvus/templates/*-deployment.yaml) with `app.kubernetes.io/name: milvus`
# (templates/_helpers.tpl `milvus.matchLabels`); the etcd subchart labels its pods `app.kubernetes.io/name: etcd`.
_MILVUS_COMPONENT_KEYS = {
    "mixcoord": "milvus.components.mixCoordinator.resources", "proxy": "milvus.components.proxy.resources",
    "querynode": "milvus.components.queryNode.resources", "datanode": "milvus.components.dataNode.resources",
    "streamingnode": "milvus.components.streamingNode.resources", "woodpecker": "milvus.woodpecker.resources",
}
_NAME_KEYS = {"etcd": "milvus.etcd.resources"}


# ---------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class PoolShape:
    name: str
    """Stack-file pool name (`nodePools.<name>`)."""
    instance_types: tuple[str, ...]
    nodes: int
    """Planned node count (the plan's desired size)."""
    max_nodes: int
    labels: Mapping[str, str]
    """Node labels (render.naming.pool_labels output)."""
    taints: tuple[Mapping[str, str], ...]
    """Kubernetes form: {key, value, effect: NoSchedule|NoExecute|PreferNoSchedule}."""
    zones: tuple[str, ...]
    """Zones the pool's nodes are spread over, round-robin."""
    ephemeral_bytes_per_type: Mapping[str, int]
    """Node ephemeral-storage capacity per instance type (NVMe pools: the instance store; else the root volume)."""
    autoscaled: bool = False
    """A node autoscaler (Karpenter) launches a node for a pod that fits nowhere, up to `max_nodes`."""


def resource_key(labels: Mapping[str, str]) -> str | None:
    """The stack-file key that sets the resources of a pod with these labels, when the stack file has one."""
    if labels.get("app.kubernetes.io/name") == "milvus" and labels.get("component") in _MILVUS_COMPONENT_KEYS:
        return _MILVUS_COMPONENT_KEYS[labels["component"]]
    return _NAME_KEYS.get(labels.get("app.kubernetes.io/name", ""))


# ---------------------------------------------------------------------------------------------- pod templates


@dataclass(frozen=True)
class _Selector:
    """A LabelSelector as (key, operator, values) requirements; `None` requirements match nothing."""

    requirements: tuple[tuple[str, str, tuple[str, ...]], ...] | None

    @classmethod
    def parse(cls, raw: Mapping | None, own_labels: Mapping[str, str] = {},
              match_label_keys: Iterable[str] = ()) -> "_Selector":
        if raw is None:
            return cls(None)
        reqs = [(k, "In", (str(v),)) for k, v in (raw.get("matchLabels") or {}).items()]
        reqs += [(e["key"], e["operator"], tuple(str(v) for v in e.get("values") or ()))
                 for e in raw.get("matchExpressions") or ()]
        # matchLabelKeys: the incoming pod's own value for each key joins the selector (ignored when it has none).
        reqs += [(k, "In", (own_labels[k],)) for k in match_label_keys if k in own_labels]
        return cls(tuple(reqs))

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.requirements is None:
            return False
        return all(_requirement(labels, key, op, values) for key, op, values in self.requirements)


def _requirement(labels: Mapping[str, str], key: str, op: str, values: tuple[str, ...]) -> bool:
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        try:
            have, want = int(labels[key]), int(values[0])
        except (KeyError, ValueError, IndexError):
            return False
        return have > want if op == "Gt" else have < want
    raise ValueError(f"unknown selector operator {op!r}")


@dataclass(frozen=True)
class _AntiTerm:
    topology_key: str
    selector: _Selector
    namespaces: frozenset[str] | None
    """None: every namespace."""


@dataclass(frozen=True)
class _Spread:
    topology_key: str
    max_skew: int
    min_domains: int
    selector: _Selector
    honor_taints: bool
    """nodeTaintsPolicy Honor (default Ignore): only nodes whose taints the pod tolerates count as domains."""
    honor_affinity: bool
    """nodeAffinityPolicy Honor (the default): only nodes the pod's nodeSelector and node affinity allow count."""


@dataclass(frozen=True)
class _Template:
    kind: str
    namespace: str
    name: str
    replicas: int
    requests: tuple[int, int, int]
    labels: Mapping[str, str]
    node_selector: Mapping[str, str]
    node_terms: tuple[tuple[tuple[str, str, tuple[str, ...]], ...], ...] | None
    """Required node affinity: OR of ANDed requirements (`metadata.name` fields as the `kubernetes.io/hostname`
    label); None when the pod has none."""
    tolerations: tuple[Mapping[str, Any], ...]
    anti: tuple[_AntiTerm, ...]
    spread: tuple[_Spread, ...]
    priority_class: str | None
    strategy: Mapping[str, Any]
    zone_pinned: bool
    """A StatefulSet with volume claims: a recreated pod must stay in its volume's zone."""

    @property
    def workload(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def transient(self) -> bool:
        return self.kind in ("Job", "CronJob")

    def needs(self) -> str:
        return ", ".join(f"{_show(i, v)} {RESOURCES[i]}" for i, v in enumerate(self.requests) if v)


def _pod_requests(spec: Mapping) -> tuple[int, int, int]:
    """k8s.io/component-helpers resource.PodRequests: containers plus restartable (sidecar) init containers, or the
    largest regular init container plus the sidecars started before it, whichever is larger."""

    def one(container: Mapping) -> list[int]:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        out = []
        for name in RESOURCES:
            raw = requests.get(name, limits.get(name))  # API defaulting: an unset request takes the limit
            value = parse_quantity(raw) if raw is not None else Decimal(0)
            out.append(int(ceil(value * 1000)) if name == "cpu" else int(ceil(value)))
        return out

    total = [0, 0, 0]
    for c in spec.get("containers") or ():
        total = [a + b for a, b in zip(total, one(c))]
    sidecars, largest_init = [0, 0, 0], [0, 0, 0]
    for c in spec.get("initContainers") or ():
        amounts = one(c)
        if c.get("restartPolicy") == "Always":
            sidecars = [a + b for a, b in zip(sidecars, amounts)]
        else:
            largest_init = [max(a, b + s) for a, b, s in zip(largest_init, amounts, sidecars)]
    return tuple(max(a + s, i) for a, s, i in zip(total, sidecars, largest_init))  # type: ignore[return-value]


def _pod_spec(obj: Mapping) -> tuple[Mapping, Mapping, int] | None:
    """(pod template, workload spec, pods at once) of a workload object; None for anything else."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind not in WORKLOAD_KINDS:
        return None
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if kind in ("Job", "CronJob"):
        parallelism = 1 if spec.get("parallelism") is None else spec["parallelism"]
        completions = spec.get("completions")
        count = parallelism if completions is None else min(parallelism, completions)
    elif kind == "DaemonSet":
        count = 1
    else:
        count = 1 if spec.get("replicas") is None else spec["replicas"]
    return spec.get("template") or {}, spec, int(count)


def _template(obj: Mapping) -> _Template | None:
    parsed = _pod_spec(obj)
    if parsed is None:
        return None
    template, spec, count = parsed
    pod = template.get("spec") or {}
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    labels = MappingProxyType({k: str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()})
    affinity = pod.get("affinity") or {}
    required = ((affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    node_terms = None
    if "nodeSelectorTerms" in required:
        node_terms = tuple(
            tuple((e["key"], e["operator"], tuple(str(v) for v in e.get("values") or ()))
                  for e in term.get("matchExpressions") or ()) +
            tuple((HOSTNAME, e["operator"], tuple(str(v) for v in e.get("values") or ()))
                  for e in term.get("matchFields") or () if e.get("key") == "metadata.name")
            for term in required["nodeSelectorTerms"])
    anti = []
    for term in ((affinity.get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or ()):
        if term.get("namespaceSelector") is not None:
            namespaces = None  # namespace labels are not known here: count every namespace (stricter)
        else:
            namespaces = frozenset(term.get("namespaces") or (namespace,))
        anti.append(_AntiTerm(term["topologyKey"], _Selector.parse(term.get("labelSelector"), labels,
                                                                   term.get("matchLabelKeys") or ()), namespaces))
    spread = tuple(
        _Spread(c["topologyKey"], int(c.get("maxSkew", 1)), int(c.get("minDomains") or 1),
                _Selector.parse(c.get("labelSelector"), labels, c.get("matchLabelKeys") or ()),
                c.get("nodeTaintsPolicy") == "Honor", c.get("nodeAffinityPolicy") != "Ignore")
        for c in pod.get("topologySpreadConstraints") or () if c.get("whenUnsatisfiable") == "DoNotSchedule")
    kind = obj["kind"]
    strategy = spec.get("updateStrategy" if kind in ("StatefulSet", "DaemonSet") else "strategy") or {}
    return _Template(
        kind=kind, namespace=namespace, name=meta.get("name", "?"), replicas=count, requests=_pod_requests(pod),
        labels=labels, node_selector=MappingProxyType({k: str(v) for k, v in (pod.get("nodeSelector") or {}).items()}),
        node_terms=node_terms, tolerations=tuple(pod.get("tolerations") or ()), anti=tuple(anti), spread=spread,
        priority_class=pod.get("priorityClassName"), strategy=strategy,
        zone_pinned=kind == "StatefulSet" and bool(spec.get("volumeClaimTemplates")))


@dataclass(frozen=True)
class _Pod:
    template: int
    name: str


def tolerates_taint(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, str]) -> bool:
    """k8s.io/api/core/v1 Toleration.ToleratesTaint."""
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("key") and t["key"] != taint["key"]:
            continue
        operator = t.get("operator") or "Equal"
        if operator == "Exists" or (operator == "Equal" and str(t.get("value") or "") == str(taint.get("value") or "")):
            return True
    return False


# ---------------------------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class Node:
    name: str
    pool: str
    instance_type: str
    zone: str
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, str], ...]
    allocatable: tuple[int, int, int, int]
    """Millicores, memory bytes, ephemeral-storage bytes, pods."""


def ephemeral_allocatable(capacity: int) -> int:
    return max(0, capacity - KUBE_RESERVED_EPHEMERAL_BYTES - int(capacity * NODEFS_EVICTION_FRACTION))


def _nodes(pools: Sequence[PoolShape], types: Mapping[str, str], counts: Mapping[str, int]) -> tuple[Node, ...]:
    catalog = load_catalog()
    nodes = []
    for pool in pools:
        instance = catalog[types[pool.name]]
        for i in range(counts[pool.name]):
            name = f"{pool.name}-{i + 1}"
            zone = pool.zones[i % len(pool.zones)] if pool.zones else "zone"
            labels = {**pool.labels, HOSTNAME: name, ZONE: zone, INSTANCE_TYPE: instance.name,
                      "kubernetes.io/os": "linux", "kubernetes.io/arch": instance.arch}
            nodes.append(Node(name, pool.name, instance.name, zone, MappingProxyType(labels),
                              tuple(t for t in pool.taints if t.get("effect") in ("NoSchedule", "NoExecute")),
                              (instance.alloc_millicpu, instance.alloc_memory_bytes,
                               ephemeral_allocatable(int(pool.ephemeral_bytes_per_type.get(instance.name, 0))),
                               instance.max_pods)))
    return tuple(nodes)


def _static_reason(t: _Template, node: Node) -> str | None:
    """Why a node can never host the pod (selector, affinity, taints), kube-scheduler's wording; None if it can."""
    if any(node.labels.get(k) != v for k, v in t.node_selector.items()) or (
            t.node_terms is not None and not any(
                term and all(_requirement(node.labels, *r) for r in term) for term in t.node_terms)):
        return "didn't match Pod's node affinity/selector"
    for taint in node.taints:
        if not tolerates_taint(t.tolerations, taint):
            return f"had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
    return None


# ---------------------------------------------------------------------------------------------- placement engine


class _Cluster:
    """Mutable placement state for one scenario: free resources per node and pods per topology domain."""

    def __init__(self, nodes: tuple[Node, ...], templates: list[_Template], reserve: tuple[int, int, int, int],
                 priority: list[int]):
        self.nodes, self.templates, self.priority = nodes, templates, priority
        self.free = [list(n.allocatable) for n in nodes]
        self.placed: dict[str, int] = {}
        self.owner: dict[str, int] = {}
        self.pods_on: list[list[str]] = [[] for _ in nodes]
        self.static = [[_static_reason(t, n) for n in nodes] for t in templates]
        self.eligible = [[n for n, reason in enumerate(row) if reason is None] for row in self.static]
        self.keys = sorted({*(a.topology_key for t in templates for a in t.anti),
                            *(s.topology_key for t in templates for s in t.spread)})
        # Topology domains (key, label value) numbered once; per node, its domain of each key; per domain, pods per
        # template index.
        domains: dict[tuple[str, str], int] = {}
        self.node_domain: list[dict[str, int]] = [
            {k: domains.setdefault((k, node.labels[k]), len(domains)) for k in self.keys if k in node.labels}
            for node in nodes]
        self.domain_counts = [[0] * len(templates) for _ in domains]
        self.per_node = [[0] * len(templates) for _ in nodes]
        # Anti-affinity as "template i may not share a `key` domain with templates S": its own terms and, by
        # symmetry, every other template's terms that match it.
        self.blockers: list[list[tuple[str, frozenset[int]]]] = [[] for _ in templates]
        for i, t in enumerate(templates):
            for a in t.anti:
                hits = frozenset(j for j, u in enumerate(templates) if self._anti_hit(a, u))
                if hits:
                    self.blockers[i].append((a.topology_key, hits))
                for j in hits - {i}:
                    self.blockers[j].append((a.topology_key, frozenset((i,))))
        self.spread_hits = [[frozenset(j for j, u in enumerate(templates)
                                       if u.namespace == t.namespace and s.selector.matches(u.labels))
                             for s in t.spread] for t in templates]
        self.spread_nodes = [[[n for n, node in enumerate(nodes) if _static_reason(_relaxed(t, s), node) is None]
                              for s in t.spread] for t in templates]
        self._daemonsets(reserve)

    def copy(self) -> "_Cluster":
        """A cluster in the same state that can be changed independently (the static tables are shared)."""
        other = object.__new__(_Cluster)
        other.__dict__.update(self.__dict__)
        other.free = [list(f) for f in self.free]
        other.placed = dict(self.placed)
        other.owner = dict(self.owner)
        other.pods_on = [list(p) for p in self.pods_on]
        other.domain_counts = [list(c) for c in self.domain_counts]
        other.per_node = [list(c) for c in self.per_node]
        return other

    @staticmethod
    def _anti_hit(a: _AntiTerm, other: _Template) -> bool:
        return (a.namespaces is None or other.namespace in a.namespaces) and a.selector.matches(other.labels)

    def _daemonsets(self, reserve: tuple[int, int, int, int]) -> None:
        self.daemon_pending: list[tuple[int, int, list[str]]] = []
        used = [[0, 0, 0] for _ in self.nodes]
        for i, t in enumerate(self.templates):
            if t.kind != "DaemonSet":
                continue
            for n in self.eligible[i]:
                short = self.short(i, n)
                if short:
                    self.daemon_pending.append((i, n, short))
                    continue
                self.place(i, n, f"{t.namespace}/{t.name}@{self.nodes[n].name}")
                used[n] = [u + r for u, r in zip(used[n], t.requests)]
        for n, free in enumerate(self.free):
            # The bundle's DaemonSets and the add-ons outside it share one budget; charge whichever is larger.
            for r in (_CPU, _MEMORY, _EPHEMERAL):
                free[r] -= max(0, reserve[r] - used[n][r])
            free[_PODS] -= reserve[_PODS]

    def short(self, i: int, n: int) -> list[str]:
        """The resources a pod of template i lacks on node n."""
        t, free = self.templates[i], self.free[n]
        out = [RESOURCES[r] for r in (_CPU, _MEMORY, _EPHEMERAL) if t.requests[r] and t.requests[r] > free[r]]
        if free[_PODS] < 1:
            out.append("pods")
        return out

    def _anti_ok(self, i: int, n: int) -> bool:
        domain = self.node_domain[n]
        for key, hits in self.blockers[i]:
            d = domain.get(key)
            if d is not None:
                counts = self.domain_counts[d]
                if any(counts[j] for j in hits):
                    return False
        return True

    def _spread_ok(self, i: int) -> list[set[int]]:
        """Per DoNotSchedule constraint, the nodes where one more pod keeps the skew within maxSkew."""
        t = self.templates[i]
        allowed = []
        for s, hits, nodes in zip(t.spread, self.spread_hits[i], self.spread_nodes[i]):
            # Like kube-scheduler, count only the pods on nodes the incoming pod's node affinity allows.
            counts: dict[str, int] = {}
            for n in nodes:
                value = self.nodes[n].labels.get(s.topology_key)
                if value is not None:
                    here = self.per_node[n]
                    counts[value] = counts.get(value, 0) + sum(here[j] for j in hits)
            low = min(counts.values()) if len(counts) >= s.min_domains else 0
            own = 1 if i in hits else 0
            allowed.append({n for n in nodes if (v := self.nodes[n].labels.get(s.topology_key)) is not None
                            and counts[v] + own - low <= s.max_skew})
        return allowed

    def candidates(self, i: int, only: Iterable[int] | None = None) -> list[int]:
        t, free, blockers = self.templates[i], self.free, self.blockers[i]
        cpu, memory, disk = t.requests
        spread = self._spread_ok(i) if t.spread else ()
        out = []
        for n in self.eligible[i] if only is None else only:
            f = free[n]
            if f[_PODS] < 1 or (cpu and cpu > f[_CPU]) or (memory and memory > f[_MEMORY]) or (
                    disk and disk > f[_EPHEMERAL]):
                continue
            if (blockers and not self._anti_ok(i, n)) or (spread and not all(n in ok for ok in spread)):
                continue
            out.append(n)
        return out

    def choose(self, i: int, policy: str, only: Iterable[int] | None = None) -> int | None:
        options = self.candidates(i, only)
        if not options:
            return None
        if policy == "first-fit":
            return options[0]
        # kube-scheduler's default NodeResourcesFit score (LeastAllocated over cpu and memory): the node with the
        # largest free share after placing the pod wins.
        cpu, memory = self.templates[i].requests[:2]

        def score(n: int) -> tuple[float, int]:
            alloc, free = self.nodes[n].allocatable, self.free[n]
            return (free[_CPU] - cpu) / alloc[_CPU] + (free[_MEMORY] - memory) / alloc[_MEMORY], -n

        return max(options, key=score)

    def place(self, i: int, n: int, pod: str) -> None:
        self._move(i, n, +1)
        self.placed[pod] = n
        self.owner[pod] = i
        self.pods_on[n].append(pod)

    def remove(self, i: int, pod: str) -> int:
        n = self.placed.pop(pod)
        del self.owner[pod]
        self._move(i, n, -1)
        self.pods_on[n].remove(pod)
        return n

    def _move(self, i: int, n: int, sign: int) -> None:
        t, free = self.templates[i], self.free[n]
        for r in (_CPU, _MEMORY, _EPHEMERAL):
            free[r] -= sign * t.requests[r]
        free[_PODS] -= sign
        self.per_node[n][i] += sign
        for d in self.node_domain[n].values():
            self.domain_counts[d][i] += sign

    def preempt(self, i: int) -> tuple[int, list[str]] | None:
        """kube-scheduler's DefaultPreemption, simplified: on each node, evict every lower-priority pod, check the pod
        fits, then give back victims (highest priority first) while it still fits. The node whose victims have the
        lowest top priority, then the fewest victims, wins. Returns (node, victims) or None."""
        mine = self.priority[i]
        best: tuple[tuple[int, int, int], int, list[str]] | None = None
        for n in self.eligible[i]:
            lower = [p for p in self.pods_on[n] if self.templates[self.owner[p]].kind != "DaemonSet"
                     and self.priority[self.owner[p]] < mine]
            if not lower:
                continue
            owners = {p: self.owner[p] for p in lower}
            for p in lower:
                self.remove(owners[p], p)
            victims = []
            if self.candidates(i, (n,)):
                for p in sorted(lower, key=lambda p: -self.priority[owners[p]]):
                    self.place(owners[p], n, p)
                    if not self.candidates(i, (n,)):
                        self.remove(owners[p], p)
                        victims.append(p)
            else:
                victims = None
            for p in lower:
                if p not in self.placed:
                    self.place(owners[p], n, p)
            if victims:
                rank = (max(self.priority[owners[p]] for p in victims), len(victims), n)
                if best is None or rank < best[0]:
                    best = (rank, n, victims)
        return None if best is None else (best[1], best[2])

    def schedule(self, pods: Iterable[_Pod], policy: str) -> list[_Pod]:
        """Place pods in arrival order, preempting lower-priority pods when a pod fits nowhere; evicted pods go
        back to the queue, and pending pods are retried until nothing changes. Returns the pods left Pending."""
        queue, pending = deque(pods), []
        while queue:
            pod = queue.popleft()
            n = self.choose(pod.template, policy)
            if n is None:
                preemption = self.preempt(pod.template)
                if preemption is None:
                    pending.append(pod)
                    continue
                n, victims = preemption
                for victim in victims:
                    owner = self.owner[victim]
                    self.remove(owner, victim)
                    queue.append(_Pod(owner, victim))
            self.place(pod.template, n, pod.name)
            if not queue and pending:
                retry = [p for p in pending if self.candidates(p.template)]
                pending = [p for p in pending if p not in retry]
                queue.extend(retry)
        return pending

    def blocker(self, i: int, n: int) -> str | None:
        """What keeps a pod of template i off node n right now: resources, anti-affinity, spread, or None."""
        if self.short(i, n):
            return "resources"
        if not self._anti_ok(i, n):
            return "anti-affinity"
        if self.templates[i].spread and not all(n in ok for ok in self._spread_ok(i)):
            return "spread"
        return None

    def reasons(self, i: int) -> str:
        """kube-scheduler's FailedScheduling summary for a pod of template i, e.g. `0/3 nodes are available:
        3 Insufficient cpu.`"""
        t, tally = self.templates[i], {}
        spread = self._spread_ok(i) if t.spread else []
        for n, node in enumerate(self.nodes):
            static = self.static[i][n]
            found = [static] if static else [f"Insufficient {r}" if r != "pods" else "Too many pods"
                                             for r in self.short(i, n)]
            if not found and not self._anti_ok(i, n):
                found = ["didn't match pod anti-affinity rules"]
            if not found and not all(n in ok for ok in spread):
                found = ["didn't match pod topology spread constraints"]
            for reason in found:
                tally[reason] = tally.get(reason, 0) + 1
        body = ", ".join(f"{count} {reason}" for reason, count in sorted(tally.items(), key=lambda kv: -kv[1]))
        short = [r for r, name in enumerate(RESOURCES) if f"Insufficient {name}" in tally]
        if short and self.eligible[i]:
            most = ", ".join(f"{_show(r, max(self.free[n][r] for n in self.eligible[i]))} {RESOURCES[r]}"
                             for r in short)
            body += f"; no node it may use has more than {most} free"
        return f"0/{len(self.nodes)} nodes are available: {body}"

    def signature(self) -> tuple:
        """What runs where, by template: equal for placements that differ only in pod names."""
        return tuple(tuple(sorted(self.owner[p] for p in pods)) for pods in self.pods_on)

    def snapshot_free(self) -> dict[str, dict[str, int]]:
        return {node.name: dict(zip((*RESOURCES, "pods"), self.free[n])) for n, node in enumerate(self.nodes)}


def _relaxed(t: _Template, spread: _Spread) -> _Template:
    """The pod as a spread constraint sees nodes: taints and node affinity left out unless its policies honour
    them."""
    changes: dict[str, Any] = {}
    if not spread.honor_taints:
        changes["tolerations"] = ({"operator": "Exists"},)
    if not spread.honor_affinity:
        changes.update(node_selector={}, node_terms=None)
    return _Template(**{**t.__dict__, **changes}) if changes else t


# ---------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Rollout:
    workload: str
    strategy: str
    """`RollingUpdate maxSurge 1 / maxUnavailable 0`, `Recreate`, `OnDelete`."""
    headroom: int
    """Extra pods of the workload that fit next to everything running (worst settled placement; capped at its
    replicas)."""
    progresses: bool
    reason: str


@dataclass(frozen=True)
class Scenario:
    name: str
    """`baseline` or `<pool>=<instance type>`."""
    instance_types: Mapping[str, str]
    """Pool → the instance type all its nodes have in this scenario."""
    nodes: tuple[Node, ...]
    placements: Mapping[str, str]
    """Pod (`namespace/name[i]`, DaemonSet pods `namespace/name@node`) → node, in the first-fit-decreasing order."""
    free: Mapping[str, Mapping[str, int]]
    """Node → what stays free after that placement: cpu (millicores), memory and ephemeral-storage (bytes), pods."""
    rollouts: tuple[Rollout, ...]
    orders: Mapping[str, tuple[str, ...]]
    """Creation order → the pods left Pending in it (empty: all started)."""
    daemons_pending: tuple[str, ...] = ()
    """DaemonSet pods (`namespace/name@node`) with no room on their node."""

    @property
    def feasible(self) -> bool:
        return not any(self.orders.values()) and not self.daemons_pending and all(r.progresses for r in self.rollouts)

    @property
    def nodes_used(self) -> int:
        """Nodes running a pod other than a DaemonSet's."""
        return len({at for pod, at in self.placements.items() if "@" not in pod})

    def pending(self) -> dict[tuple[str, ...], list[str]]:
        """Pods left Pending → the orders that leave exactly them Pending."""
        grouped: dict[tuple[str, ...], list[str]] = {}
        for order, pods in self.orders.items():
            if pods:
                grouped.setdefault(pods, []).append(order)
        return grouped


@dataclass(frozen=True)
class SchedulingReport:
    scenarios: tuple[Scenario, ...]
    problems: tuple[Problem, ...]

    def scenario(self, name: str) -> Scenario:
        return next(s for s in self.scenarios if s.name == name)

    def summary(self) -> dict[str, Any]:
        """Plain data for the plan's JSON output."""
        return {
            "problems": [str(p) for p in self.problems],
            "scenarios": {s.name: {
                "instanceTypes": dict(s.instance_types),
                "feasible": s.feasible,
                "nodesUsed": s.nodes_used,
                "nodes": {n.name: {"pool": n.pool, "instanceType": n.instance_type, "zone": n.zone,
                                   "pods": sorted(p for p, at in s.placements.items() if at == n.name),
                                   "free": _free_quantities(s.free[n.name])} for n in s.nodes},
                "pending": {order: list(pods) for order, pods in s.orders.items() if pods},
                "daemonSetPodsPending": list(s.daemons_pending),
                "rollouts": {r.workload: {"strategy": r.strategy, "headroom": r.headroom,
                                          "progresses": r.progresses, "reason": r.reason} for r in s.rollouts},
            } for s in self.scenarios},
        }

    def text(self) -> str:
        lines = []
        for s in self.scenarios:
            types = ", ".join(f"{p}={t}" for p, t in s.instance_types.items())
            lines.append(f"scenario {s.name} ({types}): {'feasible' if s.feasible else 'NOT feasible'}, "
                         f"{s.nodes_used} of {len(s.nodes)} nodes used")
            for n in s.nodes:
                free = s.free[n.name]
                pods = sorted(p for p, at in s.placements.items() if at == n.name)
                lines.append(f"  {n.name:<14} {n.instance_type:<13} {n.zone:<11} free {_show(0, free['cpu']):>7} "
                             f"cpu {_show(1, free['memory']):>8} mem {_show(2, free['ephemeral-storage']):>8} disk "
                             f"{free['pods']:>3} pods  {len(pods)} placed")
            for pods, orders in s.pending().items():
                more = f" and {len(orders) - 2} more orders" if len(orders) > 2 else ""
                lines.append(f"  pending when created {' / '.join(orders[:2])}{more}: {', '.join(pods)}")
            for r in s.rollouts:
                # With no free room, how it still progresses (or why it stalls) is the part a reviewer needs.
                how = f" ({r.reason})" if r.headroom == 0 and r.strategy.endswith("maxUnavailable 0") else ""
                lines.append(f"  roll {r.workload}: {r.strategy}, headroom {r.headroom} "
                             f"{'ok' if r.progresses else 'STALLS'}{how}")
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)


def _show(resource: int, value: int) -> str:
    if resource == _CPU:
        return f"{value}m"
    if resource == _MEMORY:
        return f"{value // MIB}Mi"
    return f"{value / GIB:.1f}Gi".replace(".0Gi", "Gi")


def _free_quantities(free: Mapping[str, int]) -> dict[str, Any]:
    return {"cpu": _show(_CPU, free["cpu"]), "memory": _show(_MEMORY, free["memory"]),
            "ephemeralStorage": _show(_EPHEMERAL, free["ephemeral-storage"]), "pods": free["pods"]}


# ---------------------------------------------------------------------------------------------- the check


def check(objects: Iterable[Mapping], pools: Sequence[PoolShape], *, priorities: Mapping[str, int] | None = None,
          node_reserve: Mapping[str, int] | None = None) -> SchedulingReport:
    """Place every rendered pod on the planned nodes of every scenario; see the module docstring.

    `priorities`: PriorityClass name → value (a pod without a known class counts as 0). `node_reserve`: the per-node
    DaemonSet budget (`cpu` millicores, `memory` and `ephemeral-storage` bytes, `pods`: slots of DaemonSets outside the
    bundle); defaults to stacks.sizing's budget and the EKS add-on pods.
    """
    templates = [t for t in (_template(o) for o in objects) if t is not None and t.replicas > 0]
    budget = {"cpu": DAEMONSET_OVERHEAD_MILLICPU, "memory": DAEMONSET_OVERHEAD_MEMORY_BYTES, "ephemeral-storage": 0,
              "pods": ADDON_DAEMONSET_PODS, **(node_reserve or {})}
    return _Check(pools, templates, [(priorities or {}).get(t.priority_class or "", 0) for t in templates],
                  (budget["cpu"], budget["memory"], budget["ephemeral-storage"], budget["pods"])).report()


@dataclass
class _Run:
    """One scenario evaluated."""

    cluster: _Cluster
    """The placement of the first order (first-fit-decreasing), as reported."""
    base: _Cluster
    """Only the DaemonSets placed."""
    pending: dict[str, list[_Pod]]
    """Creation order → pods left Pending."""
    first_ok: str | None
    """The first order that placed every pod."""
    rollouts: list[Rollout]
    settled: list[_Cluster]
    """The distinct placements of the orders that placed every pod."""


class _Check:
    def __init__(self, pools: Sequence[PoolShape], templates: list[_Template], priority: list[int],
                 reserve: tuple[int, int, int, int]):
        self.pools, self.templates, self.priority, self.reserve = list(pools), templates, priority, reserve
        self.shapes = {p.name: p for p in pools}
        self.catalog = load_catalog()
        self._fewest: dict[tuple, int | None] = {}

    def report(self) -> SchedulingReport:
        problems = [Problem(f"nodePools.{p.name}.instanceTypes[{k}]",
                            f"{name} is not in the instance-type catalog; scheduling was not checked for it")
                    for p in self.pools for k, name in enumerate(p.instance_types) if name not in self.catalog]
        scenarios = []
        for name, types in self.scenarios():
            run = self.evaluate(types, {p.name: p.nodes for p in self.pools})
            scenarios.append(self.scenario(name, types, run))
            problems += self.problems(run, types)
        return SchedulingReport(tuple(scenarios), tuple(dict.fromkeys(problems)))

    def scenarios(self) -> Iterator[tuple[str, dict[str, str]]]:
        """The baseline (every pool on its first type), then one scenario per further type of each pool."""
        first = {p.name: next((t for t in p.instance_types if t in self.catalog), None) for p in self.pools}
        if any(t is None for t in first.values()):
            return
        yield "baseline", first  # type: ignore[misc]
        for p in self.pools:
            for k, name in enumerate(p.instance_types):
                if k and name in self.catalog and name != first[p.name]:
                    yield f"{p.name}={name}", {**first, p.name: name}  # type: ignore[misc]

    def orders(self, nodes: tuple[Node, ...]) -> list[tuple[str, list[_Pod], str]]:
        """(name, pods in creation order, node choice) for every order tried."""
        templates, priority = self.templates, self.priority
        pods = [_Pod(i, f"{t.namespace}/{t.name}[{k}]") for i, t in enumerate(templates)
                if t.kind != "DaemonSet" and not t.transient for k in range(t.replicas)]
        biggest = [max((n.allocatable[r] for n in nodes), default=1) or 1 for r in range(3)]

        def size(p: _Pod) -> float:
            return max(templates[p.template].requests[r] / biggest[r] for r in range(3))

        largest = sorted(pods, key=lambda p: (-priority[p.template], -size(p)))
        smallest = sorted(pods, key=lambda p: (-priority[p.template], size(p)))
        by_size = sorted(pods, key=lambda p: -size(p))
        orders = [("largest first, first fit", largest, "first-fit"), ("largest first", largest, "least-allocated"),
                  ("smallest first", smallest, "least-allocated"),
                  ("largest first regardless of priority", by_size, "least-allocated"),
                  ("smallest first regardless of priority", by_size[::-1], "least-allocated"),
                  ("as rendered", pods, "least-allocated")]
        rng = random.Random(RANDOM_SEED)
        canonical = sorted(pods, key=lambda p: p.name)  # the same shuffles whatever order the objects come in
        for k in range(RANDOM_ORDERS):
            shuffled = list(canonical)
            rng.shuffle(shuffled)
            orders.append((f"in random order #{k + 1}", shuffled, "least-allocated" if k % 2 else "first-fit"))
        return orders

    def evaluate(self, types: Mapping[str, str], counts: Mapping[str, int]) -> _Run:
        nodes = _nodes(self.pools, types, counts)
        jobs = [_Pod(i, f"{t.namespace}/{t.name}[{k}]") for i, t in enumerate(self.templates) if t.transient
                for k in range(t.replicas)]
        base = _Cluster(nodes, self.templates, self.reserve, self.priority)
        pending, settled, reported = {}, [], None
        for order, pods, policy in self.orders(nodes):
            cluster = base.copy()
            left = cluster.schedule(pods, policy) + cluster.schedule(jobs, policy)
            for pod in jobs:
                if pod.name in cluster.placed:
                    cluster.remove(pod.template, pod.name)
            pending[order] = left
            if not left:
                settled.append((order, cluster))
            reported = reported or cluster
        distinct = list({c.signature(): c for _, c in reversed(settled)}.values())  # orders often settle alike
        growable = {p.name for p in self.pools if p.autoscaled and counts[p.name] < p.max_nodes}
        rollouts = _rollouts(self.templates, distinct or [reported], base, growable)
        return _Run(reported, base, pending, settled[0][0] if settled else None, rollouts,  # type: ignore[arg-type]
                    distinct)

    def replay(self, nodes: tuple[Node, ...], base: _Cluster, order: str) -> _Cluster:
        """The cluster as `order` left it, to quote the scheduler's reasons."""
        _, pods, policy = next(o for o in self.orders(nodes) if o[0] == order)
        cluster = base.copy()
        cluster.schedule(pods, policy)
        return cluster

    @staticmethod
    def scenario(name: str, types: Mapping[str, str], run: _Run) -> Scenario:
        cluster = run.cluster
        return Scenario(
            name=name, instance_types=MappingProxyType(dict(types)), nodes=cluster.nodes,
            placements=MappingProxyType({pod: cluster.nodes[n].name for pod, n in cluster.placed.items()}),
            free=MappingProxyType(cluster.snapshot_free()), rollouts=tuple(run.rollouts),
            orders=MappingProxyType({order: tuple(p.name for p in pods) for order, pods in run.pending.items()}),
            daemons_pending=tuple(f"{run.base.templates[i].namespace}/{run.base.templates[i].name}@"
                                  f"{run.base.nodes[n].name}" for i, n, _ in run.base.daemon_pending))

    # ------------------------------------------------------------------------------------------ problems

    def problems(self, run: _Run, types: Mapping[str, str]) -> Iterator[Problem]:
        base = run.base
        for i, n, short in base.daemon_pending:
            t, node = self.templates[i], base.nodes[n]
            yield Problem(self.type_key(node),
                          f"{node.instance_type}: {t.workload} has no room on node {node.name} ({', '.join(short)}: "
                          f"needs {t.needs()}); {_lower(t)} or use a larger instance type")
        everywhere = {i for i in range(len(self.templates))
                      if all(any(p.template == i for p in pods) for pods in run.pending.values())}
        reported = set()
        for order, pods in run.pending.items():
            for pod in pods:
                if pod.template not in reported:
                    reported.add(pod.template)
                    yield self.pending_problem(pod.template, order, run, types)
        for r in run.rollouts:
            if not r.progresses and r.workload not in {self.templates[i].workload for i in everywhere}:
                yield self.rollout_problem(r, run, types)

    def type_key(self, node: Node) -> str:
        return f"nodePools.{node.pool}.instanceTypes[{self.shapes[node.pool].instance_types.index(node.instance_type)}]"

    def pending_problem(self, i: int, order: str, run: _Run, types: Mapping[str, str]) -> Problem:
        t, base = self.templates[i], run.base
        pools = list(dict.fromkeys(base.nodes[n].pool for n in base.eligible[i]))
        if not pools:
            return Problem("nodePools", f"{t.workload} fits no pool: {base.reasons(i)}; give a pool the labels its "
                                        f"nodeSelector/affinity asks for ({dict(t.node_selector)}) and taints it "
                                        f"tolerates, or change its placement")
        misfit = _misfit(base, i)
        if misfit:
            node = misfit[0][3]
            dims = "; ".join(f"needs {_show(RESOURCES.index(r), need)} {r} but a node has "
                             f"{_show(RESOURCES.index(r), have)} allocatable after DaemonSets"
                             for r, need, have, _ in misfit)
            return Problem(self.type_key(node), f"{node.instance_type}: pod {t.workload} {dims}; remove the type or "
                                                f"{_lower(t)}")
        pool = pools[0]
        where = f"pool '{pool}' ({self.shapes[pool].nodes} × {types[pool]})"
        stranded = self.replay(base.nodes, base, order)
        why = stranded.reasons(i)
        stuck = sum(any(p.template == i for p in pods) for pods in run.pending.values())
        key, fix = self.fix(pool, types, stranded, i)
        if run.first_ok:
            return Problem(key,
                           f"first install depends on creation order: {t.workload} (needs {t.needs()}) stays Pending "
                           f"on {where} when pods are created {order} ({why}); it starts when created "
                           f"{run.first_ok}, but {stuck} of {len(run.pending)} orders leave it Pending; {fix}, "
                           f"{_lower(t)}, or give it a higher priorityClassName than the pods beside it (it is then "
                           f"scheduled first and may preempt them)")
        return Problem(key, f"{t.workload} (needs {t.needs()}) stays Pending on {where} in every creation order tried "
                            f"({why}); {fix} or {_lower(t)}")

    def rollout_problem(self, r: Rollout, run: _Run, types: Mapping[str, str]) -> Problem:
        i = next(k for k, t in enumerate(self.templates) if t.workload == r.workload)
        t, base = self.templates[i], run.base
        pool = next((base.nodes[n].pool for n in base.eligible[i]), None)
        if pool is None:
            return Problem("nodePools", f"{t.workload} cannot roll: {r.reason}")
        where = f"pool '{pool}' ({self.shapes[pool].nodes} × {types[pool]})"
        full = next((c for c in run.settled if not c.candidates(i)), run.cluster)
        key, fix = self.fix(pool, types, full, i)
        if t.kind == "Deployment":
            return Problem(key,
                           f"{t.workload} cannot roll on {where}: {r.strategy} needs room for one more pod (needs "
                           f"{t.needs()}) while all its pods run, and {r.reason}; every change to its pod template "
                           f"(even the config checksum) stalls until Helm's timeout; {fix}, {_lower(t)}, or let it "
                           f"retire a pod first (maxUnavailable ≥ 1)")
        return Problem(key, f"{t.workload} cannot roll on {where}: {r.reason}; {fix} or {_lower(t)}")

    def fix(self, pool: str, types: Mapping[str, str], cluster: _Cluster, i: int) -> tuple[str, str]:
        """(key, what to change) for a pod with no room on its pool: the fewest nodes that make every order and
        every rollout work (searched once per pool and scenario, maxSize first: when even that fails, no count
        does); else what blocks it on the nodes it may use — resources (a larger type), zones for a zone spread,
        or the node count ceiling."""
        shape, memo = self.shapes[pool], (pool, tuple(types.items()))
        if memo not in self._fewest:
            count = None
            if shape.max_nodes > shape.nodes and self.works(types, pool, shape.max_nodes):
                count = next(n for n in range(shape.nodes + 1, shape.max_nodes + 1) if
                             n == shape.max_nodes or self.works(types, pool, n))
            self._fewest[memo] = count
        count = self._fewest[memo]
        if count is not None:
            return f"nodePools.{pool}.minSize", f"raise nodePools.{pool}.minSize to {count}"
        blocked = {cluster.blocker(i, n) for n in cluster.eligible[i]} - {None}
        index = shape.instance_types.index(types[pool])
        if blocked <= {"resources"}:
            return (f"nodePools.{pool}.instanceTypes[{index}]",
                    f"even {shape.max_nodes} nodes (nodePools.{pool}.maxSize) would not help; use a larger instance "
                    f"type in nodePools.{pool}.instanceTypes")
        if "spread" in blocked and any(c.topology_key == ZONE for c in self.templates[i].spread):
            return ("network.azCount", f"spread the pool over more zones (network.azCount) or let the pod's zone "
                                       f"spread constraint ScheduleAnyway")
        return (f"nodePools.{pool}.maxSize",
                f"even {shape.max_nodes} nodes would not help; raise nodePools.{pool}.maxSize or relax the pod's "
                f"anti-affinity or spread constraints")

    def works(self, types: Mapping[str, str], pool: str, count: int) -> bool:
        run = self.evaluate(types, {**{p.name: p.nodes for p in self.pools}, pool: count})
        return (not any(run.pending.values()) and not run.base.daemon_pending
                and all(r.progresses for r in run.rollouts))


def _lower(t: _Template) -> str:
    key = resource_key(t.labels)
    return f"lower {key}" if key else f"lower the requests of {t.workload}"


def _misfit(base: _Cluster, i: int) -> list[tuple[str, int, int, Node]] | None:
    """When no eligible node could hold the pod even with only DaemonSets on it: (resource, needed, available, node)
    per short resource on the node closest to fitting; None if one would do."""
    t, nodes = base.templates[i], base.eligible[i]
    if not nodes or any(not base.short(i, n) for n in nodes):
        return None
    best = min(nodes, key=lambda n: len(base.short(i, n)))
    free = base.free[best]
    return [(name, t.requests[r], free[r], base.nodes[best]) for r, name in enumerate(RESOURCES)
            if t.requests[r] > free[r]]


# ---------------------------------------------------------------------------------------------- rollouts


def _scaled(value: Any, total: int, round_up: bool) -> int:
    """k8s.io/apimachinery intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, str) and value.endswith("%"):
        exact = Decimal(value[:-1]) * total / 100
        return int(ceil(exact) if round_up else floor(exact))
    return int(value)


def fenceposts(strategy: Mapping[str, Any], replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as the Deployment controller resolves them (kubernetes
    pkg/controller/deployment/util/deployment_util.go `ResolveFenceposts`): defaults 25 %/25 %, surge rounded up,
    unavailable rounded down, and both zero means one unavailable."""
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _headroom(cluster: _Cluster, i: int, cap: int) -> int:
    """Extra pods of template i that fit at once without evicting anything (placed, then taken back)."""
    added = []
    while len(added) < cap:
        n = cluster.choose(i, "least-allocated")
        if n is None:
            break
        pod = f"surge[{len(added)}]"
        cluster.place(i, n, pod)
        added.append(pod)
    for pod in added:
        cluster.remove(i, pod)
    return len(added)


def _rollouts(templates: list[_Template], clusters: list[_Cluster], base: _Cluster,
              growable: set[str]) -> list[Rollout]:
    out = []
    for i, t in enumerate(templates):
        if t.kind == "Deployment":
            out.append(_deployment_rollout(i, t, clusters, base, growable))
        elif t.kind == "StatefulSet":
            out.append(_statefulset_rollout(i, t, clusters))
        elif t.kind == "DaemonSet":
            rollout = _daemonset_rollout(i, t, clusters)
            if rollout:
                out.append(rollout)
    return out


def _new_node(i: int, base: _Cluster, growable: set[str]) -> str | None:
    """The autoscaled pool that would launch a node for a surge pod of template i: one below its maximum whose
    fresh node (its DaemonSets only) passes the pod's selectors and taints and has room for it."""
    return next((base.nodes[n].pool for n in base.eligible[i]
                 if base.nodes[n].pool in growable and not base.short(i, n)), None)


def _deployment_rollout(i: int, t: _Template, clusters: list[_Cluster], base: _Cluster,
                        growable: set[str]) -> Rollout:
    worst, tightest = min(((_headroom(c, i, t.replicas), c) for c in clusters), key=lambda hc: hc[0])
    if t.strategy.get("type") == "Recreate":
        return Rollout(t.workload, "Recreate", worst, True, "deletes every pod first")
    surge, unavailable = fenceposts(t.strategy, t.replicas)
    strategy = f"RollingUpdate maxSurge {surge} / maxUnavailable {unavailable}"
    if unavailable >= 1:
        return Rollout(t.workload, strategy, worst, True, "may retire a pod before its replacement starts")
    if worst >= 1:
        return Rollout(t.workload, strategy, worst, True, f"{worst} surge pod(s) fit beside the running pods")
    # No room: a surge pod of higher priority preempts, and the rollout still progresses if its victims start again.
    if not any(cluster.copy().schedule([_Pod(i, "surge[0]")], "least-allocated") for cluster in clusters):
        return Rollout(t.workload, strategy, 0, True,
                       "its surge pod preempts lower-priority pods, which start elsewhere")
    pool = _new_node(i, base, growable)
    if pool is not None:
        return Rollout(t.workload, strategy, 0, True,
                       f"its surge pod gets a new node: pool '{pool}' is autoscaled (Karpenter) and below its maxSize")
    return Rollout(t.workload, strategy, 0, False, tightest.reasons(i))


def _statefulset_rollout(i: int, t: _Template, clusters: list[_Cluster]) -> Rollout:
    worst = min(_headroom(c, i, t.replicas) for c in clusters)
    if (t.strategy.get("type") or "RollingUpdate") == "OnDelete":
        return Rollout(t.workload, "OnDelete", worst, True, "rolls only when its pods are deleted by hand")
    strategy = "RollingUpdate (one pod at a time)"
    for cluster in clusters:
        for pod in [p for p, owner in cluster.owner.items() if owner == i]:
            n = cluster.remove(i, pod)
            zone = cluster.nodes[n].labels.get(ZONE)
            only = [m for m in cluster.eligible[i] if not t.zone_pinned or cluster.nodes[m].labels.get(ZONE) == zone]
            back = cluster.choose(i, "least-allocated", only)
            why = "" if back is not None else cluster.reasons(i)
            cluster.place(i, n, pod)
            if back is None:
                return Rollout(t.workload, strategy, worst, False, f"{pod} cannot start again after deletion: {why}")
    return Rollout(t.workload, strategy, worst, True, "each deleted pod fits again")


def _daemonset_rollout(i: int, t: _Template, clusters: list[_Cluster]) -> Rollout | None:
    rolling = t.strategy.get("rollingUpdate") or {}
    if t.strategy.get("type") == "OnDelete" or not _scaled(rolling.get("maxSurge", 0), 1, True):
        return None
    for cluster in clusters:
        for n in cluster.eligible[i]:
            short = cluster.short(i, n)
            if short:
                return Rollout(t.workload, "RollingUpdate with maxSurge", 0, False,
                               f"node {cluster.nodes[n].name} has no room for a second pod ({', '.join(short)})")
    return Rollout(t.workload, "RollingUpdate with maxSurge", 1, True, "every node has room for a second pod")
