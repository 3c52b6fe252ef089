"""The CRI container log format, as ``kubectl logs`` shows it.

A CRI runtime writes each container's output to the file the kubelet named
in ``ContainerConfig.log_path`` (below the sandbox's ``log_directory``), one
record per line: ``<RFC 3339 nano timestamp> <stdout|stderr> <F|P> <text>``
(the CRI logging format, kubernetes/kubernetes ``pkg/kubelet/kuberuntime/logs``).
``P`` is a partial line (the runtime split a long line, or the output had no
newline yet); the next ``F`` ends it. The kubelet joins them and writes the
text; both streams go to the same file, in the order they were written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.backends.local.podio import LogLine

STREAMS = ("stdout", "stderr")
TAGS = ("F", "P")


@dataclass
class LogParser:
    """Turns CRI log records into whole lines; keeps a partial line between calls."""

    partial: dict[str, tuple[str, str]] = field(default_factory=dict)  # stream -> (ts, text)
    malformed: int = 0  # records not in the CRI format (skipped, counted)

    def feed(self, record: str) -> LogLine | None:
        """One record (a line of the file, without its newline): the line it ends, if any."""
        parts = record.split(" ", 3)
        if len(parts) < 3 or parts[1] not in STREAMS or parts[2] not in TAGS:
            self.malformed += 1
            return None
        stamp, stream, tag = parts[0], parts[1], parts[2]
        text = parts[3] if len(parts) == 4 else ""
        first, before = self.partial.pop(stream, (stamp, ""))
        if tag == "P":
            self.partial[stream] = (first, before + text)
            return None
        return LogLine(first, before + text)


def parse(text: str, parser: LogParser | None = None) -> list[LogLine]:
    """Every whole line of a log file's ``text`` (a trailing record without newline is
    left out: the runtime is still writing it)."""
    parser = parser or LogParser()
    out = []
    for record in text.split("\n")[:-1]:
        line = parser.feed(record)
        if line is not None:
            out.append(line)
    return out
