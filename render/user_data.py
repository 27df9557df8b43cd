"""Launch-template user data for node pools, rendered as text (golden-file tested)."""

from __future__ import annotations

import base64

BOUNDARY = "MILVUS-EKS-BOUNDARY"
AIO_MAX_NR = 10485760


def render_nvme_user_data() -> str:
    """MIME multipart user data for AL2023 managed node groups on NVMe instance types.

    The `application/node.eks.aws` part carries only what we add; EKS merges its own NodeConfig (cluster name,
    endpoint, CA) for managed node groups on EKS AMIs. `localStorage.strategy: RAID0` stripes every instance-store
    volume and bind-mounts the kubelet and containerd directories onto it, so emptyDirs (Milvus' local data at
    /var/lib/milvus/data) live on NVMe (awslabs/amazon-eks-ami nodeadm/doc/api.md, LocalStorageOptions).
    DiskANN issues many concurrent async I/Os: `fs.aio-max-nr` is raised as the Milvus DiskANN docs advise.
    """
    return "\n".join([
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"',
        "",
        f"--{BOUNDARY}",
        "Content-Type: application/node.eks.aws",
        "",
        "---",
        "apiVersion: node.eks.aws/v1alpha1",
        "kind: NodeConfig",
        "spec:",
        "  instance:",
        "    localStorage:",
        "      strategy: RAID0",
        "",
        *_diskann_sysctl_part(),
    ])


def render_sysctl_user_data() -> str:
    """MIME multipart user data with only the DiskANN sysctl, for nodes whose instance store something else stripes
    (Karpenter's `instanceStorePolicy: RAID0` writes its own NodeConfig and merges this part before it)."""
    return "\n".join([
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"',
        "",
        *_diskann_sysctl_part(),
    ])


def _diskann_sysctl_part() -> list[str]:
    return [
        f"--{BOUNDARY}",
        'Content-Type: text/x-shellscript; charset="us-ascii"',
        "",
        "#!/bin/bash",
        "set -euo pipefail",
        f"echo 'fs.aio-max-nr = {AIO_MAX_NR}' > /etc/sysctl.d/90-milvus-diskann.conf",
        "sysctl -p /etc/sysctl.d/90-milvus-diskann.conf",
        "",
        f"--{BOUNDARY}--",
        "",
    ]


def encode(user_data: str) -> str:
    return base64.b64encode(user_data.encode()).decode()
