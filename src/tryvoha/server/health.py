"""What a load balancer and a monitoring system ask a serving process.

- `/healthz`: the process is alive and its loop turns (nothing else is looked at).
- `/readyz`: send it traffic. A process that writes is ready while its store answers and
  takes writes (NATS may be away: writes are published when it returns). An edge is ready
  once it has caught up with the log since it started, and while it hears of new events
  (from NATS, or from the store when NATS is away).
- `/metrics`: the Prometheus text format: the numbers of `/api/v1/health`, readiness, and
  the bus (connected, the newest seq it brought, how far this process is behind it, what a
  writer has not yet had confirmed).
All three are cheap: no store query but the writer's probe, remembered for a second.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from tryvoha.server.services import Services

router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}


def _services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


@router.get("/healthz")
async def healthz() -> Response:
    return Response(b"ok\n", headers=NO_STORE, media_type="text/plain")


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    svc = _services(request)
    ready, why = await svc.readiness.check(svc)
    text = f"{'ready' if ready else 'not ready'}: {why} (role {svc.settings.role.value}, seq {svc.engine.seq})\n"
    return Response(text.encode(), 200 if ready else 503, NO_STORE, media_type="text/plain")


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    svc = _services(request)
    ready, _ = await svc.readiness.check(svc)
    return Response(
        render(svc, ready).encode(), headers=NO_STORE, media_type="text/plain; version=0.0.4"
    )


def render(svc: Services, ready: bool) -> str:
    state = svc.bus.state()
    seq = svc.engine.seq
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, *samples: tuple[str, float]) -> None:
        lines.append(f"# HELP tryvoha_{name} {help_text}")
        lines.append(f"# TYPE tryvoha_{name} {kind}")
        lines.extend(f"tryvoha_{name}{labels} {value:g}" for labels, value in samples)

    role = svc.settings.role.value
    metric(
        "info",
        "gauge",
        "role and bus of this process",
        (f'{{role="{role}",bus="{state.kind}"}}', 1),
    )
    metric("ready", "gauge", "1 when /readyz says ready", ("", int(ready)))
    metric("seq", "gauge", "the last seq applied to this process's projection", ("", seq))
    metric("active_alerts", "gauge", "active alerts", ("", len(svc.engine.projection)))
    metric("subscribers", "gauge", "open SSE and WebSocket subscribers", ("", len(svc.fanout)))
    metric(
        "dropped_slow_subscribers_total",
        "counter",
        "subscribers dropped for not reading",
        ("", svc.fanout.dropped_slow),
    )
    refused = sorted(svc.refusals.total.items())
    metric(
        "refused_total",
        "counter",
        "connections and requests refused, by reason",
        *((f'{{reason="{reason}"}}', count) for reason, count in refused),
    )
    metric(
        "bus_connected",
        "gauge",
        "1 while the bus brings events as they happen",
        ("", int(state.connected)),
    )
    metric("bus_heard_seq", "gauge", "the newest seq the bus brought", ("", state.heard))
    metric(
        "bus_lag_events",
        "gauge",
        "events the bus brought that this process has not applied yet",
        ("", max(0, state.heard - seq)),
    )
    if state.published is not None:
        metric(
            "bus_published_seq",
            "gauge",
            "the newest seq the bus confirmed holding",
            ("", state.published),
        )
        metric(
            "bus_unpublished_events",
            "gauge",
            "events committed here that the bus has not confirmed yet",
            ("", state.unpublished),
        )
    if svc.forwarder is not None:
        metric(
            "forwarded_writes_total",
            "counter",
            "writes forwarded to a writer",
            ("", svc.forwarder.forwarded),
        )
        metric(
            "writer_failovers_total",
            "counter",
            "writers that could not be reached and were passed over",
            ("", svc.forwarder.failed_over),
        )
    return "\n".join(lines) + "\n"
