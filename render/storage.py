"""The default StorageClass every volume of the stack uses (gp3, encrypted), as pure data; ClusterAddons registers
it once the EBS CSI driver runs."""

from __future__ import annotations

from render.naming import k8s_labels

GP3_STORAGE_CLASS = "gp3"


def gp3_storage_class_manifest(reclaim_policy: str = "Retain") -> dict:
    """`reclaim_policy` is `cluster.storageReclaimPolicy`: what happens to a gp3 volume when its claim (or the
    stack) goes."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": GP3_STORAGE_CLASS, "labels": k8s_labels("storage"),
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true", "fsType": "ext4"},
        "reclaimPolicy": reclaim_policy,
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
