"""The capacity chain as arithmetic: pods → namespace quotas, pods → node pools. Pure; no Pulumi, no components.

The pod inventory itself (what the charts and the program will run) is read from the rendered objects of the
bundle (render/workloads.py); this module only sums it. Kubernetes rules followed here:
- a pod's effective request/limit per resource is max(sum of its containers, largest init container) (the
  scheduler and ResourceQuota both use it: k8s.io/component-helpers resource.PodRequests/PodLimits);
- a container without a value gets the namespace LimitRange default (LimitRanger admission);
- a quota counts non-terminal pods only, so finished Jobs cost nothing;
- during a rolling update a Deployment runs up to `maxSurge` extra pods (StatefulSets and DaemonSets with
  `maxSurge` 0 do not surge), and Helm upgrades every Deployment of a release at once, so surges add up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping

from stacks.catalog import load_catalog
from stacks.errors import Problem
from stacks.quantity import GIB, MIB, parse_quantity
from stacks.settings import PinnedQuota, ResourceList, Settings
from stacks.sizing import DAEMONSET_OVERHEAD_MEMORY_BYTES, DAEMONSET_OVERHEAD_MILLICPU, Plan

COMPUTE = ("cpu", "memory", "ephemeral-storage")
# ResourceQuota keys in the order the plan prints them; the first six come from pod resources.
QUOTA_KEYS = ("requests.cpu", "limits.cpu", "requests.memory", "limits.memory", "requests.ephemeral-storage",
              "limits.ephemeral-storage", "requests.storage", "persistentvolumeclaims", "pods",
              "services.loadbalancers", "services.nodeports")
# Settings attribute of `quotas.pinned.<ns>` per quota key (camelCase in the stack file).
PINNED_FIELDS = {"requests.cpu": "requests_cpu", "limits.cpu": "limits_cpu", "requests.memory": "requests_memory",
                 "limits.memory": "limits_memory", "requests.ephemeral-storage": "requests_ephemeral_storage",
                 "limits.ephemeral-storage": "limits_ephemeral_storage", "requests.storage": "requests_storage",
                 "persistentvolumeclaims": "persistentvolumeclaims", "pods": "pods",
                 "services.loadbalancers": "services_loadbalancers", "services.nodeports": "services_nodeports"}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


Amounts = Mapping[str, Decimal]
"""cpu in cores, memory and ephemeral-storage in bytes; a missing key means the container sets none."""


@dataclass(frozen=True)
class Container:
    name: str
    requests: Amounts
    limits: Amounts


@dataclass(frozen=True)
class Workload:
    namespace: str
    name: str
    kind: str
    """Deployment, StatefulSet, DaemonSet or Job."""
    pool: str | None
    """The node pool its nodeSelector picks; None for a DaemonSet on every node."""
    replicas: int
    containers: tuple[Container, ...]
    init_containers: tuple[Container, ...] = ()
    max_surge: int = 0
    """Extra pods during a rolling update (Deployments only)."""
    pvcs: int = 0
    """PersistentVolumeClaims per replica (StatefulSet volumeClaimTemplates) or in total (a Deployment's claim)."""
    pvc_bytes: int = 0
    """Storage those claims request, same basis as `pvcs`."""
    pvc_per_replica: bool = True
    services_loadbalancers: int = 0
    services_nodeports: int = 0
    """Services this workload brings (counted once, not per replica)."""
    priority_class: str | None = None


@dataclass(frozen=True)
class LimitDefaults:
    request: Amounts
    limit: Amounts


def amounts(values: Mapping[str, Any] | ResourceList | None) -> dict[str, Decimal]:
    """A Kubernetes resource map (or settings ResourceList) as exact numbers."""
    if values is None:
        return {}
    if isinstance(values, ResourceList):
        values = {"cpu": values.cpu, "memory": values.memory, "ephemeral-storage": values.ephemeral_storage}
    return {k: parse_quantity(v) for k, v in values.items() if k in COMPUTE and v is not None}


def limit_defaults(settings: Settings) -> LimitDefaults:
    return LimitDefaults(amounts(settings.quotas.default_request), amounts(settings.quotas.default_limit))


def effective(container: Container, defaults: LimitDefaults) -> Container:
    """What admission leaves on a container: LimitRange defaults fill what it does not set; a container that sets
    only a limit gets that limit as its request (Kubernetes defaulting)."""
    limits = {**defaults.limit, **container.limits}
    requests = {**{k: v for k, v in defaults.request.items() if k not in container.limits},
                **{k: v for k, v in container.limits.items()}, **container.requests}
    # A default request above an explicit limit would be rejected; Kubernetes users would see that, we cap it.
    requests = {k: min(v, limits[k]) if k in limits else v for k, v in requests.items()}
    return Container(container.name, requests, limits)


def pod_amounts(workload: Workload, defaults: LimitDefaults) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """(requests, limits) of one pod: max(sum of containers, largest init container) per resource."""
    main = [effective(c, defaults) for c in workload.containers]
    init = [effective(c, defaults) for c in workload.init_containers]
    result = []
    for side in ("requests", "limits"):
        total = {r: sum((getattr(c, side).get(r, Decimal(0)) for c in main), Decimal(0)) for r in COMPUTE}
        for c in init:
            for r in COMPUTE:
                total[r] = max(total[r], getattr(c, side).get(r, Decimal(0)))
        result.append(total)
    return result[0], result[1]


# ---------------------------------------------------------------------------------------------- quotas


@dataclass(frozen=True)
class NamespaceUsage:
    namespace: str
    planned: dict[str, Decimal]
    """Every pod at its planned replicas."""
    surge: dict[str, Decimal]
    """What rolling updates add on top."""

    def with_surge(self) -> dict[str, Decimal]:
        return {k: self.planned[k] + self.surge[k] for k in QUOTA_KEYS}


def namespace_usage(namespace: str, workloads: Iterable[Workload], defaults: LimitDefaults) -> NamespaceUsage:
    planned = {k: Decimal(0) for k in QUOTA_KEYS}
    surge = {k: Decimal(0) for k in QUOTA_KEYS}
    for w in workloads:
        if w.namespace != namespace:
            continue
        requests, limits = pod_amounts(w, defaults)
        per_pod = {**{f"requests.{r}": requests[r] for r in COMPUTE}, **{f"limits.{r}": limits[r] for r in COMPUTE},
                   "pods": Decimal(1)}
        for key, value in per_pod.items():
            planned[key] += value * w.replicas
            surge[key] += value * w.max_surge
        claims = w.replicas if w.pvc_per_replica else 1
        planned["persistentvolumeclaims"] += w.pvcs * claims
        planned["requests.storage"] += w.pvc_bytes * claims
        planned["services.loadbalancers"] += w.services_loadbalancers
        planned["services.nodeports"] += w.services_nodeports
    return NamespaceUsage(namespace, planned, surge)


def rounded(key: str, value: Decimal) -> Decimal:
    """Round up to what the quota is written in: millicores, MiB, GiB for volumes, whole objects."""
    if key.endswith(".cpu"):
        return Decimal(math.ceil(value * 1000)) / 1000
    if key in ("requests.memory", "limits.memory", "requests.ephemeral-storage", "limits.ephemeral-storage"):
        return Decimal(math.ceil(value / MIB) * MIB)
    if key == "requests.storage":
        return Decimal(math.ceil(value / GIB) * GIB)
    return Decimal(math.ceil(value))


def quantity(key: str, value: Decimal) -> str:
    """A rounded quota value as the Kubernetes quantity the ResourceQuota carries."""
    if key.endswith(".cpu"):
        return f"{int(value * 1000)}m"
    if key in ("requests.memory", "limits.memory", "requests.ephemeral-storage", "limits.ephemeral-storage"):
        return f"{int(value // MIB)}Mi"
    if key == "requests.storage":
        return f"{int(value // GIB)}Gi"
    return str(int(value))


def human(key: str, value: Decimal) -> str:
    if key.endswith(".cpu"):
        return f"{value.normalize():f} CPU"
    if key.startswith(("requests.", "limits.")):
        return f"{float(value) / GIB:.2f} GiB"
    return str(int(value))


def pinned_value(pinned: PinnedQuota | None, key: str) -> Decimal | None:
    if pinned is None:
        return None
    value = getattr(pinned, PINNED_FIELDS[key])
    return None if value is None else parse_quantity(value)


@dataclass(frozen=True)
class NamespaceQuotaPlan:
    namespace: str
    usage: NamespaceUsage
    hard: dict[str, Decimal]
    """The ResourceQuota's `spec.hard`, rounded (computed, or pinned where the stack file pins a key)."""
    pinned: tuple[str, ...]
    max_cpu: Decimal
    max_memory: int
    """LimitRange max per container: the largest node in the cluster (a limit may exceed its own node's
    allocatable, which only means it is never throttled there; requests are checked per pool)."""

    def manifest_hard(self) -> dict[str, str]:
        return {k: quantity(k, v) for k, v in self.hard.items()}


def namespace_quota(settings: Settings, namespace: str, workloads: tuple[Workload, ...]) -> NamespaceQuotaPlan:
    usage = namespace_usage(namespace, workloads, limit_defaults(settings))
    factor = 1 + Decimal(str(settings.quotas.headroom))
    pinned = settings.quotas.pinned.get(namespace)
    hard, pinned_keys = {}, []
    for key, value in usage.with_surge().items():
        fixed = pinned_value(pinned, key)
        if fixed is not None:
            hard[key] = rounded(key, fixed)
            pinned_keys.append(key)
        else:
            hard[key] = rounded(key, value * factor)
    catalog = load_catalog()
    types = [catalog[t] for p in settings.node_pools.values() for t in p.instance_types if t in catalog]
    return NamespaceQuotaPlan(namespace, usage, hard, tuple(pinned_keys),
                              max_cpu=Decimal(max((t.alloc_millicpu for t in types), default=0)) / 1000,
                              max_memory=max((t.alloc_memory_bytes for t in types), default=0))


def guarded_namespaces(settings: Settings) -> tuple[str, ...]:
    names = [settings.milvus.namespace]
    if settings.monitoring.enabled:
        names.append(settings.monitoring.namespace)
    names += [n for n in settings.quotas.extra_namespaces if n not in names]
    return tuple(names)


# ---------------------------------------------------------------------------------------------- pools


@dataclass(frozen=True)
class PoolFit:
    pool: str
    max_nodes: int
    instance_type: str
    requested_cpu: Decimal
    """Pods placed on the pool (surge included) plus the per-node DaemonSet overhead on every node."""
    requested_memory: int
    allocatable_cpu: Decimal
    allocatable_memory: int
    pods: tuple[str, ...] = field(default=(), compare=False)


def pool_fits(settings: Settings, workloads: tuple[Workload, ...]) -> tuple[PoolFit, ...]:
    catalog = load_catalog()
    defaults = limit_defaults(settings)
    fits = []
    for name, pool in settings.node_pools.items():
        node = catalog[pool.instance_types[0]]
        cpu = Decimal(DAEMONSET_OVERHEAD_MILLICPU) / 1000 * pool.max_size
        memory = DAEMONSET_OVERHEAD_MEMORY_BYTES * pool.max_size
        placed = [w for w in workloads if w.pool == name]
        for w in placed:
            requests, _ = pod_amounts(w, defaults)
            pods = w.replicas + w.max_surge
            cpu += requests["cpu"] * pods
            memory += int(requests["memory"]) * pods
        fits.append(PoolFit(name, pool.max_size, node.name, cpu, memory,
                            Decimal(node.alloc_millicpu) / 1000 * pool.max_size,
                            node.alloc_memory_bytes * pool.max_size, tuple(w.name for w in placed)))
    return tuple(fits)


# ---------------------------------------------------------------------------------------------- the chain


@dataclass(frozen=True)
class CapacityReport:
    quotas: tuple[NamespaceQuotaPlan, ...]
    pools: tuple[PoolFit, ...]
    problems: tuple[Problem, ...]

    def quota(self, namespace: str) -> NamespaceQuotaPlan:
        return next(q for q in self.quotas if q.namespace == namespace)

    def summary(self) -> dict[str, Any]:
        """Plain data for the `plan` stack output: per namespace planned (with surge) vs quota, per pool
        requested vs allocatable at max size."""
        return {
            "namespaces": {q.namespace: {key: {"planned": quantity(key, rounded(key, q.usage.planned[key])),
                                               "withSurge": quantity(key, rounded(key, q.usage.with_surge()[key])),
                                               "quota": quantity(key, q.hard[key]),
                                               **({"pinned": True} if key in q.pinned else {})}
                                         for key in QUOTA_KEYS} for q in self.quotas},
            "pools": {p.pool: {"maxNodes": p.max_nodes, "instanceType": p.instance_type,
                               "requestedCpu": quantity("requests.cpu", rounded("requests.cpu", p.requested_cpu)),
                               "allocatableCpu": quantity("requests.cpu", p.allocatable_cpu),
                               "requestedMemory": quantity("requests.memory",
                                                           rounded("requests.memory", Decimal(p.requested_memory))),
                               "allocatableMemory": quantity("requests.memory", Decimal(p.allocatable_memory))}
                      for p in self.pools},
        }


# Whether each pod fits a node, for every instance type a pool allows, is the scheduling check's
# (stacks/scheduling.py); this module keeps the sums: quotas, pools at max size, local disk.
def analyse(settings: Settings, plan: Plan, workloads: tuple[Workload, ...]) -> CapacityReport:
    quotas = tuple(namespace_quota(settings, ns, workloads) for ns in guarded_namespaces(settings))
    pools = pool_fits(settings, workloads)
    problems = [*_quota_problems(settings, quotas), *_pool_problems(settings, pools),
                *_disk_problems(settings, plan),
                *_limit_range_problems(settings, quotas, workloads)]
    return CapacityReport(quotas, pools, tuple(problems))


def _quota_problems(settings: Settings, quotas: tuple[NamespaceQuotaPlan, ...]) -> Iterable[Problem]:
    guarded = {q.namespace for q in quotas}
    for ns in settings.quotas.pinned:
        if ns not in guarded:
            yield Problem(f"quotas.pinned.{ns}", f"namespace '{ns}' is not guarded (guarded: "
                                                 f"{', '.join(sorted(guarded))}); add it to quotas.extraNamespaces")
    for ns in settings.quotas.extra_namespaces:
        if ns not in settings.quotas.pinned and ns in guarded and ns not in (settings.milvus.namespace,
                                                                             settings.monitoring.namespace):
            yield Problem(f"quotas.extraNamespaces", f"namespace '{ns}' runs nothing the plan knows of, so its quota "
                                                     f"cannot be derived; pin it under quotas.pinned.{ns}")
    for q in quotas:
        needed = q.usage.with_surge()
        for key in q.pinned:
            if q.hard[key] < needed[key]:
                yield Problem(f"quotas.pinned.{q.namespace}.{camel(PINNED_FIELDS[key])}",
                              f"pins {key} at {human(key, q.hard[key])} but namespace '{q.namespace}' needs "
                              f"{human(key, needed[key])} for its planned pods including rolling-update surge "
                              f"({human(key, q.usage.planned[key])} + {human(key, q.usage.surge[key])} surge); raise "
                              f"it to at least {quantity(key, rounded(key, needed[key]))} or remove the pin")


def _pool_problems(settings: Settings, pools: tuple[PoolFit, ...]) -> Iterable[Problem]:
    for p in pools:
        for what, need, have, show in (("CPU requests", p.requested_cpu, p.allocatable_cpu, "requests.cpu"),
                                       ("memory requests", Decimal(p.requested_memory), Decimal(p.allocatable_memory),
                                        "requests.memory")):
            if need > have:
                per_node = have / p.max_nodes
                nodes = math.ceil((need - have) / per_node) + p.max_nodes if per_node else p.max_nodes
                yield Problem(f"nodePools.{p.pool}.maxSize",
                              f"{what} of the pods placed on pool '{p.pool}' (rolling-update surge and the "
                              f"per-node DaemonSet overhead included) need {human(show, need)} but {p.max_nodes} × "
                              f"{p.instance_type} offer {human(show, have)}; raise maxSize to at least {nodes}, use "
                              f"a larger instance type, or lower the replicas placed there")


def _disk_problems(settings: Settings, plan: Plan) -> Iterable[Problem]:
    name = settings.pool_for("queryNode")
    pool = settings.node_pools[name]
    needed = sum(g.local_disk_bytes for g in plan.groups)
    available = plan.query_node.local_disk_bytes * pool.max_size
    if needed > available:
        yield Problem(f"nodePools.{name}.maxSize",
                      f"the plan keeps {needed / GIB:.1f} GiB on query-node local disk but {pool.max_size} nodes "
                      f"hold {available / GIB:.1f} GiB ({plan.query_node.local_disk_bytes / GIB:.1f} GiB each); "
                      f"raise maxSize or use an instance type with more NVMe")


def _limit_range_problems(settings: Settings, quotas: tuple[NamespaceQuotaPlan, ...],
                          workloads: tuple[Workload, ...]) -> Iterable[Problem]:
    defaults = limit_defaults(settings)
    for q in quotas:
        for key, default in (("cpu", defaults.limit.get("cpu")), ("memory", defaults.limit.get("memory"))):
            cap = q.max_cpu if key == "cpu" else Decimal(q.max_memory)
            if default is not None and default > cap:
                yield Problem(f"quotas.defaultLimit.{key}",
                              f"{human('limits.' + key, default)} exceeds the largest node in namespace "
                              f"'{q.namespace}' ({human('limits.' + key, cap)}), the LimitRange max")
        for w in workloads:
            if w.namespace != q.namespace:
                continue
            for c in (*w.containers, *w.init_containers):
                limits = effective(c, defaults).limits
                if limits.get("cpu", 0) > q.max_cpu or limits.get("memory", 0) > q.max_memory:
                    yield Problem(f"nodePools.{w.pool}.instanceTypes" if w.pool else "quotas.defaultLimit",
                                  f"container {c.name} of {w.name} has limits cpu {limits.get('cpu')} memory "
                                  f"{human('limits.memory', limits.get('memory', Decimal(0)))}, above the largest "
                                  f"node ({q.max_cpu} CPU, {human('limits.memory', Decimal(q.max_memory))})")
