# The topology reconciler's image: the Job's pinned base image with its hash-pinned packages already installed, so a
# run needs no PyPI access. The reconciler script and its spec still come from the Job's ConfigMap.
# Build: docker build -f docker/reconciler.Dockerfile -t <registry>/milvus-eks-reconciler .
# Then set topology.reconcilerImage to <registry>/milvus-eks-reconciler@sha256:<digest the push printed>.
FROM python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3

COPY topology/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps --only-binary :all: \
        -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The Job's pod runs as 10001 (components/milvus_topology.py RUN_AS) with a read-only root filesystem.
USER 10001:10001
