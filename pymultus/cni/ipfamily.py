"""Which IP family an address, interface or network string is: ``ipaddress``'s answers, cheaper.

Every thin ADD asks this of its delegate's result (which ``ips`` a default
route's gateway comes from, CNI SPEC.md Section 5, "Success"), and
``import ipaddress`` costs ~5.5 ms of CPU per CNI call here (issue 16: it
builds its classes and their network constants at import). The C
``inet_pton`` (in ``_socket``, which the API connection has loaded anyway)
answers the common strings at no import cost. It accepts a subset of what
``ipaddress`` accepts (dotted quads without leading zeros, RFC 4291 text
forms without a zone), so every string it refuses, and every prefix that is
not plain decimal, goes to ``ipaddress`` itself: the answers are always
``ipaddress``'s (tests/unit/test_ipfamily.py compares them).
"""

from __future__ import annotations


def address_version(text: str) -> int | None:
    """``ipaddress.ip_address(text).version``, None where that raises ValueError."""
    import _socket  # here, not at the top: DEL (from the cache) never loads it otherwise

    try:
        if ":" in text:
            _socket.inet_pton(_socket.AF_INET6, text)
            return 6
        _socket.inet_pton(_socket.AF_INET, text)
        return 4
    except (OSError, ValueError):  # not a plain form (a zone id, say): ipaddress decides
        pass
    import ipaddress

    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None


def _fast_prefix(text: str) -> tuple[int, int] | None:
    """(version, prefix length) of ``address/decimal`` as inet_pton reads it, else None."""
    address, slash, prefix = text.partition("/")
    if not slash or "/" in prefix or not (prefix.isascii() and prefix.isdigit()):
        return None
    import _socket

    try:
        family = _socket.AF_INET6 if ":" in address else _socket.AF_INET
        _socket.inet_pton(family, address)
    except (OSError, ValueError):
        return None
    version = 6 if family == _socket.AF_INET6 else 4
    length = int(prefix)
    return (version, length) if length <= (128 if version == 6 else 32) else None


def interface_version(text: str) -> int | None:
    """``ipaddress.ip_interface(text).version``, None where that raises ValueError."""
    fast = _fast_prefix(text) if "/" in text else None
    if fast is not None:
        return fast[0]
    if "/" not in text:
        return address_version(text)
    import ipaddress

    try:
        return ipaddress.ip_interface(text).version
    except ValueError:
        return None


def network_prefixlen(text: str) -> int | None:
    """``ipaddress.ip_network(text, strict=False).prefixlen``, None where that raises ValueError."""
    fast = _fast_prefix(text) if "/" in text else None
    if fast is not None:
        return fast[1]
    if "/" not in text:
        version = address_version(text)
        return None if version is None else (32 if version == 4 else 128)
    import ipaddress

    try:
        return ipaddress.ip_network(text, strict=False).prefixlen
    except ValueError:
        return None
