"""A scenario's network drawn as a network engineer would draw it, as inline SVG.

From top to bottom: one bar per fabric (the L2 segments the nodes' uplinks
share: eth0 carries the cluster network, eth1 the secondary fabric that
macvlan attachments use); the nodes, side by side, each with its uplink
ports wired to their fabric; inside a node one bar per attachment point
(the default network's routes, a bridge, a macvlan/ipvlan master); the
pods, each interface a port wired to the bar of the network it belongs to,
one colour per NetworkAttachmentDefinition (the default network in grey),
its addresses written on the wire; below the pods, the scenario's traffic
checks as arrows from source to target pod, green when the check passed,
red when it failed.

A pure function of the ``topology`` the runner records (nodes, node links,
networks, pods with interfaces, traffic), so it draws the same for every
backend; parts a backend cannot see (node links on clusters without a node
shell) are simply not drawn.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

DEFAULT_COLOUR = "#57606a"
UNKNOWN_COLOUR = "#afb8c1"
PASS_COLOUR = "#1a7f37"
FAIL_COLOUR = "#cf222e"
POD_W = 190
POD_GAP = 18
NODE_PAD = 14
FABRIC_GAP = 26
BAR_GAP = 26
PORT = 10
IF_ROW = 14
MIN_NODE_W = 250
LABEL_CHARS = 26
WIRE_ROOM = 128  # from the lowest attachment bar to the pods: the wires' labels
WIRE_CHARS = 21


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


@dataclass
class Bar:
    """An attachment point inside a node: default routes, a bridge, a master."""

    key: str
    label: str
    uplink: str | None = None  # the node port it hangs from (macvlan master eth1)
    y: float = 0.0


@dataclass
class NodeLayout:
    name: str
    x: float
    width: float
    uplinks: list[tuple[str, str]]  # (name, address)
    bars: list[Bar] = field(default_factory=list)
    pods: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def uplinks_of(links: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """A node's uplinks: its ethN devices that are no pod's veth host end."""
    out = []
    for link in links:
        name = str(link.get("name") or "")
        if name.startswith("eth") and not link.get("master"):
            out.append((name, ", ".join(link.get("addresses") or [])))
    return sorted(out)


def attachment_key(itf: dict[str, Any], networks: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(bar key, bar label) of the attachment point an interface is wired to."""
    if itf.get("default"):
        return "default", f"default network ({itf.get('network') or 'cluster'}) \u2192 eth0 routes"
    net = networks.get(str(itf.get("network") or ""))
    if net is None:
        return "unknown", "unknown network"
    kind = str(net.get("type") or "?")
    if net.get("master"):
        return f"master:{net['master']}", f"{net['master']} ({kind.split('+')[0]} master)"
    if net.get("bridge"):
        return f"bridge:{net['bridge']}", f"{net['bridge']} (bridge)"
    if net.get("device"):
        return f"device:{net['device']}", f"{net['device']} (moved into the pod)"
    return f"type:{kind}", f"{kind} ({net.get('name')})"


def colour_of(itf: dict[str, Any], colours: dict[str, str]) -> str:
    if itf.get("default"):
        return DEFAULT_COLOUR
    return colours.get(str(itf.get("network") or ""), UNKNOWN_COLOUR)


def pod_height(pod: dict[str, Any]) -> float:
    rows = len(pod.get("interfaces") or [])
    return 26 + max(rows, 1) * IF_ROW + (26 if pod.get("error") else 0)


