"""How a VPC range is cut into per-AZ subnets (pure)."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SubnetPlan:
    private: tuple[str, ...]
    """One per AZ, carved from the first half of the VPC: nodes and pods (VPC CNI) live here."""
    public: tuple[str, ...]
    """One per AZ, carved from the third quarter: NAT gateways and internet-facing load balancers."""


def plan_subnets(vpc_cidr: str, az_count: int) -> SubnetPlan:
    """Private subnets get half the VPC and public a quarter, split evenly over the AZs; the last quarter stays
    free for later growth (e.g. a second set of pod subnets)."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    bits = math.ceil(math.log2(az_count)) if az_count > 1 else 0
    first_half, second_half = vpc.subnets(prefixlen_diff=1)
    public_quarter = next(second_half.subnets(prefixlen_diff=1))
    private = list(first_half.subnets(prefixlen_diff=bits))[:az_count]
    public = list(public_quarter.subnets(prefixlen_diff=bits))[:az_count]
    return SubnetPlan(tuple(map(str, private)), tuple(map(str, public)))
