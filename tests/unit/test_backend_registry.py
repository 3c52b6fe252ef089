"""The backend registry (harness/backends/__init__.py): one table names every
backend; each module's BACKEND entry is what the run uses (issue 17)."""

from __future__ import annotations

import importlib

import pytest

from harness.backends import BACKENDS, REGISTRY, Backend, Options, backend, plan_for
from harness.backends import unavailable_reason as registry_unavailable


def test_every_named_backend_has_an_entry() -> None:
    assert BACKENDS == ("local", "kind", "k3s", "existing")
    for name in BACKENDS:
        assert isinstance(backend(name), Backend)


def test_only_real_clusters_plan_external_commands() -> None:
    assert backend("local").plan is None
    assert plan_for(Options(backend="local")) == []
    for name in ("kind", "k3s", "existing"):
        assert backend(name).plan is not None


def test_an_unknown_backend_is_named_with_the_known_ones() -> None:
    reason = registry_unavailable(Options(backend="minikube"))
    assert reason == "unknown backend 'minikube' (available: local, kind, k3s, existing)"
    with pytest.raises(KeyError):
        backend("minikube")


def test_a_module_without_a_backend_entry_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "broken", "harness.backends.versions")
    with pytest.raises(AttributeError):
        backend("broken")
    monkeypatch.setitem(REGISTRY, "wrong", "harness.backends.options")
    options = importlib.import_module("harness.backends.options")
    monkeypatch.setattr(options, "BACKEND", object(), raising=False)
    with pytest.raises(TypeError, match=r"is not a harness\.backends\.entry\.Backend"):
        backend("wrong")
