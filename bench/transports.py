"""The transports table: W1 over the WebSocket and over Server-Sent Events, same run.

livebell serves one session over two transports (docs/protocol.md). ``livebell``
is its socket, ``livebell-sse`` the same server with the same users, its clients
reading the event stream instead; both run W1 in the same run, so the table can
set them side by side: deliveries per second and latency per phase, and the CPU
of the server and of the client (a client near a full core would be measuring
itself, not the server), then the stream's figures over the socket's.
"""

from __future__ import annotations

from bench.report import PhaseRecord, Results, markdown_table

__all__ = ["PHASES", "TRANSPORTS", "transports_table"]

# The targets of the table, in order, with the transport each stands for.
TRANSPORTS = (("livebell", "WebSocket"), ("livebell-sse", "Server-Sent Events"))
SOCKET, STREAM = (name for name, _ in TRANSPORTS)
# The phases it shows (name, its label).
PHASES = (
    ("W1 saturation", "W1 broadcast, back to back"),
    ("W1 latency", "W1 broadcast, at a fixed rate"),
)


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _row(label: str, transport: str, p: PhaseRecord) -> list[str]:
    return [
        label,
        transport,
        _num(p.rate, "{:,.0f}"),
        f"{p.received:,}" if isinstance(p.received, int) else p.received,
        _num(p.latency.get("p50_ms"), "{:.1f}"),
        _num(p.latency.get("p99_ms"), "{:.1f}"),
        _num(p.cpu.get("server"), "{:.0f}"),
        _num(p.cpu.get("client"), "{:.0f}"),
    ]


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}x"


def _ratio_row(label: str, stream: PhaseRecord, socket: PhaseRecord) -> list[str]:
    def latency(key: str) -> str:
        return _ratio(stream.latency.get(key), socket.latency.get(key))

    def cpu(key: str) -> str:
        return _ratio(stream.cpu.get(key), socket.cpu.get(key))

    return [
        label,
        "SSE / WebSocket",
        _ratio(stream.rate, socket.rate),
        "",
        latency("p50_ms"),
        latency("p99_ms"),
        cpu("server"),
        cpu("client"),
    ]


def transports_table(results: Results) -> str | None:
    """The table, or None unless both transports ran W1."""
    if not all(name in results.targets for name, _ in TRANSPORTS):
        return None
    rows = []
    for phase, label in PHASES:
        records = {name: results.phase(phase, name) for name, _ in TRANSPORTS}
        for name, transport in TRANSPORTS:
            record = records[name]
            if record is not None:
                rows.append(_row(label, transport, record))
        socket, stream = records[SOCKET], records[STREAM]
        if socket is not None and stream is not None:
            rows.append(_ratio_row(label, stream, socket))
    if not rows:
        return None
    return "livebell's transports (one server, W1; CPU in % of one core):\n\n" + markdown_table(
        [
            "phase",
            "transport",
            "deliveries/s",
            "received",
            "p50 ms",
            "p99 ms",
            "CPU% server",
            "CPU% client",
        ],
        rows,
    )
