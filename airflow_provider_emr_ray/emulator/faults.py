"""Fault injection: the kinds of fault (one table), the rule, the injector and per-action counters.

:data:`FAULT_KINDS` is the one list of what can be injected: each kind's name, its aliases,
what it does and, for kinds that replace the answer, how that answer is made. A rule naming any
other kind is a ``ValueError`` when it is built (from Python, the CLI's ``--fault`` or the
``/__emulator__/faults`` control route).
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_emr_ray.emulator import errors
from airflow_provider_emr_ray.emulator.responses import SEND_KEY, error_response, raw_response
from airflow_provider_emr_ray.suggest import did_you_mean

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = [
    "ANSWER",
    "CLUSTER_ERROR",
    "ConnectionDropped",
    "DELAY",
    "Decision",
    "FAULT_KINDS",
    "GATEWAY_PREFIX",
    "FaultInjector",
    "FaultKind",
    "FaultRule",
    "Stats",
    "fault_kind",
    "gateway_answer",
]


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised in-process (``httpx.ASGITransport``) where a served emulator would drop the connection.

    It is an ``httpx.RemoteProtocolError``, so clients handle it exactly like a dropped socket.
    """

    def __init__(self, action: str) -> None:
        super().__init__(f"emulator dropped the connection of {action} (injected fault)")


# --------------------------------------------------------------------------- what a kind does
#: The call proceeds ``latency`` seconds later (adds up with other rules and with one answer).
DELAY = "delay"
#: The cluster the call creates, starts or submits (a job's own cluster) goes to ``Error``.
CLUSTER_ERROR = "cluster_error"
#: The answer is replaced (before the action, or after it with ``after=True``); one per call.
ANSWER = "answer"

#: ``answer(rule, request, action, request_id)``: the response that replaces the real one.
Answer = Callable[["FaultRule", "Request", str, str], "Response"]


def _error(make: Callable[[FaultRule], errors.ApiError]) -> Answer:
    return lambda rule, request, action, rid: error_response(make(rule), rid)


def _malformed(rule: FaultRule, request: Request, action: str, rid: str) -> Response:
    """HTTP 200, JSON content type, a body cut in the middle."""
    return raw_response(f'{{"requestId":"{rid}","code":'.encode(), rid)


