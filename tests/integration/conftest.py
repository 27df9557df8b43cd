import contextlib
from collections.abc import Iterator

import pytest

from tests.integration.milvus_server import MilvusEndpoint, running_milvus


class MilvusServers:
    """The one Milvus a host may run, switched between the plain server most tests share and one with
    authentication on. The plain one comes back on its first ports, so endpoints handed out earlier (session and
    module fixtures) stay valid; its data does not survive the switch (every test uses its own names)."""

    def __init__(self) -> None:
        self._stack: contextlib.ExitStack | None = None
        self._authorization: bool | None = None
        self._endpoint: MilvusEndpoint | None = None
        self._plain_ports: tuple[int, int] | None = None

    def get(self, authorization: bool = False) -> MilvusEndpoint:
        if self._endpoint is not None and self._authorization == authorization:
            return self._endpoint
        self.close()
        ports = {}
        if not authorization and self._plain_ports:
            ports = {"proxy_port": self._plain_ports[0], "metrics_port": self._plain_ports[1]}
        stack = contextlib.ExitStack()
        endpoint = stack.enter_context(running_milvus(authorization=authorization, **ports))
        self._stack, self._authorization, self._endpoint = stack, authorization, endpoint
        if not authorization and self._plain_ports is None:
            self._plain_ports = (endpoint.port, endpoint.metrics_port)
        return endpoint

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = self._endpoint = self._authorization = None


@pytest.fixture(scope="session")
def milvus_servers() -> Iterator[MilvusServers]:
    servers = MilvusServers()
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="session")
def milvus_server(milvus_servers: MilvusServers) -> MilvusEndpoint:
    """The session's single real Milvus 2.3.5 standalone (see milvus_server.py for the host lock)."""
    return milvus_servers.get()


@pytest.fixture
def auth_milvus_server(milvus_servers: MilvusServers, milvus_server: MilvusEndpoint) -> Iterator[MilvusEndpoint]:
    """A Milvus with user authentication on (root / Milvus), in place of the shared one for this test only."""
    yield milvus_servers.get(authorization=True)
    milvus_servers.get()
