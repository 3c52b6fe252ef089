"""CNIRequest: env -> request (or the right error), request -> env, stdin decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymultus.cni.errors import DECODE_FAILURE, INVALID_ENV, CNIError
from pymultus.cni.request import CNIRequest, parse_cni_args, parse_config_bytes

ADD_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "abc123",
    "CNI_NETNS": "/run/netns/pod",
    "CNI_IFNAME": "eth0",
    "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web",
    "CNI_PATH": "/opt/cni/bin:/usr/lib/cni",
}


def env(**changes: str | None) -> dict[str, str]:
    out = dict(ADD_ENV)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def test_from_env_add_reads_everything() -> None:
    req = CNIRequest.from_env(ADD_ENV)
    assert req == CNIRequest(
        command="ADD",
        container_id="abc123",
        netns="/run/netns/pod",
        ifname="eth0",
        args=(
            ("IgnoreUnknown", "1"),
            ("K8S_POD_NAMESPACE", "default"),
            ("K8S_POD_NAME", "web"),
        ),
        path=("/opt/cni/bin", "/usr/lib/cni"),
    )


# (env, expected command or None, error variable named in the message)
CASES: list[tuple[str, dict[str, str], str | None, str | None]] = [
    ("no command", env(CNI_COMMAND=None), None, "CNI_COMMAND"),
    ("empty command", env(CNI_COMMAND=""), None, "CNI_COMMAND"),
    ("unknown command", env(CNI_COMMAND="FROB"), None, "CNI_COMMAND"),
    ("lowercase command", env(CNI_COMMAND="add"), None, "CNI_COMMAND"),
    ("ADD without container", env(CNI_CONTAINERID=None), None, "CNI_CONTAINERID"),
    ("ADD without netns", env(CNI_NETNS=None), None, "CNI_NETNS"),
    ("ADD with empty netns", env(CNI_NETNS=""), None, "CNI_NETNS"),
    ("ADD without ifname", env(CNI_IFNAME=None), None, "CNI_IFNAME"),
    ("CHECK without netns", env(CNI_COMMAND="CHECK", CNI_NETNS=None), None, "CNI_NETNS"),
    ("DEL without netns is fine", env(CNI_COMMAND="DEL", CNI_NETNS=None), "DEL", None),
    (
        "DEL without container",
        env(CNI_COMMAND="DEL", CNI_CONTAINERID=None),
        None,
        "CNI_CONTAINERID",
    ),
    ("DEL without ifname", env(CNI_COMMAND="DEL", CNI_IFNAME=None), None, "CNI_IFNAME"),
    ("bad container id", env(CNI_CONTAINERID="-abc"), None, "CNI_CONTAINERID"),
    ("container id with slash", env(CNI_CONTAINERID="a/b"), None, "CNI_CONTAINERID"),
    ("ifname too long", env(CNI_IFNAME="a" * 16), None, "CNI_IFNAME"),
    ("ifname 15 is fine", env(CNI_IFNAME="a" * 15), "ADD", None),
    ("ifname with slash", env(CNI_IFNAME="a/b"), None, "CNI_IFNAME"),
    ("ifname with colon", env(CNI_IFNAME="eth0:1"), None, "CNI_IFNAME"),
    ("ifname with space", env(CNI_IFNAME="eth 0"), None, "CNI_IFNAME"),
    ("ifname dotdot", env(CNI_IFNAME=".."), None, "CNI_IFNAME"),
    ("malformed CNI_ARGS", env(CNI_ARGS="A=1;oops"), None, "CNI_ARGS"),
    ("CNI_ARGS empty key", env(CNI_ARGS="=1"), None, "CNI_ARGS"),
    ("no CNI_PATH is fine", env(CNI_PATH=None), "ADD", None),
    ("VERSION needs nothing", {"CNI_COMMAND": "VERSION"}, "VERSION", None),
    ("VERSION ignores bad args", {"CNI_COMMAND": "VERSION", "CNI_ARGS": "x"}, "VERSION", None),
    ("STATUS needs no container", {"CNI_COMMAND": "STATUS"}, "STATUS", None),
    ("GC needs no container", {"CNI_COMMAND": "GC", "CNI_PATH": "/opt"}, "GC", None),
]


@pytest.mark.parametrize(
    ("environ", "command", "variable"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_from_env_table(environ: dict[str, str], command: str | None, variable: str | None) -> None:
    if command is not None:
        assert CNIRequest.from_env(environ).command == command
        return
    with pytest.raises(CNIError) as exc:
        CNIRequest.from_env(environ)
    assert exc.value.code == INVALID_ENV
    assert variable is not None and variable in exc.value.msg


def test_malformed_pair_is_named() -> None:
    with pytest.raises(CNIError) as exc:
        CNIRequest.from_env(env(CNI_ARGS="A=1;oops;B=2"))
    assert "'oops'" in exc.value.msg


def test_missing_variables_all_named() -> None:
    with pytest.raises(CNIError) as exc:
        CNIRequest.from_env({"CNI_COMMAND": "ADD"})
    for name in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"):
        assert name in exc.value.msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("A=1", (("A", "1"),)),
        ("A=1;", (("A", "1"),)),
        ("A=;B=x=y", (("A", ""), ("B", "x=y"))),
    ],
)
def test_parse_cni_args(text: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert parse_cni_args(text) == expected


def test_arg_and_args_dict_last_wins() -> None:
    req = CNIRequest(command="ADD", args=(("A", "1"), ("B", "2"), ("A", "3")))
    assert req.arg("A") == "3"
    assert req.arg("B") == "2"
    assert req.arg("C") is None
    assert req.args_dict() == {"A": "3", "B": "2"}


def test_to_env_round_trips() -> None:
    req = CNIRequest.from_env(ADD_ENV)
    assert req.to_env() == ADD_ENV
    assert CNIRequest.from_env(req.to_env()) == req


def test_to_env_sets_every_variable_even_empty() -> None:
    assert CNIRequest(command="STATUS").to_env() == {
        "CNI_COMMAND": "STATUS",
        "CNI_CONTAINERID": "",
        "CNI_NETNS": "",
        "CNI_IFNAME": "",
        "CNI_ARGS": "",
        "CNI_PATH": "",
    }


def test_with_replaces_and_keeps_original() -> None:
    req = CNIRequest.from_env(ADD_ENV)
    other = req.with_(ifname="net1")
    assert other.ifname == "net1"
    assert req.ifname == "eth0"
    assert other.container_id == req.container_id


_key = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=";=\0"), min_size=1)
_value = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=";\0"))


@given(st.lists(st.tuples(_key, _value), max_size=6))
def test_cni_args_round_trip(pairs: list[tuple[str, str]]) -> None:
    req = CNIRequest(command="ADD", container_id="c", netns="/n", ifname="eth0", args=tuple(pairs))
    assert CNIRequest.from_env(req.to_env()).args == tuple(pairs)


@given(st.text(max_size=40))
def test_parse_cni_args_never_crashes(text: str) -> None:
    try:
        pairs = parse_cni_args(text)
    except CNIError as e:
        assert e.code == INVALID_ENV
        assert "CNI_ARGS" in e.msg
    else:
        assert all(k and "=" not in k for k, _ in pairs)


# --- parse_config_bytes -----------------------------------------------------------


def test_parse_config_bytes_ok() -> None:
    assert parse_config_bytes(b'{"name": "x", "n": 1}') == {"name": "x", "n": 1}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b'{"a": 1,\n  "b": }', "line 2 column"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'"str"', "must be a JSON object, got str"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b'{"a": NaN}', "NaN"),
    ],
)
def test_parse_config_bytes_errors(data: bytes, fragment: str) -> None:
    with pytest.raises(CNIError) as exc:
        parse_config_bytes(data, what="/etc/cni/net.d/00-x.conf")
    assert exc.value.code == DECODE_FAILURE
    assert "/etc/cni/net.d/00-x.conf" in exc.value.msg
    assert fragment in exc.value.msg


@given(st.binary(max_size=64))
def test_parse_config_bytes_only_raises_decode_failure(data: bytes) -> None:
    try:
        value = parse_config_bytes(data)
    except CNIError as e:
        assert e.code == DECODE_FAILURE
    else:
        assert isinstance(value, dict)
