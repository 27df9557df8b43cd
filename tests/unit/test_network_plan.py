"""Subnet planning: property-based, since every VPC range and AZ count must give a valid layout."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from stacks.network_plan import plan_subnets


@given(prefix=st.integers(min_value=16, max_value=22), az_count=st.integers(min_value=2, max_value=6),
       second=st.integers(min_value=0, max_value=255))
def test_subnets_are_disjoint_inside_the_vpc_and_one_per_az(prefix, az_count, second):
    vpc = ipaddress.IPv4Network(f"10.{second}.0.0/{prefix}", strict=False)
    plan = plan_subnets(str(vpc), az_count)
    subnets = [ipaddress.IPv4Network(c) for c in plan.private + plan.public]
    assert len(plan.private) == len(plan.public) == az_count
    assert all(s.subnet_of(vpc) for s in subnets)
    for i, a in enumerate(subnets):
        for b in subnets[i + 1:]:
            assert not a.overlaps(b)
    # private subnets are the larger ones: nodes and pods take their addresses
    assert ipaddress.IPv4Network(plan.private[0]).num_addresses > ipaddress.IPv4Network(plan.public[0]).num_addresses


def test_known_layout_for_a_16_over_three_azs():
    plan = plan_subnets("10.50.0.0/16", 3)
    assert plan.private == ("10.50.0.0/19", "10.50.32.0/19", "10.50.64.0/19")
    assert plan.public == ("10.50.128.0/20", "10.50.144.0/20", "10.50.160.0/20")