def _drop(rule: FaultRule, request: Request, action: str, rid: str) -> Response:
    """Close the socket without answering (uvicorn), or raise where no socket exists (ASGITransport)."""
    from starlette.responses import Response

    cycle = getattr(request.scope.get(SEND_KEY), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(cycle, "disconnected"):
        cycle.disconnected = True  # uvicorn then neither answers nor complains
        with contextlib.suppress(Exception):
            transport.abort()
        return Response(b"", status_code=500)
    raise ConnectionDropped(action)


@dataclass(frozen=True)
class FaultKind:
    """One kind of fault: its name, what it does (:data:`DELAY`, :data:`CLUSTER_ERROR` or
    :data:`ANSWER`), the answer it gives (``ANSWER`` kinds only) and the other names it accepts."""

    name: str
    effect: str
    summary: str
    answer: Answer | None = None
    aliases: tuple[str, ...] = ()


#: Every fault kind, by name (in this order in messages and docs).
FAULT_KINDS: dict[str, FaultKind] = {
    k.name: k
    for k in (
        FaultKind("500", ANSWER, "HTTP 500 InternalError", _error(lambda r: errors.internal_error()),
                  ("http500", "http_500", "internal")),
        FaultKind("503", ANSWER, "HTTP 503 ServiceUnavailable", _error(lambda r: errors.service_unavailable()),
                  ("http503", "http_503", "unavailable")),
        FaultKind("429", ANSWER, "HTTP 429 Throttling.User with Retry-After: retry_after",
                  _error(lambda r: errors.throttled(r.retry_after)), ("http429", "http_429", "throttle", "throttling")),
        FaultKind("latency", DELAY, "the call proceeds after latency seconds", aliases=("delay",)),
        FaultKind("drop", ANSWER, "the connection is closed without an answer", _drop, ("dropped", "disconnect")),
        FaultKind("malformed", ANSWER, "HTTP 200 with a body that is not JSON", _malformed,
                  ("malformed_json", "bad_json")),
        FaultKind("cluster_error", CLUSTER_ERROR, "the cluster the call creates, starts or submits goes to Error",
                  aliases=("error",)),
    )
}
_BY_NAME: dict[str, FaultKind] = {
    **{alias: k for k in FAULT_KINDS.values() for alias in k.aliases},
    **FAULT_KINDS,
}


def fault_kind(name: Any) -> FaultKind:
    """The kind called ``name`` (or one of its aliases, any case); ``ValueError`` naming the known ones."""
    key = str(name).strip().lower()
    kind = _BY_NAME.get(key)
    if kind is None:
        known = ", ".join(FAULT_KINDS)
        aliases = ", ".join(sorted(a for k in FAULT_KINDS.values() for a in k.aliases))
        raise ValueError(
            f"unknown fault kind {name!r}; known kinds: {known} (aliases: {aliases}){did_you_mean(key, _BY_NAME)}"
        )
    return kind


# --------------------------------------------------------------------------- the rule
_RULE_FIELDS = ("kind", "action", "times", "probability", "seed", "after", "latency", "retry_after")


@dataclass
class FaultRule:
    """One fault-injection rule.

    ``kind`` is a name (or alias) of :data:`FAULT_KINDS`: ``500``, ``503``, ``429`` (code
    ``Throttling.User`` with ``Retry-After``), ``latency`` (adds ``latency`` seconds, then the call
    proceeds), ``drop`` (the connection is closed without a response), ``malformed`` (HTTP 200
    with a body that is not JSON) or ``cluster_error`` (the cluster created/started/submitted by
    the call goes to ``Error``). Any other kind is a ``ValueError``.

    ``action`` is an action name or ``*`` (every call of the signed API), or a call of Ray's Jobs
    API at the clusters' ``jobUrl`` (the gateway): ``Ray.<name>`` of
    :data:`~airflow_provider_emr_ray.emulator.ray_jobs.RAY_JOBS_ACTIONS` (``Ray.SubmitJob``,
    ``Ray.GetJob``, ``Ray.TailJobLogs``...) or ``Ray.*``; there ``500``/``503``/``429`` answer
    plain text as Ray's aiohttp server does, ``drop`` closes the connection, ``malformed`` cuts a
    JSON body, ``cluster_error`` does nothing; on the websocket tail every answer kind breaks the
    tail (accepted, then closed with code 1011). ``times`` limits the rule to the next N matching calls;
    ``probability`` (with ``seed``) applies it at random. ``after=True`` lets the action take
    effect first and then replaces the answer by the fault (the create happened, the client got 500).
    """

    kind: str
    action: str = "*"
    times: int | None = None
    probability: float | None = None
    seed: int | None = None
    after: bool = False
    latency: float = 0.0
    retry_after: int = 1

    def __post_init__(self) -> None:
        self.kind = fault_kind(self.kind).name
        from airflow_provider_emr_ray.client.actions import ACTIONS

        if self.action.startswith(GATEWAY_PREFIX):
            from airflow_provider_emr_ray.emulator.config import RAY_GATEWAY_ACTIONS as RAY_JOBS_ACTIONS

            name = self.action[len(GATEWAY_PREFIX) :]
            if name != "*" and name not in RAY_JOBS_ACTIONS:
                raise ValueError(
                    f"unknown Ray Jobs API action {self.action!r}; expected {GATEWAY_PREFIX}* or one of "
                    + ", ".join(GATEWAY_PREFIX + a for a in RAY_JOBS_ACTIONS)
                )
        elif self.action != "*" and self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; expected '*' or one of {', '.join(ACTIONS)}")
        if self.times is not None and int(self.times) < 0:
            raise ValueError("times must be >= 0")
        if self.probability is not None and not 0.0 <= float(self.probability) <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.effect == DELAY and float(self.latency) <= 0:
            raise ValueError("a latency fault needs latency > 0 (seconds)")

    @property
    def effect(self) -> str:
        """What the rule does: :data:`DELAY`, :data:`CLUSTER_ERROR` or :data:`ANSWER`."""
        return FAULT_KINDS[self.kind].effect

    def answer(self, request: Request, action: str, rid: str) -> Response:
        """The response that replaces the real answer (``ANSWER`` kinds)."""
        answer = FAULT_KINDS[self.kind].answer
        if answer is None:
            raise ValueError(f"a {self.kind} fault does not replace the answer")
        return answer(self, request, action, rid)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        unknown = set(data) - set(_RULE_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        kw: dict[str, Any] = dict(data)
        for key, conv in (("times", int), ("seed", int), ("retry_after", int)):
            if kw.get(key) is not None:
                kw[key] = conv(kw[key])
        for key in ("probability", "latency"):
            if kw.get(key) is not None:
                kw[key] = float(kw[key])
        if isinstance(kw.get("after"), str):
            kw["after"] = kw["after"].strip().lower() in ("1", "true", "yes", "on")
        return cls(**kw)

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        """Parse a CLI spec: ``kind=500,action=GetRayJob,times=3,after=true`` (or a JSON object)."""
        spec = spec.strip()
        if spec.startswith("{"):
            return cls.from_dict(json.loads(spec))
        data: dict[str, Any] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault spec component {part!r} is not key=value")
            data[key.strip()] = value.strip()
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _RULE_FIELDS}


# --------------------------------------------------------------------------- the gateway's answers
#: Prefix of the gateway's actions in rules and counters (``Ray.SubmitJob``).
GATEWAY_PREFIX = "Ray."
_GATEWAY_TEXT = {
    "500": (500, "500 Internal Server Error\n\nServer got itself in trouble"),
    "503": (503, "503 Service Unavailable"),
    "429": (429, "429 Too Many Requests"),
}


def _matches(rule_action: str, action: str) -> bool:
    """``*`` is every call of the signed API; ``Ray.*`` every call of the gateway."""
    if rule_action == action:
        return True
    gateway = action.startswith(GATEWAY_PREFIX)
    return rule_action == (GATEWAY_PREFIX + "*" if gateway else "*")


def gateway_answer(rule: FaultRule, request: Request, action: str) -> Response | None:
    """The answer a rule gives on the gateway, as Ray's own server would; None: no answer
    (``cluster_error``, meaningless there)."""
    from starlette.responses import PlainTextResponse, Response

    if rule.kind in _GATEWAY_TEXT:
        status, text = _GATEWAY_TEXT[rule.kind]
        headers = {"Retry-After": str(rule.retry_after)} if rule.kind == "429" else None
        return PlainTextResponse(text, status_code=status, headers=headers)
    if rule.kind == "drop":
        return _drop(rule, request, action, "")
    if rule.kind == "malformed":
        return Response(b'{"job_id": ', status_code=200, media_type="application/json")
    return None


# --------------------------------------------------------------------------- the injector
@dataclass
class _ActiveRule:
    rule: FaultRule
    rng: random.Random
    remaining: int | None
    fired: int = 0


@dataclass
class Decision:
    """The faults that apply to one call: latency to add, and at most one failure."""

    latency: float = 0.0
    failure: FaultRule | None = None
    cluster_error: bool = False


@dataclass
class Stats:
    """Counters, readable from Python (``emulator.stats``) and at ``GET /__emulator__/stats``."""

    calls: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    faults_by_kind: Counter = field(default_factory=Counter)
    rejections: Counter = field(default_factory=Counter)
    #: Calls of Ray's own Jobs API at ``jobUrl``, per action (``ray_jobs.RAY_JOBS_ACTIONS``).
    ray_jobs_calls: Counter = field(default_factory=Counter)
    #: Ray Jobs API calls refused for their ``ray-token`` (``missing`` / ``invalid``).
    ray_jobs_rejections: Counter = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "faults": dict(self.faults),
            "faultsByKind": dict(self.faults_by_kind),
            "rejections": dict(self.rejections),
            "totalCalls": sum(self.calls.values()),
            "totalFaults": sum(self.faults.values()),
            "rayJobsCalls": dict(self.ray_jobs_calls),
            "rayJobsRejections": dict(self.ray_jobs_rejections),
        }

    def reset(self) -> None:
        self.calls.clear()
        self.faults.clear()
        self.faults_by_kind.clear()
        self.rejections.clear()
        self.ray_jobs_calls.clear()
        self.ray_jobs_rejections.clear()


