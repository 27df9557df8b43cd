"""Registers a Kubernetes object from the bundle as the Kubernetes provider's resource of that type, so a component
never restates an object's fields.

The objects are already complete, in API spelling, so they go to the engine as `pulumi.CustomResource` with the
provider's own type token (`kubernetes:apps/v1:Deployment`) and the object's fields as inputs: the same token,
inputs and options the typed pulumi_kubernetes classes send, hence the same URNs and the same provider behaviour,
without loading their Python input/output types (the classes the program used took ~0.6 s of imports in every plan
and preview). tests/unit/test_kube_register.py proves the registrations equal those of the typed classes for every kind
here and every kind in the dev and prod bundles.
"""

from __future__ import annotations

from typing import Any, Mapping

import pulumi
from pulumi_kubernetes import _utilities

# What each typed class of pulumi_kubernetes 4.34.2 adds to a registration beyond its fields (its `_internal_init`
# in pulumi_kubernetes/<group>/<version>/<Kind>.py): aliases to the API versions the kind moved from, a check of
# its required fields, and for Secret, its values wrapped secret plus `additional_secret_outputs`. No class here
# sets replace_on_changes, delete_before_replace or any other option. Kinds not listed are custom resources, which
# `apiextensions.CustomResource` registers with nothing added but the provider version.
BUILT_IN: dict[tuple[str, str], tuple[str, ...]] = {
    ("v1", "Namespace"): (),
    ("v1", "Secret"): (),
    ("v1", "ConfigMap"): (),
    ("v1", "ResourceQuota"): (),
    ("v1", "LimitRange"): (),
    ("v1", "ServiceAccount"): (),
    ("v1", "Service"): (),
    ("batch/v1", "Job"): (),
    ("batch/v1", "CronJob"): ("batch/v1beta1", "batch/v2alpha1"),
    ("apps/v1", "Deployment"): ("apps/v1beta1", "apps/v1beta2", "extensions/v1beta1"),
    ("policy/v1", "PodDisruptionBudget"): ("policy/v1beta1",),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("extensions/v1beta1",),
    ("scheduling.k8s.io/v1", "PriorityClass"): ("scheduling.k8s.io/v1alpha1", "scheduling.k8s.io/v1beta1"),
    ("storage.k8s.io/v1", "StorageClass"): ("storage.k8s.io/v1beta1",),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("autoscaling/v1", "autoscaling/v2beta1", "autoscaling/v2beta2"),
    ("rbac.authorization.k8s.io/v1", "Role"): ("rbac.authorization.k8s.io/v1alpha1",
                                               "rbac.authorization.k8s.io/v1beta1"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rbac.authorization.k8s.io/v1alpha1",
                                                      "rbac.authorization.k8s.io/v1beta1"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("apiextensions.k8s.io/v1beta1",),
}
"""(apiVersion, kind) of every built-in kind the program registers → the API versions its typed class aliases."""

REQUIRED: dict[tuple[str, str], tuple[str, ...]] = {
    ("batch/v1", "CronJob"): ("spec",),
    ("apps/v1", "Deployment"): ("spec",),
    ("scheduling.k8s.io/v1", "PriorityClass"): ("value",),
    ("storage.k8s.io/v1", "StorageClass"): ("provisioner",),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("spec",),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("roleRef",),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("spec",),
}
"""Fields the typed class refuses to go without (its "Missing required property" TypeError)."""

SECRET_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {("v1", "Secret"): ("data", "stringData")}
"""Fields the typed class marks secret, as inputs (`pulumi.Output.secret`) and as outputs."""


def type_token(api_version: str, kind: str) -> str:
    """The provider's token: `kubernetes:apps/v1:Deployment`; the core group, which has no name in apiVersion, is
    `core` (`kubernetes:core/v1:Secret`)."""
    return f"kubernetes:{api_version if '/' in api_version else 'core/' + api_version}:{kind}"


class KubernetesObject(pulumi.CustomResource):
    """One Kubernetes object. A class of its own (not `pulumi.CustomResource` called directly) because Pulumi takes
    a resource's source position from the frame below the third `__init__` on the stack (pulumi/runtime/resource.py,
    `_get_stack_trace`), as it did for the typed classes: the caller of `register`."""

    def __init__(self, logical_name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions):
        key = (obj["apiVersion"], obj["kind"])
        props = dict(obj)
        for field in REQUIRED.get(key, ()):
            if props.get(field) is None:
                raise TypeError(f"{key[1]} {logical_name}: missing required property '{field}'")
        for field in SECRET_FIELDS.get(key, ()):
            if props.get(field) is not None:
                props[field] = pulumi.Output.secret(props[field])
        # As the typed classes do: the provider version under the caller's options, aliases and secret outputs over.
        opts = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(version=_utilities.get_version()), opts)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            aliases=[pulumi.Alias(type_=type_token(old, key[1])) for old in BUILT_IN.get(key, ())] or None,
            additional_secret_outputs=list(SECRET_FIELDS.get(key, ())) or None))
        super().__init__(type_token(*key), logical_name, props, opts)


def register(logical_name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """The object's fields become the resource's inputs as written (the Kubernetes provider takes them in their API
    spelling)."""
    return KubernetesObject(logical_name, obj, opts)
