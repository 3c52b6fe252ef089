"""pymultus.cni.ipfamily gives ipaddress's answers (it exists only to skip importing it)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymultus.cni.ipfamily import address_version, interface_version, network_prefixlen

SAMPLES = [
    "10.0.0.1", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5",
    "1.2.3.4 ", " 1.2.3.4", "", "::", "::1", "fe80::1%eth0", "fe80::1%", "::ffff:1.2.3.4",
    "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "::1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7::", "0000:0000:0000:0000:0000:0000:255.255.255.255", "12345::", "g::1",
    "\u0661.\u0662.\u0663.\u0664", "1.2.3.4\x00", "10.0.0.0/8",
    "10.0.0.1/24", "10.0.0.1/33", "10.0.0.1/024",
    "10.0.0.1/", "10.0.0.1/255.255.0.0", "10.0.0.1/0.0.255.255", "0.0.0.0/0", "::/0",
    "::/128", "::/129", "fe80::1%eth0/64", "1.2.3.4/2/3", "1.2.3.4/²", "1.2.3.4/+8", "/8",
    "2001:db8::/32", "2001:db8::1/64", "::ffff:1.2.3.4/96",
]  # fmt: skip


def _expected(make: object, text: str) -> object:
    try:
        return make(text)  # type: ignore[operator]
    except ValueError:
        return None


def _check(text: str) -> None:
    assert address_version(text) == _expected(lambda t: ipaddress.ip_address(t).version, text)
    assert interface_version(text) == _expected(lambda t: ipaddress.ip_interface(t).version, text)
    assert network_prefixlen(text) == _expected(
        lambda t: ipaddress.ip_network(t, strict=False).prefixlen, text
    )


@pytest.mark.parametrize("text", SAMPLES)
def test_samples_answer_as_ipaddress(text: str) -> None:
    _check(text)


@given(st.ip_addresses(), st.integers(min_value=-1, max_value=140))
def test_generated_addresses_and_prefixes_answer_as_ipaddress(address: object, prefix: int) -> None:
    _check(str(address))
    _check(f"{address}/{prefix}")
    _check(str(address).upper())


@given(st.text(alphabet="0123456789abcdefABCDEF:./%", max_size=46))
def test_address_like_text_answers_as_ipaddress(text: str) -> None:
    _check(text)