class FaultInjector:
    """Holds the active rules; decides, per call, which faults fire."""

    def __init__(self, rules=()) -> None:
        self._lock = threading.Lock()
        self._rules: list[_ActiveRule] = []
        for rule in rules:
            self.add(rule)

    def add(self, rule: FaultRule | dict[str, Any]) -> FaultRule:
        if not isinstance(rule, FaultRule):
            rule = FaultRule.from_dict(rule)
        with self._lock:
            self._rules.append(_ActiveRule(rule, random.Random(rule.seed), rule.times))
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r.rule.to_dict(), remaining=r.remaining, fired=r.fired) for r in self._rules]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def decide(self, action: str, stats: Stats) -> Decision:
        decision = Decision()
        if not self._rules:
            return decision
        with self._lock:
            for active in list(self._rules):
                rule = active.rule
                effect = rule.effect
                if not _matches(rule.action, action):
                    continue
                if effect == ANSWER and decision.failure is not None:
                    continue
                if active.remaining is not None and active.remaining <= 0:
                    continue
                if rule.probability is not None and active.rng.random() >= rule.probability:
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                    if active.remaining <= 0:
                        self._rules.remove(active)
                active.fired += 1
                stats.faults[action] += 1
                stats.faults_by_kind[rule.kind] += 1
                if effect == DELAY:
                    decision.latency += rule.latency
                elif effect == CLUSTER_ERROR:
                    decision.cluster_error = True
                else:
                    decision.failure = rule
        return decision
