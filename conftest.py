"""Root conftest: shared fixtures for the project's own tests.

The harness's pytest plugin (scenario collection, --backend, --meta-plugin)
is loaded through its pytest11 entry point, not from here.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Property tests are judged on their examples, not on speed: make test runs on a
# 2-core machine next to namespace-heavy integration tests, where one example
# can take longer than hypothesis's default 200 ms deadline for reasons that
# have nothing to do with the code under test.
settings.register_profile("project", deadline=None)
settings.load_profile("project")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests under tests/integration need root and namespaces: skip them otherwise."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root and network namespaces")
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(skip)
