"""One thin-mode CNI call past VERSION: the engine built from the configuration, run.

Split from :mod:`pymultus.thin` so that VERSION, which needs none of it,
imports next to nothing (issue 16): the engine, the model and the delegate
cache are imported here, only for ADD, DEL, CHECK, STATUS and GC.
"""

from __future__ import annotations

from pymultus.cni.invoke import ProcessExecutor
from pymultus.cni.nesting import DELEGATE_MARKER
from pymultus.cni.version import check_supported
from pymultus.engine import Engine, run_command
from pymultus.log import Logger
from pymultus.model.config import MultusConfig, parse_config
from pymultus.state import DelegateCache

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from pymultus.cni.request import CNIRequest
    from pymultus.seams import KubeAPI


def build_kube(cfg: MultusConfig, env: Mapping[str, str]) -> KubeAPI | None:
    """The API client: kubeconfig, else in-cluster, else none (delegates-only mode)."""
    from pymultus.kube.client import KubeClient
    from pymultus.kube.kubeconfig import in_cluster, load_kubeconfig

    if cfg.kubeconfig:
        return KubeClient(load_kubeconfig(cfg.kubeconfig))
    access = in_cluster(env)
    return KubeClient(access) if access is not None else None


def build_engine(cfg: MultusConfig, request: CNIRequest, env: Mapping[str, str]) -> Engine:
    log = Logger(cfg.log_level, cfg.log_file, cfg.log_to_stderr, cfg.log_options)
    bin_dirs = [cfg.bin_dir, *request.path]
    return Engine(
        cfg=cfg,
        execute=ProcessExecutor(
            bin_dirs,
            base_env=env,
            timeout=cfg.delegate_timeout,
            extra_env={DELEGATE_MARKER: "pymultus"},
        ),
        cache=DelegateCache(cfg.cni_dir),
        kube=build_kube(cfg, env),
        log=log,
    )


def run_configured(
    request: CNIRequest, conf: dict[str, Any], env: Mapping[str, str]
) -> dict[str, Any]:
    """Check the version, parse the configuration, run the command with a fresh engine."""
    check_supported(str(conf.get("cniVersion", "")))
    cfg = parse_config(conf)
    engine = build_engine(cfg, request, env)
    try:
        return run_command(engine, request, conf)
    finally:
        engine.log.close()
