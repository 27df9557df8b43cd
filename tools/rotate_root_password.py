"""Rotate Milvus' root password: change it in Milvus with the old credential, then in the stored copy.

    kubectl -n milvus port-forward svc/milvus 19530 &
    python -m tools.rotate_root_password --uri http://127.0.0.1:19530 --secret milvus/milvus-root-credentials
    python -m tools.rotate_root_password --uri http://milvus:19530 --password-file ./root-password   # no Kubernetes

Order (docs/runbook.md "Rotate the root password"): read the stored password and check it logs in; write the new one
to a recovery file (0600) before changing anything; `update_password(root, old, new)`; log in with the new one;
replace the stored copy; delete the recovery file. If it stops after Milvus changed, re-run with `--resume FILE`.
The stored copy is the root Secret (what the topology Job and the backups read) or, outside Kubernetes, a password
file as `topology/reconcile.py --password-file` reads it.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import logging
import os
import secrets
import socket
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol
from urllib.parse import urlparse

PASSWORD_KEY = "password"  # render/milvus_values.py ROOT_PASSWORD_KEY
PASSWORD_LENGTH = 32
ALPHABET = string.ascii_letters + string.digits


class RotationError(RuntimeError):
    pass


class Store(Protocol):
    def describe(self) -> str: ...
    def read(self) -> str: ...
    def write(self, password: str) -> None: ...


@dataclass(frozen=True)
class KubernetesSecret:
    """The root Secret, read and patched with kubectl (whatever kubeconfig/context the operator uses)."""

    namespace: str
    name: str
    kubectl: str = "kubectl"
    context: str | None = None

    def describe(self) -> str:
        return f"Secret {self.namespace}/{self.name}"

    def _base(self) -> list[str]:
        return [self.kubectl, *(["--context", self.context] if self.context else []), "-n", self.namespace]

    def read_command(self) -> list[str]:
        return [*self._base(), "get", "secret", self.name, "-o", f"jsonpath={{.data.{PASSWORD_KEY}}}"]

    def write_command(self, password: str) -> list[str]:
        patch = {"data": {PASSWORD_KEY: base64.b64encode(password.encode()).decode()}}
        return [*self._base(), "patch", "secret", self.name, "--type", "merge", "-p", json.dumps(patch)]

    def _run(self, command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise RotationError(f"{self.kubectl} not found; install kubectl or pass --kubectl PATH") from None
        if done.returncode != 0:
            raise RotationError(f"{' '.join(command[:6])} … failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def read(self) -> str:
        encoded = self._run(self.read_command()).strip()
        if not encoded:
            raise RotationError(f"{self.describe()} has no `{PASSWORD_KEY}` key")
        return base64.b64decode(encoded).decode()

    def write(self, password: str) -> None:
        self._run(self.write_command(password))


@dataclass(frozen=True)
class PasswordFile:
    path: Path

    def describe(self) -> str:
        return f"password file {self.path}"

    def read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise RotationError(f"cannot read {self.path}: {err.strerror}") from None

    def write(self, password: str) -> None:
        # Replace atomically: a reader never sees a half-written password.
        temp = self.path.with_name(f".{self.path.name}.new")
        temp.write_text(password + "\n", encoding="utf-8")
        temp.chmod(0o600)
        os.replace(temp, self.path)


def generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(PASSWORD_LENGTH))


def reachable(uri: str, timeout: float = 5.0) -> bool:
    parsed = urlparse(uri)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 19530), timeout=timeout):
            return True
    except OSError:
        return False


def logs_in(uri: str, user: str, password: str) -> bool:
    """Whether the credential is accepted. pymilvus reports a refused credential as "fail connecting", the same as
    an unreachable server, so callers check `reachable` first."""
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    try:
        client = MilvusClient(uri=uri, token=f"{user}:{password}", timeout=10)
    except MilvusException:
        return False
    try:
        client.list_collections()
        return True
    except MilvusException:
        return False
    finally:
        client.close()


def change_in_milvus(uri: str, user: str, old: str, new: str) -> None:
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    client = MilvusClient(uri=uri, token=f"{user}:{old}", timeout=30)
    try:
        client.update_password(user, old, new)
    except MilvusException as err:
        raise RotationError(f"Milvus refused the new password: {err.message}") from None
    finally:
        client.close()


def recovery_file(directory: Path, now: dt.datetime | None = None) -> Path:
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return directory / f"milvus-root-password.{stamp}"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def rotate(uri: str, store: Store, *, user: str = "root", resume: Path | None = None,
           recovery_dir: Path = Path("."), new_password: Callable[[], str] = generate,
           say: Callable[[str], None] = print) -> str:
    """Run the documented order; returns the password now in both Milvus and the store."""
    if not reachable(uri):
        raise RotationError(f"cannot reach Milvus at {uri} (nothing changed); check the address or port-forward")
    stored = store.read()
    if logs_in(uri, user, stored):
        new = resume.read_text(encoding="utf-8").strip() if resume else new_password()
        if new == stored:
            raise RotationError(f"the new password equals the one in the {store.describe()}; nothing to rotate")
        saved = resume or recovery_file(recovery_dir)
        if not resume:
            _write_private(saved, new)
        say(f"1/3 recovery copy of the new password in {saved} (mode 0600)")
        change_in_milvus(uri, user, stored, new)
        say(f"2/3 changed in Milvus at {uri} with the old credential")
    elif resume is not None and logs_in(uri, user, new := resume.read_text(encoding="utf-8").strip()):
        saved = resume
        say(f"resuming: Milvus already has the password from {resume}; the {store.describe()} still the old one")
    else:
        hint = (f"; if an earlier rotation stopped half-way, re-run with --resume <its recovery file>"
                if resume is None else f"; neither does the password in {resume}")
        raise RotationError(f"the password in the {store.describe()} does not log in to Milvus as {user} "
                            f"(nothing changed){hint}")
    if not logs_in(uri, user, new):
        raise RotationError(f"Milvus accepted the change but the new password does not log in; it is in {saved}")
    store.write(new)
    say(f"3/3 written to the {store.describe()}")
    saved.unlink(missing_ok=True)
    return new


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.rotate_root_password",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--uri", required=True, help="Milvus proxy, e.g. http://127.0.0.1:19530")
    parser.add_argument("--user", default="root")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--secret", help="NAMESPACE/NAME of the root Secret (stack output milvusRootSecret)")
    where.add_argument("--password-file", type=Path, help="file holding the password, outside Kubernetes")
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--resume", type=Path, help="recovery file of a rotation that stopped half-way")
    parser.add_argument("--recovery-dir", type=Path, default=Path("."))
    args = parser.parse_args(list(argv) if argv is not None else None)

    if args.secret:
        namespace, _, name = args.secret.partition("/")
        if not name:
            print("error: --secret must be NAMESPACE/NAME, e.g. milvus/milvus-root-credentials", file=sys.stderr)
            return 2
        store: Store = KubernetesSecret(namespace, name, args.kubectl, args.context)
    else:
        store = PasswordFile(args.password_file)
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    try:
        rotate(args.uri, store, user=args.user, resume=args.resume, recovery_dir=args.recovery_dir)
    except (RotationError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("rotated; pods reading the Secret get the new password at their next start")
    return 0


if __name__ == "__main__":
    sys.exit(main())