def topology_svg(topology: dict[str, Any], colours: dict[str, str]) -> str:
    """The picture, or "" when nothing was recorded."""
    nodes: list[str] = list(topology.get("nodes") or [])
    pods: dict[str, dict[str, Any]] = topology.get("pods") or {}
    if not nodes and not pods:
        return ""
    for pod in pods.values():
        if pod.get("node") and pod["node"] not in nodes:
            nodes.append(pod["node"])
    if any(not p.get("node") for p in pods.values()):
        nodes.append("(unscheduled)")
    networks = {str(n.get("name")): n for n in topology.get("networks") or []}
    node_links: dict[str, list[dict[str, Any]]] = topology.get("nodeLinks") or {}
    traffic: list[dict[str, Any]] = topology.get("traffic") or []

    layouts: list[NodeLayout] = []
    x = 12.0
    for name in nodes:
        mine = [(p, d) for p, d in pods.items() if (d.get("node") or "(unscheduled)") == name]
        node_w = max(MIN_NODE_W, NODE_PAD * 2 + len(mine) * POD_W + max(0, len(mine) - 1) * POD_GAP)
        layout = NodeLayout(name, x, node_w, uplinks_of(node_links.get(name, [])), pods=mine)
        seen: dict[str, Bar] = {}
        for _, pod in mine:
            for itf in pod.get("interfaces") or []:
                key, label = attachment_key(itf, networks)
                if key not in seen:
                    uplink = key.split(":", 1)[1] if key.startswith("master:") else None
                    if key == "default":
                        uplink = "eth0"
                    seen[key] = Bar(key, label, uplink)
        layout.bars = sorted(seen.values(), key=lambda b: (b.key != "default", b.key))
        layouts.append(layout)
        x += node_w + 16

    fabrics = sorted({u for lay in layouts for u, _ in lay.uplinks})
    top = 12.0
    fabric_y = {name: top + 14 + i * FABRIC_GAP for i, name in enumerate(fabrics)}
    node_top = top + 14 + len(fabrics) * FABRIC_GAP + (24 if fabrics else 0)
    bars_top = node_top + 52
    most_bars = max([len(lay.bars) for lay in layouts] or [0])
    pods_top = bars_top + max(most_bars - 1, 0) * BAR_GAP + WIRE_ROOM
    tallest = max([pod_height(p) for p in pods.values()] or [30])
    node_bottom = pods_top + tallest + NODE_PAD
    arrows_top = node_bottom
    list_top = arrows_top + 30 + len(traffic) * 18
    height = list_top + len(traffic) * 15 + 14
    width = max(x, 300.0)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="network topology" '
        'font-family="ui-monospace,SFMono-Regular,Menlo,monospace">',
        "<defs>",
        *(
            f'<marker id="arrow-{n}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{c}"/></marker>'
            for n, c in (("pass", PASS_COLOUR), ("fail", FAIL_COLOUR))
        ),
        "</defs>",
    ]
    # Fabrics: the segments every node's uplink of that name is plugged into.
    for name, y in fabric_y.items():
        role = "cluster network" if name == "eth0" else "secondary fabric"
        out.append(
            f'<line class="fabric" x1="8" y1="{y}" x2="{width - 8:.0f}" y2="{y}" stroke="#24292f" '
            'stroke-width="4" stroke-linecap="round"/>'
        )
        out.append(
            f'<text x="14" y="{y - 5}" font-size="11" fill="#24292f">fabric: {_e(name)} '
            f"segment ({role})</text>"
        )

    ports: dict[tuple[str, str], tuple[float, float]] = {}  # (pod, ifname) -> port centre
    for lay in layouts:
        out.append(
            f'<rect class="node" x="{lay.x}" y="{node_top}" width="{lay.width}" '
            f'height="{node_bottom - node_top}" rx="8" fill="#f6f8fa" stroke="#8c959f" '
            'stroke-width="1.5"/>'
        )
        out.append(
            f'<text x="{lay.x + 10}" y="{node_top + 20}" font-size="13" font-weight="bold">'
            f"{_e(lay.name)}</text>"
        )
        uplink_x: dict[str, float] = {}
        for i, (name, address) in enumerate(lay.uplinks):
            ux = lay.x + lay.width - 30 - i * 130
            uplink_x[name] = ux
            out.append(
                f'<line x1="{ux}" y1="{fabric_y[name]}" x2="{ux}" y2="{node_top}" '
                'stroke="#24292f" stroke-width="2"/>'
            )
            out.append(
                f'<rect x="{ux - PORT / 2}" y="{node_top - PORT / 2}" width="{PORT}" '
                f'height="{PORT}" fill="#24292f"/>'
            )
            label = f"{name} {address}".strip()
            out.append(
                f'<text x="{ux - 8}" y="{node_top - 6}" font-size="10" text-anchor="end">'
                f"{_e(_short(label, 20))}<title>{_e(label)}</title></text>"
            )
        for j, bar in enumerate(lay.bars):
            bar.y = bars_top + j * BAR_GAP
            out.append(
                f'<line class="attach" x1="{lay.x + 10}" y1="{bar.y}" '
                f'x2="{lay.x + lay.width - 10}" y2="{bar.y}" stroke="#6e7781" stroke-width="3"/>'
            )
            out.append(
                f'<text x="{lay.x + 12}" y="{bar.y - 4}" font-size="10" fill="#24292f">'
                f"{_e(_short(bar.label, 48))}<title>{_e(bar.label)}</title></text>"
            )
            ux_opt = uplink_x.get(bar.uplink or "")
            if ux_opt is not None:
                out.append(
                    f'<line x1="{ux_opt}" y1="{node_top}" x2="{ux_opt}" y2="{bar.y}" '
                    'stroke="#6e7781" stroke-width="2" stroke-dasharray="4 2"/>'
                )
        bar_y = {b.key: b.y for b in lay.bars}
        for k, (pod_name, pod) in enumerate(lay.pods):
            px = lay.x + NODE_PAD + k * (POD_W + POD_GAP)
            ph = pod_height(pod)
            ok = bool(pod.get("ready"))
            out.append(
                f'<rect class="pod" x="{px}" y="{pods_top}" width="{POD_W}" height="{ph}" rx="5" '
                f'fill="#fff" stroke="{PASS_COLOUR if ok else FAIL_COLOUR}" stroke-width="1.5"/>'
            )
            title = f"{pod.get('namespace', 'default')}/{pod_name}" + ("" if ok else " (not ready)")
            out.append(
                f'<text x="{px + 8}" y="{pods_top + 17}" font-size="11" font-weight="bold">'
                f"{_e(_short(title))}<title>{_e(title)}</title></text>"
            )
            interfaces = pod.get("interfaces") or []
            for n, itf in enumerate(interfaces):
                colour = colour_of(itf, colours)
                span = POD_W - 30
                wx = px + 15 + (span * (n + 0.5) / len(interfaces))
                key, _ = attachment_key(itf, networks)
                ports[(pod_name, str(itf.get("name")))] = (wx, pods_top)
                target_y = bar_y.get(key, bars_top)
                out.append(
                    f'<line class="wire" x1="{wx}" y1="{pods_top}" x2="{wx}" y2="{target_y}" '
                    f'stroke="{colour}" stroke-width="3"><title>{_e(itf.get("network"))}</title>'
                    "</line>"
                )
                out.append(f'<circle cx="{wx}" cy="{target_y}" r="3.5" fill="{colour}"/>')
                out.append(
                    f'<rect x="{wx - PORT / 2}" y="{pods_top - PORT / 2}" width="{PORT}" '
                    f'height="{PORT}" fill="{colour}"/>'
                )
                addresses = ", ".join(itf.get("addresses") or []) or "no address"
                # Written along the wire, upwards from the pod's port.
                wire_label = f"{itf.get('name')} {addresses}"
                lx, ly = wx - 3, pods_top - 8
                out.append(
                    f'<text x="{lx}" y="{ly}" font-size="9.5" fill="#24292f" '
                    f'transform="rotate(-90 {lx} {ly})" stroke="#f6f8fa" stroke-width="3" '
                    f'paint-order="stroke">{_e(_short(wire_label, WIRE_CHARS))}'
                    f"<title>{_e(wire_label)}</title></text>"
                )
                row = pods_top + 30 + n * IF_ROW
                line = f"{itf.get('name')} {itf.get('kind') or ''} {itf.get('network') or ''}"
                out.append(
                    f'<text x="{px + 8}" y="{row}" font-size="9.5" fill="#24292f">'
                    f"{_e(_short(line, 30))}<title>{_e(line)}</title></text>"
                )
            if pod.get("error"):
                text = str(pod["error"])
                out.append(
                    f'<text x="{px + 8}" y="{pods_top + ph - 10}" font-size="9" '
                    f'fill="{FAIL_COLOUR}">{_e(_short(text, 34))}<title>{_e(text)}</title></text>'
                )
    # Traffic checks: numbered arrows under the pods, from the source pod to the
    # target, and below them one line per check saying what it was and how it went.
    pod_centre: dict[str, float] = {}
    pod_bottom: dict[str, float] = {}
    for lay in layouts:
        for k, (pod_name, pod) in enumerate(lay.pods):
            pod_centre[pod_name] = lay.x + NODE_PAD + k * (POD_W + POD_GAP) + POD_W / 2
            pod_bottom[pod_name] = pods_top + pod_height(pod)
    for i, check in enumerate(traffic):
        passed = bool(check.get("passed"))
        colour, mark = (PASS_COLOUR, "pass") if passed else (FAIL_COLOUR, "fail")
        sx = pod_centre.get(str(check.get("from")))
        tx = pod_centre.get(str(check.get("to")))
        if sx is not None:
            sx += (i % 3 - 1) * 12  # several checks from one pod start apart
            start = pod_bottom[str(check.get("from"))]
            depth = arrows_top + 30 + i * 18
            if tx is None:  # an address outside the scenario's pods
                tx = sx + 90
                path = f"M{sx:.0f},{start} L{sx:.0f},{depth} L{tx:.0f},{depth}"
                mid_x, mid_y = (sx + tx) / 2, depth
            else:
                end = pod_bottom[str(check.get("to"))]
                tx -= (i % 3 - 1) * 12
                if abs(tx - sx) < 1:
                    tx = sx + 40
                # Control points below the deepest point wanted: the curve's middle
                # reaches 3/4 of the way to them.
                low = depth + (depth - max(start, end)) / 3
                path = f"M{sx:.0f},{start} C{sx:.0f},{low:.0f} {tx:.0f},{low:.0f} {tx:.0f},{end}"
                mid_x, mid_y = (sx + tx) / 2, 0.125 * (start + end) + 0.75 * low
            out.append(
                f'<path class="traffic {mark}" d="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="2" marker-end="url(#arrow-{mark})"/>'
            )
            out.append(
                f'<circle cx="{mid_x:.0f}" cy="{mid_y:.0f}" r="7" fill="{colour}"/>'
                f'<text x="{mid_x:.0f}" y="{mid_y + 3.5:.0f}" font-size="9" fill="#fff" '
                f'text-anchor="middle">{i + 1}</text>'
            )
        via = check.get("via") or "any"
        expect = " (expected to fail)" if check.get("fails") else ""
        label = (
            f"{i + 1}  ping {check.get('from')} \u2192 {check.get('to')} "
            f"{check.get('address') or ''} via {via}{expect}: {'passed' if passed else 'FAILED'}"
        )
        out.append(
            f'<text x="16" y="{list_top + i * 15:.0f}" font-size="10.5" fill="{colour}">'
            f"{_e(label)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
