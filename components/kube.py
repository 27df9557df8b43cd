"""Registers a Kubernetes object from the bundle as its typed Pulumi resource (custom resources as
CustomResource), so a component never restates an object's fields."""

from __future__ import annotations

import functools
import re
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s

# (apiVersion, kind) → the SDK module and class; resolved on first use: pulumi_kubernetes loads a class and its
# input types lazily, and the program needs only some of these.
TYPED = {
    ("v1", "Namespace"): ("core.v1", "Namespace"),
    ("v1", "Secret"): ("core.v1", "Secret"),
    ("v1", "ConfigMap"): ("core.v1", "ConfigMap"),
    ("v1", "ResourceQuota"): ("core.v1", "ResourceQuota"),
    ("v1", "LimitRange"): ("core.v1", "LimitRange"),
    ("v1", "ServiceAccount"): ("core.v1", "ServiceAccount"),
    ("v1", "Service"): ("core.v1", "Service"),
    ("batch/v1", "Job"): ("batch.v1", "Job"),
    ("batch/v1", "CronJob"): ("batch.v1", "CronJob"),
    ("apps/v1", "Deployment"): ("apps.v1", "Deployment"),
    ("policy/v1", "PodDisruptionBudget"): ("policy.v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networking.v1", "NetworkPolicy"),
    ("scheduling.k8s.io/v1", "PriorityClass"): ("scheduling.v1", "PriorityClass"),
    ("storage.k8s.io/v1", "StorageClass"): ("storage.v1", "StorageClass"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("autoscaling.v2", "HorizontalPodAutoscaler"),
    ("rbac.authorization.k8s.io/v1", "Role"): ("rbac.v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rbac.v1", "RoleBinding"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("apiextensions.v1", "CustomResourceDefinition"),
}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def register(logical_name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """The object's top-level fields become the resource's arguments; nested fields pass through as written
    (the Kubernetes provider takes them in their API spelling)."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    found = TYPED.get((api_version, kind))
    if found is None:
        return k8s.apiextensions.CustomResource(logical_name, api_version=api_version, kind=kind, **fields,
                                                opts=opts)
    module, name = found
    typed = getattr(functools.reduce(getattr, module.split("."), k8s), name)
    return typed(logical_name, **{_snake(k): v for k, v in fields.items()}, opts=opts)
