"""Day-two operations against a real Milvus 2.3.5 with authentication on: rotating the root password through
`tools.rotate_root_password` (then the reconciler with the new and the old credential), and the reconciler after a
restore (restored collections are adopted, never dropped).

The module's server has authentication on (tests/integration/conftest.py `auth_milvus_server`); each test that
rotates puts the first-boot password back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymilvus import DataType, MilvusClient

from tests.integration.milvus_server import MilvusEndpoint
from tools.rotate_root_password import PasswordFile, rotate

pytestmark = pytest.mark.milvus

REPO = Path(__file__).resolve().parents[2]
HNSW = {"type": "HNSW", "params": {"M": 16, "efConstruction": 200}}
DIM = 8


@pytest.fixture(scope="module")
def auth_server(auth_milvus_server: MilvusEndpoint) -> MilvusEndpoint:
    return auth_milvus_server


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "MILVUS_PASSWORD"}


def _reconcile(uri: str, password_file: Path, spec: dict, tmp_path: Path, timeout: int = 120
               ) -> subprocess.CompletedProcess:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    return subprocess.run(
        [sys.executable, "-m", "topology.reconcile", "--uri", uri, "--spec", str(spec_file),
         "--password-file", str(password_file), "--timeout", str(timeout), "--json"],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout + 60)


def _rotate_cli(uri: str, password_file: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.rotate_root_password", "--uri", uri, "--password-file", str(password_file),
         *extra], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)


def _collection(name: str, database: str = "default") -> dict:
    return {"database": database, "name": name, "dim": DIM, "metric": "COSINE", "index": HNSW, "shards": 1,
            "replicas": 1, "resourceGroups": []}


def _report(done: subprocess.CompletedProcess) -> dict:
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def password_file(auth_server: MilvusEndpoint, tmp_path: Path) -> Iterator[Path]:
    """The stored copy of the root password, as the reconciler reads it; the server is rotated back afterwards so
    each test starts from the first-boot password."""
    path = tmp_path / "root-password"
    path.write_text(auth_server.password + "\n")
    yield path
    current = path.read_text().strip()
    if current != auth_server.password:
        client = MilvusClient(uri=auth_server.uri, token=f"root:{current}")
        client.update_password("root", current, auth_server.password)
        client.close()


def test_rotation_then_reconciler_converges_with_the_new_credential_and_fails_with_the_old(
        auth_server: MilvusEndpoint, password_file: Path, tmp_path: Path):
    old = password_file.read_text().strip()
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    done = _rotate_cli(auth_server.uri, password_file, "--recovery-dir", str(recovery))
    assert done.returncode == 0, done.stderr
    assert "2/3 changed in Milvus" in done.stdout and "3/3 written to the password file" in done.stdout
    new = password_file.read_text().strip()
    assert new != old and len(new) == 32
    assert list(recovery.iterdir()) == [], "the recovery copy is deleted once the store holds the password"

    spec = {"resourceGroups": [], "databases": [], "collections": [_collection("rotated_docs")]}
    converged = _reconcile(auth_server.uri, password_file, spec, tmp_path)
    assert converged.returncode == 0, converged.stderr
    assert _report(converged)["converged"] is True

    stale = tmp_path / "old-password"
    stale.write_text(old + "\n")
    refused = _reconcile(auth_server.uri, stale, spec, tmp_path, timeout=8)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    # One line naming the failed login. pymilvus reports UNAUTHENTICATED as "Fail connecting … unavailable", so
    # depending on how the reconciler classifies it the line names the connection or the credential.
    error = refused.stderr.strip().splitlines()[-1]
    assert error.startswith("error: "), refused.stderr
    assert any(word in error.lower() for word in ("fail connecting", "authenticat", "password", "credential")), error


def test_a_rotation_stopped_after_milvus_changed_resumes_from_its_recovery_file(
        auth_server: MilvusEndpoint, password_file: Path, tmp_path: Path):
    old = password_file.read_text().strip()
    # A real failure of the last step: the store's temporary file name is taken by a non-empty directory.
    blocker = password_file.with_name(f".{password_file.name}.new")
    blocker.mkdir()
    (blocker / "keep").write_text("x")
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    with pytest.raises(OSError):
        rotate(auth_server.uri, PasswordFile(password_file), recovery_dir=recovery, say=lambda _: None)
    (saved,) = recovery.iterdir()
    new = saved.read_text().strip()
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    assert password_file.read_text().strip() == old, "the store still holds the old password"
    spec = {"resourceGroups": [], "databases": [], "collections": []}
    assert _reconcile(auth_server.uri, password_file, spec, tmp_path, timeout=8).returncode == 1

    (blocker / "keep").unlink()
    blocker.rmdir()
    again = _rotate_cli(auth_server.uri, password_file)
    assert again.returncode == 1 and "--resume" in again.stderr, "without --resume it refuses, changing nothing"
    resumed = _rotate_cli(auth_server.uri, password_file, "--resume", str(saved))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    assert password_file.read_text().strip() == new and not saved.exists()
    assert _reconcile(auth_server.uri, password_file, spec, tmp_path).returncode == 0


def test_rotation_refuses_a_wrong_stored_password_or_an_unreachable_server(
        auth_server: MilvusEndpoint, tmp_path: Path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    done = _rotate_cli(auth_server.uri, wrong)
    assert done.returncode == 1 and "does not log in to Milvus as root (nothing changed)" in done.stderr
    assert wrong.read_text() == "not-the-password\n"
    gone = _rotate_cli("http://127.0.0.1:1", wrong)
    assert gone.returncode == 1 and "cannot reach Milvus" in gone.stderr


def _restore_like(client: MilvusClient, name: str, rows: int) -> None:
    """What milvus-backup restore leaves: the collection with its schema and shard count, its data imported and
    its index rebuilt (--rebuild_index), not loaded."""
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema, num_shards=1)
    client.insert(name, [{"id": i, "vector": [float((i + k) % 7) + 1.0 for k in range(DIM)]} for i in range(rows)])
    client.flush(name)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 200})
    client.create_index(name, index)


def test_the_reconciler_adopts_restored_collections_and_leaves_unknown_ones(
        auth_server: MilvusEndpoint, password_file: Path, tmp_path: Path):
    client = MilvusClient(uri=auth_server.uri, token=auth_server.token)
    try:
        _restore_like(client, "restored_docs", 300)
        _restore_like(client, "restored_docs_restored", 50)  # restored beside it with --suffix _restored
        assert str(client.get_load_state("restored_docs")["state"]).endswith("NotLoad")
        spec = {"resourceGroups": [], "databases": [], "collections": [_collection("restored_docs")]}
        first = _reconcile(auth_server.uri, password_file, spec, tmp_path)
        assert first.returncode == 0, first.stderr
        report = _report(first)
        assert report["converged"] is True
        assert not any("create" in a.lower() or "drop" in a.lower() for a in report["actions"]), report
        assert any("load" in a.lower() for a in report["actions"]), report
        assert "default.restored_docs_restored" in json.dumps(report["unmanaged"])
        # Adopted, not recreated: the restored rows are there and the collection serves queries.
        count = client.query("restored_docs", filter="", output_fields=["count(*)"], consistency_level="Strong")
        assert count[0]["count(*)"] == 300
        assert client.has_collection("restored_docs_restored")
        second = _reconcile(auth_server.uri, password_file, spec, tmp_path)
        assert second.returncode == 0 and _report(second)["actions"] == []
    finally:
        for name in ("restored_docs", "restored_docs_restored"):
            if client.has_collection(name):
                client.drop_collection(name)
        client.close()
