"""Access reviews: SelfSubjectAccessReview and SelfSubjectRulesReview, answered.

The embedded server has one user and no authorization (a bearer token, when
set, authenticates; everything is then allowed), so a review answers
``allowed: true`` with the reason saying so, as ``kubectl auth can-i``
expects. Reviews are computed and returned, never stored (as in the real
authorization API).
"""

from __future__ import annotations

import json

from harness.backends.local.apierrors import APIError, Obj
from harness.backends.local.resources import SELFSUBJECTACCESSREVIEWS, SELFSUBJECTRULESREVIEWS
from harness.backends.local.routes import Call, Routes

_REASON = "the embedded API server authorizes every authenticated request"


def review(kind: str, body: Obj) -> Obj:
    """The answered review for a posted one (pure)."""
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise APIError.bad_request(f"a {kind} needs a spec")
    out: Obj = {
        "kind": kind,
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
    }
    if kind == SELFSUBJECTACCESSREVIEWS.kind:
        if not spec.get("resourceAttributes") and not spec.get("nonResourceAttributes"):
            raise APIError.invalid(
                SELFSUBJECTACCESSREVIEWS,
                "",
                [("spec", "Required value: resourceAttributes or nonResourceAttributes")],
            )
        out["status"] = {"allowed": True, "reason": _REASON}
    else:
        everything = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
        out["status"] = {
            "resourceRules": [everything],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    return out


def _handler(kind: str, path: str) -> object:
    def handle(call: Call) -> None:
        call.only("POST")
        call.verb, call.resource = "create", path.rsplit("/", 1)[-1]
        try:
            body = json.loads(call.body or b"{}")
        except ValueError as exc:
            raise APIError.bad_request(f"the {kind} body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise APIError.bad_request(f"the body must be a {kind} object")
        call.send_json(201, review(kind, body))

    return handle


def register(routes: Routes) -> None:
    for rt in (SELFSUBJECTACCESSREVIEWS, SELFSUBJECTRULESREVIEWS):
        path = f"/apis/{rt.group}/{rt.version}/{rt.plural}"
        routes.add_path(path, _handler(rt.kind, path), methods=("POST",))  # type: ignore[arg-type]
