"""Fixtures for distributed-study tests: a real PostgreSQL cluster, one database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.postgres_fixture import PostgresCluster, postgres_cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One throwaway cluster for the session (skips, or fails with REQUIRE_POSTGRES=1)."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(pg_cluster: PostgresCluster) -> str:
    """A fresh, empty database on the session cluster."""
    return pg_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")
