from collections.abc import Iterator

import pytest

from tests.integration.milvus_server import MilvusEndpoint, running_milvus


@pytest.fixture(scope="session")
def milvus_server() -> Iterator[MilvusEndpoint]:
    """The session's single real Milvus 2.3.5 standalone (see milvus_server.py for the host lock)."""
    with running_milvus() as endpoint:
        yield endpoint
