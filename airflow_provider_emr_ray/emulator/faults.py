"""Fault injection and per-action counters."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from airflow_provider_emr_ray.emulator.config import FaultRule


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised in-process (``httpx.ASGITransport``) where a served emulator would drop the connection.

    It is an ``httpx.RemoteProtocolError``, so clients handle it exactly like a dropped socket.
    """

    def __init__(self, action: str) -> None:
        super().__init__(f"emulator dropped the connection of {action} (injected fault)")


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

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "faults": dict(self.faults),
            "faultsByKind": dict(self.faults_by_kind),
            "rejections": dict(self.rejections),
            "totalCalls": sum(self.calls.values()),
            "totalFaults": sum(self.faults.values()),
        }

    def reset(self) -> None:
        self.calls.clear()
        self.faults.clear()
        self.faults_by_kind.clear()
        self.rejections.clear()


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
                if rule.action not in ("*", action):
                    continue
                if rule.kind not in ("latency", "cluster_error") and decision.failure is not None:
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
                if rule.kind == "latency":
                    decision.latency += rule.latency
                elif rule.kind == "cluster_error":
                    decision.cluster_error = True
                else:
                    decision.failure = rule
        return decision
