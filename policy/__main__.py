"""CrossGuard wiring for the rules in policy/policies.py; run with `pulumi preview --policy-pack policy`.

Configuration (a JSON file passed with `--policy-pack-config`, keyed by policy name):
- `eks-endpoint-not-public.protectedStacks` (default ["prod"]): stacks whose EKS API endpoint must not be open to
  0.0.0.0/0. A cluster with deletion protection on counts as protected in any stack.
- `containers-have-resources.namespaces`, `helm-components-have-resources.namespaces` (default ["milvus",
  "monitoring"]): namespaces whose workloads must set cpu/memory requests and limits.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from policy import policies  # noqa: E402
from stacks.catalog import load_catalog  # noqa: E402


def _res_from_args(args) -> policies.Res:
    return policies.Res(type=args.resource_type, name=args.name, urn=args.urn, props=dict(args.props))


def _res_from_stack(resource) -> policies.Res:
    return policies.Res(type=resource.resource_type, name=resource.name, urn=resource.urn, props=dict(resource.props),
                        dependencies=tuple(d.urn for d in resource.dependencies),
                        parent=resource.parent.urn if resource.parent else "")


def _report(violations, report_violation) -> None:
    for v in violations:
        report_violation(v.message, v.urn) if v.urn else report_violation(v.message)


def _stack_policy(name: str, description: str, check) -> StackValidationPolicy:
    def validate(args, report_violation):
        _report(check([_res_from_stack(r) for r in args.resources]), report_violation)

    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=EnforcementLevel.MANDATORY)


def _resource_policy(name: str, description: str, check, config_key: str | None = None,
                     default: tuple[str, ...] = ()) -> ResourceValidationPolicy:
    def validate(args, report_violation):
        res = _res_from_args(args)
        if config_key is None:
            _report(check(res), report_violation)
        else:
            _report(check(res, tuple(args.get_config().get(config_key, default))), report_violation)

    schema = (PolicyConfigSchema({config_key: {"type": "array", "items": {"type": "string"}, "default": list(default)}})
              if config_key else None)
    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY, config_schema=schema)


def _has_nvme(instance_type: str) -> bool | None:
    info = load_catalog().get(instance_type)
    return info.nvme if info else None


PolicyPack(
    name="milvus-eks",
    policies=[
        _stack_policy("s3-public-access-blocked", "Every S3 bucket has a public access block with all four flags on.",
                      policies.s3_public_access_blocked),
        _stack_policy("s3-encrypted", "Every S3 bucket has default server-side encryption.", policies.s3_encrypted),
        _stack_policy("s3-tls-only", "Every S3 bucket policy denies requests without TLS.", policies.s3_tls_only),
        _stack_policy("nvme-pools-use-nvme-types", "Node groups with a RAID0 instance-store template use NVMe types.",
                      lambda resources: policies.nvme_pools_use_nvme_types(resources, _has_nvme)),
        _stack_policy("no-plaintext-secrets", "No resource input named like a credential holds a literal value.",
                      policies.no_plaintext_secrets),
        _resource_policy("imdsv2-required", "Launch templates and Karpenter EC2NodeClasses require IMDSv2 tokens.",
                         policies.imdsv2_required),
        _resource_policy("eks-endpoint-not-public", "A protected stack's EKS API endpoint is not open to 0.0.0.0/0.",
                         policies.eks_endpoint_not_public, "protectedStacks", policies.DEFAULT_PROTECTED_STACKS),
        _resource_policy("containers-have-resources", "Workload containers set cpu/memory requests and limits.",
                         policies.containers_have_resources, "namespaces", policies.DEFAULT_WORKLOAD_NAMESPACES),
        _resource_policy("helm-components-have-resources", "Helm chart components set cpu/memory requests and limits.",
                         policies.helm_components_have_resources, "namespaces", policies.DEFAULT_WORKLOAD_NAMESPACES),
    ],
)
