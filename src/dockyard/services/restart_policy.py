"""Restart policies (``--restart``) and docker's back-off between restarts.

Docker's rules: ``no`` never restarts; ``always`` restarts whatever the exit
code; ``unless-stopped`` likewise, but a container stopped by the user stays
stopped across daemon restarts too; ``on-failure[:N]`` restarts on a
non-zero exit code, at most N times when N is given.  A user's stop or kill
is never undone in the same daemon's life.  Between restarts docker waits
100 ms, doubling each time up to a minute, and starts again from 100 ms once
a container has run for 10 seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    name: str = "no"
    max_retries: int = 0

    @staticmethod
    def from_api(policy: dict | None) -> "RestartPolicy":
        policy = policy or {}
        return RestartPolicy(policy.get("Name") or "no", int(policy.get("MaximumRetryCount") or 0))

    def after_exit(self, exit_code: int, restart_count: int, manually_stopped: bool) -> bool:
        """Restart a container whose process just ended?"""
        if manually_stopped or self.name == "no":
            return False
        if self.name in ("always", "unless-stopped"):
            return True
        if self.name == "on-failure":
            return exit_code != 0 and (self.max_retries <= 0 or restart_count < self.max_retries)
        return False

    def at_daemon_start(self, manually_stopped: bool) -> bool:
        """Start an exited container again when the daemon starts?"""
        if self.name == "always":
            return True
        return self.name == "unless-stopped" and not manually_stopped


def next_delay(previous: float, ran_for: float) -> float:
    if previous <= 0 or ran_for >= RESET_AFTER:
        return INITIAL_DELAY
    return min(previous * 2, MAX_DELAY)
