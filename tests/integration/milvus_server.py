"""One real Milvus 2.3.5 standalone (PyPI `milvus`) for the integration tests.

Only one such server can run on a host: its embedded etcd always takes peer port 2380. Several pytest
processes may run at once during development, so the server is started and stopped under an exclusive
`flock` on a well-known lock file, held from before start until after stop.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import tempfile
import time
import typing
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LOCK_PATH = Path("/tmp/milvus-eks-milvus.lock")
START_TIMEOUT_S = 90.0
LOCK_TIMEOUT_S = 900.0
# Milvus 2.3.5's default root user and password; with authorization off they are accepted but not needed.
ROOT_USER = "root"
ROOT_PASSWORD = "Milvus"


class MilvusStartError(RuntimeError):
    """The Milvus binary died or did not become healthy in time (carries its log tail)."""


@dataclass(frozen=True)
class MilvusEndpoint:
    uri: str
    port: int
    metrics_url: str
    healthz_url: str
    base_dir: Path
    user: str = ROOT_USER
    password: str = ROOT_PASSWORD

    @property
    def token(self) -> str:
        return f"{self.user}:{self.password}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def host_lock(path: Path = LOCK_PATH, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[typing.TextIO]:
    """Exclusive lock across processes; polls so a stuck holder fails us with a message instead of a hang."""
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MilvusStartError(f"another process held {path} for more than {timeout_s:.0f}s") from None
                time.sleep(0.5)
        try:
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _reap_orphan(lock: typing.TextIO) -> None:
    """Kill a Milvus left running by a holder that died without stopping it (pytest killed mid-session).

    The lock file records the last server's pid and base dir; it is only trusted when that pid still runs
    the binary unpacked in that dir, so an unrelated process that reused the pid is never touched.
    """
    lock.seek(0)
    fields = lock.read().split()
    if len(fields) != 2 or not fields[0].isdigit():
        return
    pid, base_dir = int(fields[0]), fields[1]
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        cmdline = ""
    if cmdline == str(Path(base_dir) / "bin" / "milvus"):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    if Path(base_dir).name.startswith("milvus-eks-server-"):
        shutil.rmtree(base_dir, ignore_errors=True)


def _record(lock: typing.TextIO, text: str) -> None:
    lock.seek(0)
    lock.truncate()
    lock.write(text)
    lock.flush()


def _log_tail(base_dir: Path, lines: int = 40) -> str:
    chunks = []
    for name in ("milvus-stderr.log", "milvus-stdout.log"):
        log = base_dir / "logs" / name
        if log.exists():
            text = log.read_text(errors="replace").splitlines()[-lines:]
            chunks.append(f"--- {log} ---\n" + "\n".join(text))
    return "\n".join(chunks) or f"(no logs under {base_dir / 'logs'})"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return b"OK" in resp.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _grpc_ready(uri: str, token: str) -> bool:
    # /healthz turns OK slightly before the proxy accepts every RPC; one real call settles it.
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    try:
        client = MilvusClient(uri=uri, token=token, timeout=5)
    except MilvusException:
        return False
    try:
        client.list_collections()
        return True
    except MilvusException:
        return False
    finally:
        client.close()


def _wait_until_ready(server, endpoint: MilvusEndpoint, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = server.server_proc.poll()
        if code is not None:
            raise MilvusStartError(f"milvus exited with code {code} during start\n{_log_tail(endpoint.base_dir)}")
        if _healthy(endpoint.healthz_url) and _grpc_ready(endpoint.uri, endpoint.token):
            return
        time.sleep(0.2)
    raise MilvusStartError(
        f"milvus not healthy at {endpoint.healthz_url} after {timeout_s:.0f}s\n{_log_tail(endpoint.base_dir)}"
    )


@contextlib.contextmanager
def running_milvus(timeout_s: float = START_TIMEOUT_S, *, authorization: bool = False) -> Iterator[MilvusEndpoint]:
    """Start one Milvus standalone in a fresh temp dir; stop it and delete the dir (≈520 MB) afterwards.

    `authorization` turns on user authentication (user ROOT_USER, password ROOT_PASSWORD).
    """
    from milvus import MilvusServer

    with host_lock() as lock:
        _reap_orphan(lock)
        base_dir = Path(tempfile.mkdtemp(prefix="milvus-eks-server-"))
        server = None
        try:
            proxy_port = free_port()
            server = MilvusServer(proxy_port=proxy_port, wait_for_started=False)
            # The milvus package's config template key for common.security.authorizationEnabled.
            server.config.set("authorization_enabled", authorization)
            # set_base_dir points config, logs, etcd, rocksmq and local storage under base_dir and the
            # binaries are unpacked to base_dir/bin; without it all of that lands in ~/.milvus.io.
            server.set_base_dir(str(base_dir))
            server.webservice_port = free_port()
            server.start()
            _record(lock, f"{server.server_proc.pid} {base_dir}")
            # start() re-resolves webservice_port (scanning upwards if taken), so read it back afterwards.
            metrics_port = int(server.webservice_port)
            endpoint = MilvusEndpoint(
                uri=f"http://127.0.0.1:{proxy_port}",
                port=proxy_port,
                metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
                healthz_url=f"http://127.0.0.1:{metrics_port}/healthz",
                base_dir=base_dir,
            )
            _wait_until_ready(server, endpoint, timeout_s)
            yield endpoint
        finally:
            pid = server.server_proc.pid if server is not None and server.server_proc else None
            if server is not None:
                server.stop()
            shutil.rmtree(base_dir, ignore_errors=True)
            _record(lock, "")
            if pid is not None:
                # The binary also drops a server-id file outside its base dir.
                Path(f"/tmp/milvus/server_id_{pid}").unlink(missing_ok=True)
