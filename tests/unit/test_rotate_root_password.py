"""The rotation command without a server: how it talks to kubectl, its recovery file, and its refusals.
The rotation itself runs against a real Milvus in tests/integration/test_auth_rotation.py."""

from __future__ import annotations

import base64
import datetime as dt
import json
import string

import pytest

from tools import rotate_root_password as rot


def test_kubectl_commands_read_and_patch_only_the_password_key():
    secret = rot.KubernetesSecret("milvus", "milvus-root-credentials", context="prod")
    assert secret.read_command() == ["kubectl", "--context", "prod", "-n", "milvus", "get", "secret",
                                     "milvus-root-credentials", "-o", "jsonpath={.data.password}"]
    write = secret.write_command("n3w")
    assert write[:8] == ["kubectl", "--context", "prod", "-n", "milvus", "patch", "secret",
                         "milvus-root-credentials"]
    patch = json.loads(write[write.index("-p") + 1])
    assert patch == {"data": {"password": base64.b64encode(b"n3w").decode()}}
    assert write[write.index("--type") + 1] == "merge"


def test_a_missing_kubectl_is_one_clear_error():
    with pytest.raises(rot.RotationError, match="not found; install kubectl"):
        rot.KubernetesSecret("milvus", "x", kubectl="/nonexistent/kubectl").read()


def test_generated_passwords_are_long_alphanumeric_and_differ():
    first, second = rot.generate(), rot.generate()
    assert len(first) == rot.PASSWORD_LENGTH and set(first) <= set(string.ascii_letters + string.digits)
    assert first != second


def test_password_file_store_round_trips_and_stays_private(tmp_path):
    store = rot.PasswordFile(tmp_path / "pw")
    store.write("abc")
    assert store.read() == "abc" and oct((tmp_path / "pw").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(rot.RotationError, match="cannot read"):
        rot.PasswordFile(tmp_path / "missing").read()


def test_recovery_file_is_named_by_utc_time(tmp_path):
    at = dt.datetime(2026, 11, 30, 12, 0, 5, tzinfo=dt.timezone.utc)
    assert rot.recovery_file(tmp_path, at).name == "milvus-root-password.20261130T120005Z"


def test_unreachable_server_changes_nothing(tmp_path):
    store = rot.PasswordFile(tmp_path / "pw")
    store.write("old")
    with pytest.raises(rot.RotationError, match="cannot reach Milvus"):
        rot.rotate("http://127.0.0.1:1", store, recovery_dir=tmp_path)
    assert store.read() == "old" and [p.name for p in tmp_path.iterdir()] == ["pw"]


def test_cli_argument_errors(capsys):
    assert rot.main(["--uri", "http://127.0.0.1:1", "--secret", "no-namespace"]) == 2
    assert "NAMESPACE/NAME" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rot.main(["--uri", "http://x:1"])  # neither --secret nor --password-file
