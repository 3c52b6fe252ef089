"""A fake ``kind``/``kubectl``/``docker``: records its argv, replays recorded output.

``tests/fakes/bin/{kind,kubectl,docker}`` run this file with the tool's name.
The tests put that directory first on PATH, so the backends run their real
command lines up to the tool boundary (this machine has no kind or Docker).

Environment:
- ``FAKECLI_LOG``: a JSON-lines file; one ``{"tool", "argv", "stdin"}`` per call.
- ``FAKECLI_RULES``: a JSON list of rules, first match wins:
  ``{"tool": "kubectl", "args": ["get", "pod"], "stdout": "...", "rc": 0}``.
  ``args`` must appear in the argv in that order (not necessarily adjacent).
  ``stdout_file`` names a recording (relative to tests/fakes/recordings);
  ``outputs`` is a list of stdouts given one per call (the last one repeats),
  for polling; the call count is kept in ``<FAKECLI_LOG>.state``.
  ``before``: the rule applies only until a call of the same tool matching
  these args has been made (a pod that exists until ``delete pod``).
  No rule: exit 0 with no output.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def matches(argv: list[str], wanted: list[str]) -> bool:
    position = 0
    for arg in argv:
        if position < len(wanted) and arg == wanted[position]:
            position += 1
    return position == len(wanted)


def read_json(path: str, default: Any) -> Any:
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main() -> int:
    tool, argv = sys.argv[1], sys.argv[2:]
    stdin = sys.stdin.read() if ("-" in argv or "-i" in argv) else None
    log = os.environ.get("FAKECLI_LOG")
    earlier = []
    if log and os.path.exists(log):
        with open(log, encoding="utf-8") as f:
            earlier = [json.loads(line) for line in f if line.strip()]
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": tool, "argv": argv, "stdin": stdin}) + "\n")
    rules_path = os.environ.get("FAKECLI_RULES")
    rules = read_json(rules_path, []) if rules_path else []
    for index, rule in enumerate(rules):
        if rule.get("tool", tool) != tool or not matches(argv, rule.get("args", [])):
            continue
        if "before" in rule and any(
            call["tool"] == tool and matches(call["argv"], rule["before"]) for call in earlier
        ):
            continue
        stdout = rule.get("stdout", "")
        if "stdout_file" in rule:
            with open(os.path.join(HERE, "recordings", rule["stdout_file"]), encoding="utf-8") as f:
                stdout = f.read()
        if "outputs" in rule and log:
            state_path = f"{log}.state"
            state = read_json(state_path, {})
            count = state.get(str(index), 0)
            state[str(index)] = count + 1
            with open(state_path, "w", encoding="utf-8") as f:
                json.dump(state, f)
            stdout = rule["outputs"][min(count, len(rule["outputs"]) - 1)]
        sys.stdout.write(stdout)
        sys.stderr.write(rule.get("stderr", ""))
        return int(rule.get("rc", 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
