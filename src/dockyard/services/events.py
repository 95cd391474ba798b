"""The event bus behind ``/events``: container and image lifecycle messages.

Publishers call `EventBus.publish`; each subscriber gets an asyncio queue.
The last few thousand events are kept in memory so ``--since`` can replay
them (docker keeps a similar ring; events before a daemon restart are gone,
as in docker).
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # container, image, network, volume, daemon
    action: str  # create, start, die, destroy, …
    actor_id: str
    attributes: dict = field(default_factory=dict)
    time_nano: int = 0

    def to_api(self) -> dict:
        secs = self.time_nano // 1_000_000_000
        msg = {
            "Type": self.type,
            "Action": self.action,
            "Actor": {"ID": self.actor_id, "Attributes": dict(self.attributes)},
            "scope": "local",
            "time": secs,
            "timeNano": self.time_nano,
        }
        if self.type == "container":
            msg["status"] = self.action
            msg["id"] = self.actor_id
            msg["from"] = self.attributes.get("image", "")
        elif self.type == "image":
            msg["status"] = self.action
            msg["id"] = self.actor_id
        return msg

    def matches(self, filters: dict[str, list[str]]) -> bool:
        """docker's event filters: every key must match one of its values."""
        for key, values in filters.items():
            if not values:
                continue
            if key == "type":
                ok = self.type in values
            elif key in ("event", "action"):
                ok = any(self.action == v or self.action.split(":")[0] == v for v in values)
            elif key in ("container", "image", "network", "volume"):
                names = {self.attributes.get("name", ""), self.attributes.get("image", "")} - {""}
                ok = key == self.type and any(
                    v in names or (len(v) >= 1 and self.actor_id.startswith(v)) for v in values
                )
            elif key == "label":
                ok = all(
                    k in self.attributes and (not want or self.attributes[k] == want)
                    for k, _, want in (v.partition("=") for v in values)
                )
            else:
                ok = True
            if not ok:
                return False
        return True


class EventBus:
    def __init__(self, keep: int = 4096):
        self._history: collections.deque[Event] = collections.deque(maxlen=keep)
        self._subscribers: set[asyncio.Queue] = set()

    def publish(self, type_: str, action: str, actor_id: str, attributes: dict | None = None) -> Event:
        event = Event(type_, action, actor_id, dict(attributes or {}), time.time_ns())
        self._history.append(event)
        for q in list(self._subscribers):
            q.put_nowait(event)
        return event

    def since(self, since_nano: int) -> list[Event]:
        return [e for e in self._history if e.time_nano >= since_nano]

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue()
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._subscribers.discard(q)
