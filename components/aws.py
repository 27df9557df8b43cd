"""The AWS resources the program creates, registered as the AWS provider's resources of their type without the typed
pulumi_aws classes.

A typed class (`pulumi_aws.ec2.Vpc`) is a translator: it takes snake_case arguments, renames them to the provider's
camelCase through its input types, adds the provider version and its own aliases, and sends one RegisterResource
request. Loading those classes costs the program more than anything else it does: a service module loads every
resource of that service with all their input and output types (pulumi_aws.ec2 alone ~0.5 s), on every plan, preview
and `pulumi up`. Here the components write the inputs in the provider's spelling, as the engine receives them (what
`pulumi preview --diff` and the plan artifacts show), and each class below sends the request its typed class sends:
same type token, inputs, provider version, plugin URL and aliases, hence the same URNs and the same provider
behaviour. tests/unit/test_aws_register.py proves it for every resource of the shipped stacks against the typed
classes of the pinned pulumi_aws, and checks every input key, at every depth, against the fields the SDK's types name.

Outputs: a resource exposes what the program reads of it (`outputs`, provider spelling: `cluster.certificateAuthority`)
beside its inputs and `id`/`urn`; nested values are plain dicts (`cluster.vpcConfig["clusterSecurityGroupId"]`), and
numbers arrive as the wire carries them, floats (a launch template's `latestVersion` is 1.0, where the typed class's
output type made it 1).
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import pulumi
from pulumi_aws import _utilities


class AwsResource(pulumi.CustomResource):
    """One resource of the pinned AWS provider, its inputs in the provider's spelling."""

    token: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ()
    """Inputs the typed class refuses to go without (its "Missing required property" TypeError)."""
    outputs: ClassVar[tuple[str, ...]] = ()
    """Outputs the program reads beyond its inputs."""
    aliases: ClassVar[tuple[str, ...]] = ()
    """Type tokens the typed class declares the resource had before (the provider renamed them)."""

    def __init__(self, logical_name: str, inputs: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None):
        for key in self.required:
            if inputs.get(key) is None:
                raise TypeError(f"{type(self).__name__} {logical_name}: missing required property '{key}'")
        # As the typed classes do: the provider's version and plugin URL under the caller's options, aliases over.
        opts = pulumi.ResourceOptions.merge(_utilities.get_resource_opts_defaults(), opts)
        if self.aliases:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                aliases=[pulumi.Alias(type_=token) for token in self.aliases]))
        super().__init__(self.token, logical_name, {**dict.fromkeys(self.outputs), **inputs}, opts)


# ---------------------------------------------------------------------------------------------- network (ec2, vpc)

class Vpc(AwsResource):
    token = "aws:ec2/vpc:Vpc"


class InternetGateway(AwsResource):
    token = "aws:ec2/internetGateway:InternetGateway"


class Subnet(AwsResource):
    token = "aws:ec2/subnet:Subnet"
    required = ("vpcId",)


class RouteTable(AwsResource):
    token = "aws:ec2/routeTable:RouteTable"
    required = ("vpcId",)


class RouteTableAssociation(AwsResource):
    token = "aws:ec2/routeTableAssociation:RouteTableAssociation"
    required = ("routeTableId",)


class Eip(AwsResource):
    token = "aws:ec2/eip:Eip"


class NatGateway(AwsResource):
    token = "aws:ec2/natGateway:NatGateway"


class Tag(AwsResource):
    token = "aws:ec2/tag:Tag"
    required = ("key", "resourceId", "value")


class LaunchTemplate(AwsResource):
    token = "aws:ec2/launchTemplate:LaunchTemplate"
    outputs = ("latestVersion",)


class SecurityGroupIngressRule(AwsResource):
    token = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    required = ("ipProtocol", "securityGroupId")


# ---------------------------------------------------------------------------------------------- IAM, KMS

class Role(AwsResource):
    token = "aws:iam/role:Role"
    required = ("assumeRolePolicy",)
    outputs = ("arn", "name")


class RolePolicy(AwsResource):
    token = "aws:iam/rolePolicy:RolePolicy"
    required = ("policy", "role")


class RolePolicyAttachment(AwsResource):
    token = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    required = ("policyArn", "role")


class OpenIdConnectProvider(AwsResource):
    token = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
    required = ("clientIdLists", "url")
    outputs = ("arn",)


class Key(AwsResource):
    token = "aws:kms/key:Key"
    outputs = ("arn",)


# ---------------------------------------------------------------------------------------------- EKS

class Cluster(AwsResource):
    token = "aws:eks/cluster:Cluster"
    required = ("roleArn", "vpcConfig")
    outputs = ("endpoint", "certificateAuthority", "identities")


class AccessEntry(AwsResource):
    token = "aws:eks/accessEntry:AccessEntry"
    required = ("clusterName", "principalArn")


class AccessPolicyAssociation(AwsResource):
    token = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
    required = ("accessScope", "clusterName", "policyArn", "principalArn")


class Addon(AwsResource):
    token = "aws:eks/addon:Addon"
    required = ("addonName", "clusterName")


class NodeGroup(AwsResource):
    token = "aws:eks/nodeGroup:NodeGroup"
    required = ("clusterName", "nodeRoleArn", "scalingConfig", "subnetIds")
    outputs = ("nodeGroupName",)


class PodIdentityAssociation(AwsResource):
    token = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
    required = ("clusterName", "namespace", "roleArn", "serviceAccount")


# ---------------------------------------------------------------------------------------------- S3

class Bucket(AwsResource):
    token = "aws:s3/bucket:Bucket"
    outputs = ("arn", "bucket")
    aliases = ("aws:s3/bucketV2:BucketV2", "aws:s3/bucketV2:BucketV2")  # listed twice by the typed class


class BucketPublicAccessBlock(AwsResource):
    token = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    required = ("bucket",)


class BucketOwnershipControls(AwsResource):
    token = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
    required = ("bucket", "rule")


class BucketServerSideEncryptionConfiguration(AwsResource):
    token = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    required = ("bucket", "rules")
    aliases = ("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",)


class BucketPolicy(AwsResource):
    token = "aws:s3/bucketPolicy:BucketPolicy"
    required = ("bucket", "policy")


class BucketVersioning(AwsResource):
    token = "aws:s3/bucketVersioning:BucketVersioning"
    required = ("bucket", "versioningConfiguration")
    aliases = ("aws:s3/bucketVersioningV2:BucketVersioningV2",)


class BucketLifecycleConfiguration(AwsResource):
    token = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    required = ("bucket",)
    aliases = ("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",)


# ---------------------------------------------------------------------------------------------- SQS, EventBridge

class Queue(AwsResource):
    token = "aws:sqs/queue:Queue"
    outputs = ("arn", "url")


class QueuePolicy(AwsResource):
    token = "aws:sqs/queuePolicy:QueuePolicy"
    required = ("policy", "queueUrl")


class EventRule(AwsResource):
    token = "aws:cloudwatch/eventRule:EventRule"
    outputs = ("name",)


class EventTarget(AwsResource):
    token = "aws:cloudwatch/eventTarget:EventTarget"
    required = ("arn", "rule")
