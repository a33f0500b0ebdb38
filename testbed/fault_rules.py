"""What ``testbed.fault_proxy`` faults and counts: rules, parsed heads, statistics.

Thread-safe: tests add rules and read counts from their own thread while the proxy's
loop picks rules and counts requests.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass, field

__all__ = ["ACTIONS", "Request", "Rule", "RuleBook", "Stats", "parse_head"]

ACTIONS = frozenset({"delay", "reset", "cut", "status", "trickle", "hold", "drop"})


@dataclass
class Request:
    """The head of an HTTP message (a request, or an answer with ``status``)."""

    head: bytes
    method: str = ""
    path: str = ""  # without the query string
    target: str = ""  # as sent, query included
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def is_upgrade(self) -> bool:
        return "websocket" in self.headers.get("upgrade", "").lower()

    @property
    def closes(self) -> bool:
        return "close" in self.headers.get("connection", "").lower()


def parse_head(head: bytes, *, response: bool = False) -> Request:
    """Parse a request or status line and its headers; ``ValueError`` if malformed."""
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    if len(first) < 2:
        raise ValueError(f"not an HTTP head: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if response:
        return Request(head, status=int(first[1]), headers=headers)
    path = first[1].split("?", 1)[0]
    return Request(head, method=first[0].upper(), path=path, target=first[1], headers=headers)


@dataclass
class Rule:
    """Which requests to fault, and how (see ``testbed.fault_proxy``).

    ``method``: exact, any case (None: any). ``path``: a regex searched in the path
    without its query (None: any). ``nth``: 1-based numbers among the requests this
    rule's method and path matched (None: every one). ``times``: fault at most this
    many. ``probability``: drawn from the proxy's seeded RNG.
    """

    action: str
    method: str | None = None
    path: str | None = None
    nth: Container[int] | None = None
    times: int | None = None
    probability: float = 1.0
    seconds: float = 0.0  # delay; hold (0: forever); trickle step; drop after
    status: int = 503
    after: bool = False  # reset / status once the server has answered
    cut_at: int | None = None  # body bytes passed before a cut (None: half)
    chunk: int = 1  # bytes per trickle step
    matched: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; one of {sorted(ACTIONS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within 0 and 1")
        self._path = re.compile(self.path) if self.path is not None else None

    def matches(self, request: Request) -> bool:
        if self.method is not None and request.method != self.method.upper():
            return False
        return self._path is None or self._path.search(request.path) is not None


class RuleBook:
    """Rules in order; ``pick`` gives the first that fires for a request."""

    def __init__(self, seed: int) -> None:
        self._rules: list[Rule] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pick(self, request: Request) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if not rule.matches(request):
                    continue
                rule.matched += 1
                if rule.nth is not None and rule.matched not in rule.nth:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
        return None


class Stats:
    """Counts: requests seen and forwarded by ``(method, path)``, faults by action,
    resets sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.forwards: Counter[tuple[str, str]] = Counter()
        self.faults: Counter[str] = Counter()
        self.resets = 0

    def seen(self, request: Request, rule: Rule | None) -> None:
        with self._lock:
            self.requests[(request.method, request.path)] += 1
            if rule is not None:
                self.faults[rule.action] += 1

    def forwarded(self, request: Request) -> None:
        with self._lock:
            self.forwards[(request.method, request.path)] += 1

    def reset(self) -> None:
        with self._lock:
            self.resets += 1

    def count(
        self, method: str | None = None, path: str | None = None, *, sent: bool = True
    ) -> int:
        """Requests forwarded to the server (``sent=False``: received from clients) whose
        method is ``method`` and whose path matches the regex ``path`` (None: any)."""
        with self._lock:
            counter = self.forwards if sent else self.requests
            return sum(
                n
                for (m, p), n in counter.items()
                if (method is None or m == method.upper())
                and (path is None or re.search(path, p) is not None)
            )
