"""Network: a VPC with public and private subnets across AZs, NAT, and the subnet tags EKS load balancers need."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import aws
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

        vpc = aws.Vpc(f"{name}-vpc", {"cidrBlock": s.vpc_cidr, "enableDnsHostnames": True, "enableDnsSupport": True,
                                      "tags": {**tags, "Name": namer.name("vpc")}}, child)
        igw = aws.InternetGateway(f"{name}-igw", {"vpcId": vpc.id, "tags": {**tags, "Name": namer.name("igw")}}, child)
        public_rt = aws.RouteTable(f"{name}-public", {
            "vpcId": vpc.id, "routes": [{"cidrBlock": "0.0.0.0/0", "gatewayId": igw.id}],
            "tags": {**tags, "Name": namer.name("public")}}, child)

        public, private, nats = [], [], []
        for i, (zone, pub_cidr, priv_cidr) in enumerate(zip(args.availability_zones, plan.public, plan.private)):
            pub = aws.Subnet(f"{name}-public-{i}", {
                "vpcId": vpc.id, "cidrBlock": pub_cidr, "availabilityZone": zone, "mapPublicIpOnLaunch": False,
                "tags": {**tags, **PUBLIC_ELB_TAG, "Name": namer.name("public", zone)}}, child)
            aws.RouteTableAssociation(f"{name}-public-{i}", {"subnetId": pub.id, "routeTableId": public_rt.id}, child)
            public.append(pub)
            if s.nat_gateways == "perAz" or i == 0:
                eip = aws.Eip(f"{name}-nat-{i}", {"domain": "vpc", "tags": {**tags, "Name": namer.name("nat", zone)}},
                              child)
                nats.append(aws.NatGateway(
                    f"{name}-nat-{i}", {"subnetId": pub.id, "allocationId": eip.id,
                                        "tags": {**tags, "Name": namer.name("nat", zone)}},
                    pulumi.ResourceOptions(parent=self, depends_on=[igw])))
            priv = aws.Subnet(f"{name}-private-{i}", {
                "vpcId": vpc.id, "cidrBlock": priv_cidr, "availabilityZone": zone,
                "tags": {**tags, **PRIVATE_ELB_TAG, "Name": namer.name("private", zone)}}, child)
            rt = aws.RouteTable(f"{name}-private-{i}", {
                "vpcId": vpc.id, "routes": [{"cidrBlock": "0.0.0.0/0", "natGatewayId": nats[-1].id}],
                "tags": {**tags, "Name": namer.name("private", zone)}}, child)
            aws.RouteTableAssociation(f"{name}-private-{i}", {"subnetId": priv.id, "routeTableId": rt.id}, child)
            private.append(priv)

        self.vpc_id = vpc.id
        self.private_subnet_ids = [p.id for p in private]
        self.public_subnet_ids = [p.id for p in public]
        self.register_outputs({"vpcId": self.vpc_id, "privateSubnetIds": self.private_subnet_ids,
                               "publicSubnetIds": self.public_subnet_ids})
