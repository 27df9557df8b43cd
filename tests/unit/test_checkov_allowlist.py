"""The checkov allow-list is well formed, scoped and documented (the scan itself: tests/integration/test_checkov.py)."""

from __future__ import annotations

from pathlib import Path

from policy.checkov_scan import Accepted, Finding, load_accepted, unaccepted

ROOT = Path(__file__).resolve().parents[2]


def test_every_accepted_check_has_a_reason_and_is_listed_in_the_readme():
    accepted = load_accepted()
    assert accepted
    readme = (ROOT / "README.md").read_text()
    for entry in accepted:
        assert len(entry.reason) > 40, entry.check_id
        assert f"`{entry.check_id}`" in readme, f"README does not list {entry.check_id}"


def test_acceptance_is_limited_to_its_resources():
    entry = Accepted("CKV_K8S_35", "why", ("Deployment.milvus.milvus-*",))
    milvus = Finding("CKV_K8S_35", "secrets as files", "Deployment.milvus.milvus-proxy", "f")
    job = Finding("CKV_K8S_35", "secrets as files", "Job.milvus.milvus-topology-abc", "f")
    other = Finding("CKV_K8S_16", "privileged", "Deployment.milvus.milvus-proxy", "f")
    assert unaccepted([milvus, job, other], [entry]) == [job, other]


def test_the_topology_job_is_not_covered_by_any_acceptance():
    # The program's own workload meets every check (3d704d9: its password was an env var, CKV_K8S_35).
    job = "Job.milvus.milvus-topology-0123456789"
    for check in ("CKV_K8S_35", "CKV_K8S_43", "CKV_K8S_22", "CKV_K8S_40"):
        assert unaccepted([Finding(check, "", job, "")], load_accepted()), check


def test_only_files_of_nothing_but_crds_are_left_out(tmp_path: Path):
    from policy.checkov_scan import _only_crds
    crd = tmp_path / "crd.yaml"
    crd.write_text("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  names:\n"
                   "    kind: Prometheus\n")
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(crd.read_text() + "---\napiVersion: v1\nkind: Pod\n")
    assert _only_crds(crd) and not _only_crds(mixed)
