"""Network: a VPC with public and private subnets across AZs, NAT, and the subnet tags EKS load balancers need."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from render.naming import Namer
from stacks.errors import ConfigError, Problem
from stacks.network_plan import plan_subnets
from stacks.settings import NetworkSettings

# https://docs.aws.amazon.com/eks/latest/userguide/network-load-balancing.html (subnet tagging)
PUBLIC_ELB_TAG = {"kubernetes.io/role/elb": "1"}
PRIVATE_ELB_TAG = {"kubernetes.io/role/internal-elb": "1"}


@dataclass(frozen=True)
class NetworkArgs:
    settings: NetworkSettings
    availability_zones: tuple[str, ...]
    namer: Namer


def choose_zones(available: list[str], count: int) -> tuple[str, ...]:
    if len(available) < count:
        raise ConfigError([Problem("network.azCount", f"{count} AZs requested but the region offers only "
                                                      f"{len(available)} ({', '.join(available)}); lower azCount")])
    return tuple(sorted(available)[:count])


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:network:Network", name, None, opts)
        s, namer = args.settings, args.namer
        plan = plan_subnets(s.vpc_cidr, s.az_count)
        child = pulumi.ResourceOptions(parent=self)
        tags = namer.tags("network")

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=s.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True,
                          tags={**tags, "Name": namer.name("vpc")}, opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={**tags, "Name": namer.name("igw")},
                                      opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags={**tags, "Name": namer.name("public")}, opts=child)

        public, private, nats = [], [], []
        for i, (zone, pub_cidr, priv_cidr) in enumerate(zip(args.availability_zones, plan.public, plan.private)):
            pub = aws.ec2.Subnet(
                f"{name}-public-{i}", vpc_id=vpc.id, cidr_block=pub_cidr, availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**tags, **PUBLIC_ELB_TAG, "Name": namer.name("public", zone)}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=pub.id, route_table_id=public_rt.id,
                                          opts=child)
            public.append(pub)
            if s.nat_gateways == "perAz" or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags={**tags, "Name": namer.name("nat", zone)},
                                  opts=child)
                nats.append(aws.ec2.NatGateway(
                    f"{name}-nat-{i}", subnet_id=pub.id, allocation_id=eip.id,
                    tags={**tags, "Name": namer.name("nat", zone)}, opts=pulumi.ResourceOptions(
                        parent=self, depends_on=[igw])))
            priv = aws.ec2.Subnet(
                f"{name}-private-{i}", vpc_id=vpc.id, cidr_block=priv_cidr, availability_zone=zone,
                tags={**tags, **PRIVATE_ELB_TAG, "Name": namer.name("private", zone)}, opts=child)
            rt = aws.ec2.RouteTable(
                f"{name}-private-{i}", vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nats[-1].id}],
                tags={**tags, "Name": namer.name("private", zone)}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=priv.id, route_table_id=rt.id,
                                          opts=child)
            private.append(priv)

        self.vpc_id = vpc.id
        self.private_subnet_ids = [p.id for p in private]
        self.public_subnet_ids = [p.id for p in public]
        self.register_outputs({"vpcId": self.vpc_id, "privateSubnetIds": self.private_subnet_ids,
                               "publicSubnetIds": self.public_subnet_ids})
