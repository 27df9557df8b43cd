"""The topology Job runs nothing it has not pinned: the image by digest, the packages by hash (issue 11, item 8)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from render import topology_job as mt
from render import milvus_values as mv
from stacks.errors import ConfigError
from stacks.versions import RECONCILER_IMAGE, RECONCILER_PYMILVUS
from tests.unit.test_milvus_values import settings_for
from tools import reconciler_requirements as rr
from tools.offline import Graph

ROOT = Path(__file__).resolve().parents[2]
DIGEST = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")
BUILT = "ghcr.io/example/milvus-eks-reconciler@sha256:" + "a" * 64


def _job(settings) -> dict:
    return mt.job_manifest(settings, name="t", configmap="t", uri="http://milvus:19530", secret_name="s",
                           secret_key="password")


def _requirements(text: str) -> dict[str, tuple[str, list[str]]]:
    entries = {}
    for block in text.replace("\\\n", " ").splitlines():
        if block.strip() and not block.startswith("#"):
            name_version, *hashes = block.split()
            name, version = name_version.split("==")
            entries[name] = (version, [h.removeprefix("--hash=") for h in hashes])
    return entries


def test_requirements_file_is_uv_locks_pymilvus_closure():
    # Stale after `uv lock`? Run `python -m tools.reconciler_requirements`.
    assert mt.REQUIREMENTS_FILE.read_text() == rr.render((ROOT / "uv.lock").read_text())


def test_every_requirement_is_pinned_with_hashes_and_pymilvus_matches_the_project():
    entries = _requirements(mt.reconciler_requirements())
    name, version = RECONCILER_PYMILVUS.split("==")
    assert entries[name][0] == version
    assert {"grpcio", "protobuf"} <= set(entries)  # pymilvus' transport really is in the closure
    for package, (_, hashes) in entries.items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), package


def test_the_job_installs_only_hash_pinned_wheels_in_a_digest_pinned_image(graph: Graph):
    (job,) = [r for r in graph.of_type("kubernetes:batch/v1:Job")]
    (container,) = job.inputs["spec"]["template"]["spec"]["containers"]
    command = container["command"][-1]
    # 3d704d9: `pip install 'pymilvus==3.0.2'` (no hashes, whatever the index served, dependencies unpinned) in
    # python:3.11.14-slim-bookworm (a tag).
    assert DIGEST.match(container["image"]) and container["image"] == RECONCILER_IMAGE
    for flag in ("--require-hashes", "--no-deps", "--only-binary :all:", f"-r {mt.SCRIPT_DIR}/requirements.txt"):
        assert flag in command
    (cm,) = [r for r in graph.of_type("kubernetes:core/v1:ConfigMap") if "reconcile.py" in r.inputs["data"]]
    assert cm.inputs["data"]["requirements.txt"] == mt.reconciler_requirements()


def test_a_prebuilt_image_skips_the_install_and_the_pypi_egress():
    s = settings_for("prod")
    built = s.model_copy(update={"topology": s.topology.model_copy(update={"reconciler_image": BUILT})})
    (container,) = _job(built)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == BUILT and "pip install" not in container["command"][-1]
    names = {p["metadata"]["name"] for p in mv.network_policy_manifests(built)}
    assert "milvus-allow-topology-egress" not in names
    assert "milvus-allow-topology-egress" in {p["metadata"]["name"] for p in mv.network_policy_manifests(s)}


def test_a_prebuilt_image_must_be_pinned_by_digest():
    from stacks.validation import load_settings
    from tests.conftest import stack_document
    config = stack_document("dev")
    raw = {k.removeprefix("milvus-eks:"): v for k, v in config.items() if k.startswith("milvus-eks:")}
    raw["topology"] = {**raw.get("topology", {}), "reconcilerImage": "ghcr.io/example/reconciler:1.0"}
    with pytest.raises(ConfigError) as err:
        load_settings(raw, config["aws:region"])
    assert err.value.paths() == ["topology.reconcilerImage"]


def test_dockerfile_and_workflow_build_the_image_from_the_same_pins():
    dockerfile = (ROOT / "docker" / "reconciler.Dockerfile").read_text()
    assert f"FROM {RECONCILER_IMAGE}" in dockerfile
    assert "topology/requirements.txt" in dockerfile and "--require-hashes" in dockerfile
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "reconciler-image.yml").read_text())
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    assert any("docker/reconciler.Dockerfile" in str(s) for s in steps)


def test_image_workflow_is_schema_valid_and_pins_its_actions():
    from tests.unit.test_workflows import load, lint, unpinned_uses
    path = ROOT / ".github" / "workflows" / "reconciler-image.yml"
    result = lint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert unpinned_uses(load(path)) == []
