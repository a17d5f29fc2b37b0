"""Answering a polled route of the hot-route table: admit the key where the route takes
one (the compatible APIs), find the view (built once per seq), apply the conditional
rule. The HTTP front and the app's routes both answer through here, so a poller gets the
same status, headers and body either way, refusals included."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tryvoha.server.answers import Answer, Cached, respond
from tryvoha.server.compat_gate import Api, Refusal
from tryvoha.server.problems import Problem, problem_parts
from tryvoha.server.routes import Params, Poll
from tryvoha.server.services import Services

Query = Sequence[tuple[str, str]]


def admit_now(services: Services, entry: Poll, authorization: str | None, query: Query) -> bool:
    """Whether the request may be answered now: True when the route needs no key, or its
    key is known and within its limit; False when the key must be looked up first
    (`admit`). Raises Refusal."""
    rule = entry.key
    if rule is None:
        return True
    return services.gate.admit_known(rule.bucket, rule.find(authorization, query)) is not None


async def admit(services: Services, entry: Poll, authorization: str | None, query: Query) -> None:
    rule = entry.key
    if rule is not None:
        await services.gate.admit(rule.bucket, rule.find(authorization, query))


def view(services: Services, entry: Poll, params: Params) -> Cached:
    """The route's current answer (raises Refusal or Problem)."""
    return entry.view(services, params)


def answer(cached: Cached, if_none_match: str | None, if_modified_since: str | None) -> Answer:
    return respond(cached, if_none_match, if_modified_since, datetime.now(UTC))


def refused(entry: Poll, error: Refusal | Problem, path: str) -> Answer:
    """A refusal in the form of the route's API: alerts.in.ua's `{"message": ...}`, else
    problem+json."""
    if isinstance(error, Problem) or entry.key is None:
        problem = (
            error if isinstance(error, Problem) else Problem(error.code, error.detail, error.status)
        )
        status, headers, body = problem_parts(problem, path)
        return Answer(status, tuple(headers), body)
    return refusal_answer(entry.key.api, error, path)


def refusal_answer(api: Api, error: Refusal, path: str) -> Answer:
    body, media_type = error.render(api, path)
    headers = [(b"content-type", media_type.encode())]
    headers.extend((name.lower().encode(), str(value).encode()) for name, value in error.headers)
    if error.status == 401:
        scheme = b"Bearer" if api is Api.ALERTS_IN_UA else b"Token"
        headers.append((b"www-authenticate", scheme))
    return Answer(error.status, tuple(headers), body)
