"""Waiting for containers: ``depends_on`` conditions and ``up --wait``.

A dependency's condition is met, per container of the dependency, when it is

- ``service_started``: nothing to wait for — the dependency converged (was
  created and started) before the dependent begins, and a one-shot that has
  already exited still counts, as in docker compose;
- ``service_healthy``: its health check reports healthy (unhealthy, no
  health check, or exiting first is a failure);
- ``service_completed_successfully``: it exited with status 0.

The daemon is polled (inspect, 100 ms growing to 500 ms).  Every wait
checks a shared cancel event, so Ctrl-C in the CLI ends all of them at once
instead of leaving worker threads polling a container that never gets there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from dockyard import errors

POLL_INTERVAL = 0.1
MAX_POLL_INTERVAL = 0.5

CONDITIONS = {"service_healthy": "healthy", "service_completed_successfully": "completed"}


class DependencyFailed(errors.Conflict):
    """A service could not start because one it depends on did not.

    Kept apart from other conflicts only so that, when several services
    fail, the cause is reported rather than its consequences."""


class Waiter:
    def __init__(self, client: Callable[[], Any], on_event: Callable[[str, str], None],
                 cancelled: threading.Event):
        self._client = client
        self._on_event = on_event
        self.cancelled = cancelled

    def await_container(self, cid: str, condition: str, service: str,
                        deadline: float | None = None) -> None:
        """Block until the container is ``running``, ``healthy``, ``ready``
        (healthy when it has a health check, else running) or ``completed``
        (exit 0); raise DependencyFailed when it cannot be."""
        delay = POLL_INTERVAL
        name = cid[:12]
        while True:
            if self.cancelled.is_set():
                raise DependencyFailed(f"canceled while waiting for container {name}")
            info = self._client().get(f"/containers/{cid}/json")
            name = info.get("Name", "").lstrip("/") or name
            state = info.get("State") or {}
            if self._met(condition, state, name, service):
                return
            if deadline is not None and time.monotonic() > deadline:
                raise DependencyFailed(f"timeout waiting for container {name} to be {condition}")
            self.cancelled.wait(delay)
            delay = min(delay * 1.5, MAX_POLL_INTERVAL)

    def _met(self, condition: str, state: dict[str, Any], name: str, service: str) -> bool:
        if condition == "ready":  # up --wait: healthy if it has a health check, else running
            condition = "healthy" if state.get("Health") is not None else "running"
        code = state.get("ExitCode", 0)
        exited = not state.get("Running") and state.get("Status") in ("exited", "dead")
        if condition == "completed":
            if exited and code != 0:
                raise DependencyFailed(f"service {service!r} didn't complete successfully: exit {code}")
            return exited
        if condition == "healthy":
            if state.get("Health") is None:
                raise DependencyFailed(f"dependency failed to start: container {name} has no "
                                       "healthcheck configured")
            status = state["Health"].get("Status")
            if status == "healthy":
                self._on_event(name, "Healthy")
                return True
            if status == "unhealthy":
                raise DependencyFailed(f"dependency failed to start: container {name} is unhealthy")
        elif state.get("Running"):
            return True
        if exited:
            raise DependencyFailed(f"dependency failed to start: container {name} exited ({code})")
        return False
