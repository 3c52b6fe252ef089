"""Versions: parsing, support checks, VERSION output."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymultus.cni.errors import INCOMPATIBLE_VERSION, INVALID_CONFIG, CNIError
from pymultus.cni.version import (
    SUPPORTED_VERSIONS,
    at_least,
    check_supported,
    highest_supported,
    parse_version,
    version_result,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.1.0", (0, 1, 0)),
        ("1.1.0", (1, 1, 0)),
        ("0.10.2", (0, 10, 2)),
        ("1.0", (1, 0, 0)),
        ("2", (2, 0, 0)),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize("garbage", ["", "v1.0.0", "1.0.0.0", "1..0", "1.0.x", " 1.0.0", "1.-1.0"])
def test_parse_version_rejects_garbage_naming_value(garbage: str) -> None:
    with pytest.raises(CNIError) as exc:
        parse_version(garbage)
    assert exc.value.code == INVALID_CONFIG
    assert repr(garbage) in exc.value.msg


def test_parse_version_rejects_non_string() -> None:
    with pytest.raises(CNIError) as exc:
        parse_version(1.0)  # type: ignore[arg-type]
    assert exc.value.code == INVALID_CONFIG


@given(st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999)))
def test_parse_version_round_trips(t: tuple[int, int, int]) -> None:
    assert parse_version(".".join(map(str, t))) == t


@given(
    st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)),
)
def test_at_least_is_numeric_not_lexical(a: tuple[int, int, int], b: tuple[int, int, int]) -> None:
    assert at_least(".".join(map(str, a)), ".".join(map(str, b))) == (a >= b)


def test_at_least_examples() -> None:
    assert at_least("0.10.0", "0.9.0")
    assert at_least("1.1.0", "1.1.0")
    assert not at_least("0.3.1", "0.4.0")


@pytest.mark.parametrize("v", SUPPORTED_VERSIONS)
def test_check_supported_accepts_all(v: str) -> None:
    check_supported(v)


@pytest.mark.parametrize("v", ["0.5.0", "1.0", "2.0.0", "", "garbage", None, 1])
def test_check_supported_rejects_with_code_1_and_lists_versions(v: object) -> None:
    with pytest.raises(CNIError) as exc:
        check_supported(v, what="cniVersion of net1")
    assert exc.value.code == INCOMPATIBLE_VERSION
    assert "cniVersion of net1" in exc.value.msg
    assert "0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" in exc.value.msg
    assert repr(v) in exc.value.msg


def test_version_result() -> None:
    assert version_result("0.4.0") == {
        "cniVersion": "0.4.0",
        "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (["0.3.1", "1.0.0"], "1.0.0"),
        (["1.0.0", "9.9.9", "1.1.0", "x"], "1.1.0"),
        (["0.4.0", "0.3.1"], "0.4.0"),
        (["2.0.0"], None),
        ([], None),
    ],
)
def test_highest_supported(candidates: list[str], expected: str | None) -> None:
    assert highest_supported(candidates) == expected
