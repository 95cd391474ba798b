"""``stats``: containers' resource usage, live or once.

Two parts, as in docker's CLI:

* ``StatsEntry.from_api`` reduces one ``GET /containers/{id}/stats``
  sample to the numbers shown (CPU %, memory without the inactive page
  cache, network and block I/O, pids) — a pure function;
* ``cmd_stats`` runs one collector thread per container reading its
  stream (``stream=1``; ``stream=0`` once with ``--no-stream``), and
  redraws the table every half second from the cursor's home position,
  clearing each line's end and the rest of the screen (``ESC[K``,
  ``ESC[J``) so shorter output leaves nothing behind.  Without container
  arguments the set follows the daemon's container events: ``start`` adds
  one, ``die`` removes it (``create`` adds one with ``-a``).

A collector with no sample for 2 seconds, or whose stream failed, shows
"--" in every column, as docker does.
"""

from __future__ import annotations

import threading
import time

from dockyard import errors
from dockyard.cli import units
from dockyard.cli.flags import FlagSet
from dockyard.cli.formatter import render, truncate_id
from dockyard.cli.session import Session, StatusError, describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATS_HEADERS = {
    "Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}
STATS_TABLE = ("{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
               "\t{{.BlockIO}}\t{{.PIDs}}")
NO_VALUE = "--"
REFRESH = 0.5   # seconds between redraws
STALE = 2.0     # a collector without a sample for this long shows "--"


def cpu_percent(sample: dict[str, Any]) -> float:
    """docker's calculateCPUPercentUnix: the container's share of the host's
    CPU time since the previous sample, times the number of CPUs."""
    cpu = sample.get("cpu_stats") or {}
    pre = sample.get("precpu_stats") or {}
    usage = cpu.get("cpu_usage") or {}
    cpu_delta = float(usage.get("total_usage") or 0) - float(
        (pre.get("cpu_usage") or {}).get("total_usage") or 0)
    system_delta = float(cpu.get("system_cpu_usage") or 0) - float(
        pre.get("system_cpu_usage") or 0)
    online = float(cpu.get("online_cpus") or 0) or float(len(usage.get("percpu_usage") or []))
    if system_delta > 0.0 and cpu_delta > 0.0:
        return cpu_delta / system_delta * online * 100.0
    return 0.0


def memory_usage(memory: dict[str, Any]) -> float:
    """Usage without the inactive page cache: ``total_inactive_file`` on
    cgroup v1, ``inactive_file`` on v2 (docker's calculateMemUsageUnixNoCache)."""
    usage = int(memory.get("usage") or 0)
    stats = memory.get("stats") or {}
    if "total_inactive_file" in stats and stats["total_inactive_file"] < usage:
        return float(usage - stats["total_inactive_file"])
    inactive = int(stats.get("inactive_file") or 0)
    if inactive < usage:
        return float(usage - inactive)
    return float(usage)


def block_io(blkio: dict[str, Any]) -> tuple[int, int]:
    read = write = 0
    for entry in blkio.get("io_service_bytes_recursive") or []:
        op = (entry.get("op") or "")[:1]
        if op in ("r", "R"):
            read += int(entry.get("value") or 0)
        elif op in ("w", "W"):
            write += int(entry.get("value") or 0)
    return read, write


class StatsEntry:
    """The numbers of one sample; ``invalid`` shows "--" everywhere."""

    __slots__ = ("name", "id", "cpu", "memory", "memory_limit", "memory_percent",
                 "net_rx", "net_tx", "block_read", "block_write", "pids", "invalid")

    def __init__(self, name: str = "", ident: str = "", invalid: bool = False):
        self.name, self.id, self.invalid = name, ident, invalid
        self.cpu = self.memory = self.memory_limit = self.memory_percent = 0.0
        self.net_rx = self.net_tx = self.block_read = self.block_write = 0.0
        self.pids = 0

    @classmethod
    def from_api(cls, sample: dict[str, Any]) -> StatsEntry:
        entry = cls(sample.get("name") or "", sample.get("id") or "")
        memory = sample.get("memory_stats") or {}
        entry.cpu = cpu_percent(sample)
        entry.memory = memory_usage(memory)
        entry.memory_limit = float(memory.get("limit") or 0)
        entry.memory_percent = (entry.memory / entry.memory_limit * 100.0
                                if entry.memory_limit else 0.0)
        read, write = block_io(sample.get("blkio_stats") or {})
        entry.block_read, entry.block_write = float(read), float(write)
        for net in (sample.get("networks") or {}).values():
            entry.net_rx += float(net.get("rx_bytes") or 0)
            entry.net_tx += float(net.get("tx_bytes") or 0)
        entry.pids = int((sample.get("pids_stats") or {}).get("current") or 0)
        return entry


def _percent(value: float) -> str:
    return f"{value:.2f}%"


class StatsRow:
    """One line of ``stats``: the fields ``--format`` can name (docker's)."""

    def __init__(self, container: str, entry: StatsEntry, trunc: bool):
        self._e = entry
        self._trunc = trunc
        self.Container = container

    @property
    def Name(self) -> str:
        name = self._e.name
        return name[1:] if len(name) > 1 else NO_VALUE

    @property
    def ID(self) -> str:
        return truncate_id(self._e.id) if self._trunc else self._e.id

    @property
    def CPUPerc(self) -> str:
        return NO_VALUE if self._e.invalid else _percent(self._e.cpu)

    @property
    def MemUsage(self) -> str:
        if self._e.invalid:
            return "-- / --"
        return f"{units.bytes_size(self._e.memory)} / {units.bytes_size(self._e.memory_limit)}"

    @property
    def MemPerc(self) -> str:
        return NO_VALUE if self._e.invalid else _percent(self._e.memory_percent)

    @property
    def NetIO(self) -> str:
        if self._e.invalid:
            return NO_VALUE
        return f"{units.human_size(self._e.net_rx)} / {units.human_size(self._e.net_tx)}"

    @property
    def BlockIO(self) -> str:
        if self._e.invalid:
            return NO_VALUE
        return f"{units.human_size(self._e.block_read)} / {units.human_size(self._e.block_write)}"

    @property
    def PIDs(self) -> str:
        return NO_VALUE if self._e.invalid else str(self._e.pids)

    def __json__(self) -> dict[str, str]:
        fields = ("BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name",
                  "NetIO", "PIDs")
        return {name: getattr(self, name) for name in fields}


def frame(table: str) -> str:
    """One redraw: home the cursor, clear each line's tail, then the rest."""
    return "\033[H" + "".join(f"{line}\033[K\n" for line in table.split("\n")) + "\033[J"


class Collector:
    """Reads one container's stats stream in a thread; ``entry`` is the
    latest sample (invalid until the first, or after a failure)."""

    def __init__(self, session: Session, container: str, stream: bool):
        self.container = container
        self.entry = StatsEntry(invalid=True)
        self.error: BaseException | None = None
        self.first = threading.Event()
        self._session = session
        self._stream = stream
        self._last = 0.0
        self._response: Any = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Collector:
        self.thread.start()
        return self

    def current(self, now: float) -> StatsEntry:
        if self._stream and not self.entry.invalid and now - self._last > STALE:
            return StatsEntry(self.entry.name, self.entry.id, invalid=True)
        return self.entry

    def stop(self) -> None:
        if self._response is not None:
            try:
                self._response.close()
            except OSError:
                pass

    def _run(self) -> None:
        from dockyard.client.stream import json_lines

        try:
            params = {"stream": "1" if self._stream else "0"}
            self._response = self._session.client.stream(
                "GET", f"/containers/{self.container}/stats", params)
            for sample in json_lines(self._response):
                self.entry = StatsEntry.from_api(sample)
                self._last = time.monotonic()
                self.first.set()
                if not self._stream:
                    break
        except (errors.DockyardError, OSError, ValueError) as exc:
            self.error = exc
        finally:
            if self._stream or self.error is not None:
                # The stream ended (the container stopped) or failed.
                self.entry = StatsEntry(self.entry.name, self.entry.id, invalid=True)
            self.first.set()
            self.stop()


def cmd_stats(session: Session, argv: list[str]) -> int:
    flags = FlagSet("stats", "[OPTIONS] [CONTAINER...]",
                    "Display a live stream of container(s) resource usage statistics",
                    aliases=["container stats", "stats"])
    flags.bool("all", "a", "Show all containers (default shows just running)")
    flags.string("format", None, "Format output using a custom template")
    flags.bool("no-stream", None, "Disable streaming stats and only pull the first result")
    flags.bool("no-trunc", None, "Do not truncate output")
    opts, names = flags.parse(argv)
    stream = not opts.no_stream
    collectors: dict[str, Collector] = {}
    lock = threading.Lock()

    def add(container: str) -> None:
        with lock:
            if container not in collectors:
                collectors[container] = Collector(session, container, stream).start()

    def remove(container: str) -> None:
        with lock:
            gone = collectors.pop(container, None)
        if gone is not None:
            gone.stop()

    show_all = not names
    if show_all:
        if stream:
            _watch_events(session, opts.all, add, remove)
        for summary in session.client.get("/containers/json", {"all": opts.all}) or []:
            add(summary["Id"])
    else:
        for name in names:
            add(name)
    deadline = time.monotonic() + STALE
    for collector in list(collectors.values()):
        collector.first.wait(max(0.0, deadline - time.monotonic()))
    if not show_all:
        failures = [describe(c.error) for c in collectors.values() if c.error is not None]
        if failures:
            raise StatusError("\n".join(failures), 1)

    trunc = not opts.no_trunc
    try:
        while True:
            now = time.monotonic()
            with lock:
                rows = [StatsRow(c.container, c.current(now), trunc)
                        for c in collectors.values()]
            table = render(opts.format or "", rows, STATS_HEADERS, STATS_TABLE)
            if not stream:
                session.stdout.write(table)
                return 0
            session.stdout.write(frame(table))
            session.stdout.flush()
            time.sleep(REFRESH)
    finally:
        for collector in list(collectors.values()):
            collector.stop()


def _watch_events(session: Session, include_all: bool, add: Any, remove: Any) -> None:
    """Follow container events in a thread (subscribed before the listing,
    so a container started in between is not missed)."""
    response = session.client.stream("GET", "/events",
                                     {"filters": {"type": ["container"]}})

    def watch() -> None:
        from dockyard.client.stream import json_lines

        try:
            for event in json_lines(response):
                ident = (event.get("Actor") or {}).get("ID") or event.get("id")
                action = event.get("Action") or event.get("status")
                if not ident:
                    continue
                if action == "start" or (action == "create" and include_all):
                    add(ident)
                elif action == "die" and not include_all:
                    remove(ident)
        except (errors.DockyardError, OSError, ValueError):
            pass

    threading.Thread(target=watch, daemon=True).start()
