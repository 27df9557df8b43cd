import contextlib
from collections.abc import Iterator

import pytest

from tests.integration.milvus_server import MilvusEndpoint, running_milvus


class MilvusServers:
    """The one Milvus a host may run: the plain server most tests share, or one with authentication on.

    Asking for the other kind stops the current one; the plain one is started again, on new ports, for the next
    module that asks for it (so a module's tests that need authentication come last in that module).
    """

    def __init__(self) -> None:
        self._stack: contextlib.ExitStack | None = None
        self._authorization: bool | None = None
        self._endpoint: MilvusEndpoint | None = None

    def get(self, authorization: bool = False) -> MilvusEndpoint:
        if self._endpoint is not None and self._authorization == authorization:
            return self._endpoint
        self.close()
        stack = contextlib.ExitStack()
        self._endpoint = stack.enter_context(running_milvus(authorization=authorization))
        self._stack, self._authorization = stack, authorization
        return self._endpoint

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


@pytest.fixture(scope="module")
def milvus_server(milvus_servers: MilvusServers) -> MilvusEndpoint:
    """The real Milvus 2.3.5 standalone the module's tests share (see milvus_server.py for the host lock)."""
    return milvus_servers.get()


@pytest.fixture(scope="module")
def auth_milvus_server(milvus_servers: MilvusServers) -> MilvusEndpoint:
    """A Milvus with user authentication on (root / Milvus); it replaces the shared one for the rest of the module."""
    return milvus_servers.get(authorization=True)
