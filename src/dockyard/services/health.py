"""Health checks: HEALTHCHECK from the image, or --health-* at run.

While a container with a check runs, one task per container probes it: every
Interval (StartInterval during the start period) it runs the test as an exec,
with Timeout.  Exit 0 is healthy; anything else adds to the failing streak,
and Retries consecutive failures make the container unhealthy — except that
failures during StartPeriod do not count.  The state lives in
``State.Health`` ({Status, FailingStreak, Log[-5:]}), is shown by ps as
"(healthy)", and each change of status is a ``health_status: …`` event.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..units import now_rfc3339
from .container_state import Container
from .containers import ContainerService
from .execs import ExecService

log = logging.getLogger("dockyard.health")

NS = 1_000_000_000
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
KEEP_LOG = 5


def probe_command(test: list[str] | None) -> list[str] | None:
    """["CMD-SHELL", "x"] → sh -c x; ["CMD", …] → as is; NONE or empty → no check."""
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    if test[0] == "CMD":
        return list(test[1:]) or None
    return list(test)


def _seconds(value, default: float) -> float:
    return value / NS if value else default


class HealthMonitor:
    def __init__(self, containers: ContainerService, execs: ExecService):
        self.containers = containers
        self.execs = execs
        self._tasks: dict[str, asyncio.Task] = {}
        containers.on_start.append(self.started)
        containers.on_resume.append(self.resumed)
        containers.on_exit.append(self.stopped)

    def started(self, c: Container) -> None:
        cmd = probe_command((c.config.get("Healthcheck") or {}).get("Test"))
        if cmd is None:
            c.state.health = None
            return
        c.state.health = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self.containers.save(c)
        self._tasks[c.id] = asyncio.create_task(self._run(c, cmd))

    def resumed(self, c: Container) -> None:
        """After a daemon restart: keep probing a running container, keeping its state."""
        cmd = probe_command((c.config.get("Healthcheck") or {}).get("Test"))
        if cmd is None or c.id in self._tasks:
            return
        if c.state.health is None:
            c.state.health = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self._tasks[c.id] = asyncio.create_task(self._run(c, cmd))

    def stopped(self, c: Container) -> None:
        task = self._tasks.pop(c.id, None)
        if task is not None:
            task.cancel()
        if c.state.health is not None:
            c.state.health["Status"] = "unhealthy"  # what a stopped container reports, as in docker

    async def _run(self, c: Container, cmd: list[str]) -> None:
        check = c.config.get("Healthcheck") or {}
        interval = _seconds(check.get("Interval"), DEFAULT_INTERVAL)
        timeout = _seconds(check.get("Timeout"), DEFAULT_TIMEOUT)
        start_period = _seconds(check.get("StartPeriod"), 0.0)
        start_interval = _seconds(check.get("StartInterval"), DEFAULT_START_INTERVAL)
        retries = int(check.get("Retries") or DEFAULT_RETRIES)
        started = time.monotonic()
        try:
            while self.containers.is_running(c):
                in_start_period = time.monotonic() - started < start_period
                await asyncio.sleep(start_interval if in_start_period and check.get("StartInterval") else interval)
                if c.state.status != "running":
                    continue  # paused: docker does not probe
                begin = now_rfc3339()
                code, output = await self.execs.probe(c, cmd, timeout)
                self._record(c, code, output, begin, retries, time.monotonic() - started < start_period)
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - a broken probe loop must not take the daemon down
            log.exception("health check of %s failed", c.id[:12])
        finally:
            if self._tasks.get(c.id) is asyncio.current_task():
                del self._tasks[c.id]

    def _record(self, c: Container, code: int, output: str, begin: str, retries: int, in_start_period: bool) -> None:
        health = c.state.health
        if health is None:
            return
        health["Log"] = (health["Log"] + [{"Start": begin, "End": now_rfc3339(), "ExitCode": code, "Output": output}])[-KEEP_LOG:]
        before = health["Status"]
        if code == 0:
            health["FailingStreak"] = 0
            health["Status"] = "healthy"
        elif not in_start_period or before != "starting":
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= retries:
                health["Status"] = "unhealthy"
        self.containers.save(c)
        if health["Status"] != before:
            self.containers.event(c, f"health_status: {health['Status']}")
