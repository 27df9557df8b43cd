"""The EC2 instance-type catalog: vCPU, memory, local NVMe and what the kubelet leaves allocatable.

`data/instance_types.csv` is derived from Karpenter's generated instance-type reference
(aws/karpenter-provider-aws, website/content/en/docs/reference/instance-types.md): allocatable CPU/memory are
after kube-reserved, system-reserved and eviction thresholds on AL2023, and max pods is the VPC CNI limit.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from stacks.quantity import MIB, parse_quantity

CATALOG_FILE = Path(__file__).parent / "data" / "instance_types.csv"


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str
    arch: str  # "amd64" or "arm64"
    vcpu: int
    memory_mib: int
    local_nvme_gb: int  # 0 when the type has no instance store
    gpu: int
    alloc_millicpu: int
    alloc_memory_mib: int
    max_pods: int

    @property
    def nvme(self) -> bool:
        return self.local_nvme_gb > 0

    @property
    def alloc_cpu(self) -> float:
        return self.alloc_millicpu / 1000

    @property
    def alloc_memory_bytes(self) -> int:
        return self.alloc_memory_mib * MIB

    @property
    def nvme_bytes(self) -> int:
        # AWS states instance-store sizes in decimal gigabytes.
        return self.local_nvme_gb * 10**9


@lru_cache(maxsize=1)
def load_catalog() -> Mapping[str, InstanceType]:
    types = {}
    with CATALOG_FILE.open(newline="") as handle:
        for row in csv.DictReader(handle):
            types[row["instance_type"]] = InstanceType(
                name=row["instance_type"],
                family=row["family"],
                arch=row["arch"],
                vcpu=int(row["vcpu"]),
                memory_mib=int(row["memory_mib"]),
                local_nvme_gb=int(row["local_nvme_gb"] or 0),
                gpu=int(row["gpu"] or 0),
                alloc_millicpu=int(parse_quantity(row["alloc_cpu"]) * 1000),
                alloc_memory_mib=int(parse_quantity(row["alloc_memory"]) / MIB),
                max_pods=int(row["max_pods"]),
            )
    return MappingProxyType(types)
