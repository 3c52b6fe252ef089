"""jsonlite.copy_tree gives what copy.deepcopy gives for decoded JSON, sharing nothing mutable."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pymultus.cni import jsonlite

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=30,
)


def _mutables(value: Any) -> list[int]:
    if isinstance(value, dict):
        return [id(value), *(i for v in value.values() for i in _mutables(v))]
    if isinstance(value, list):
        return [id(value), *(i for v in value for i in _mutables(v))]
    return []


@given(JSON)
def test_copy_tree_equals_deepcopy_and_shares_no_container(value: Any) -> None:
    copied = jsonlite.copy_tree(value)
    assert json.dumps(copied) == json.dumps(copy.deepcopy(value))
    assert not set(_mutables(copied)) & set(_mutables(value))


def test_other_objects_go_to_deepcopy() -> None:
    inner = {"a": [1]}
    value = {"t": (inner,), "s": {1, 2}}
    copied = jsonlite.copy_tree(value)
    assert copied == value
    assert copied["t"][0] is not inner
    assert copied["s"] is not value["s"]
