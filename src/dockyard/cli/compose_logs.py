"""``compose logs`` and the output of ``up`` in the foreground.

Each container's log stream (``GET /containers/{id}/logs``) is read by its
own thread over its own connection; complete lines are printed whole, under
one lock, behind the container's name padded to the longest name and
coloured per container when stdout is a terminal::

    proj-db-1   | database system is ready to accept connections
    proj-web-1  |  * Running on http://0.0.0.0:5000

A stream that ends while following means the container stopped; ``up``
then prints ``proj-web-1 exited with code 0`` and hears about it through
:meth:`LogMux.wait` (``--abort-on-container-exit`` stops at the first).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable
from typing import Any

from dockyard.cli.session import Session
from dockyard.compose import convert

# docker compose's order: cyan, yellow, green, magenta, blue, red, then the bright ones.
COLORS = ("36", "33", "32", "35", "34", "31", "96", "93", "92", "95", "94", "91")


class LogMux:
    def __init__(self, session: Session, *, color: bool | None = None, prefix: bool = True,
                 timestamps: bool = False):
        self.session = session
        self.color = _isatty(session.stdout) if color is None else color  # None: on a terminal
        self.prefix = prefix
        self.timestamps = timestamps
        self.names: list[str] = []
        self._width = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._exits: queue.Queue[tuple[str, int]] = queue.Queue()
        self._responses: list[Any] = []
        self._reporting = 0
        self._active: set[str] = set()  # containers whose stream is being read
        self._restarted: dict[str, dict[str, Any]] = {}  # started again before their stream ended
        self._followed: dict[str, float] = {}  # container → when its latest stream was opened

    def follow_all(self, rows: Iterable[dict[str, Any]], **kw: Any) -> None:
        rows = list(rows)
        self._width = max([self._width] + [len(convert.row_name(r)) for r in rows])
        for row in rows:
            self.follow(row, **kw)

    def follow(self, row: dict[str, Any], *, follow: bool = True, tail: str = "all",
               since: str | None = None, until: str | None = None, report_exit: bool = False) -> None:
        name = convert.row_name(row)
        self._width = max(self._width, len(name))
        color = COLORS[len(self.names) % len(COLORS)]
        self.names.append(name)
        params = {"stdout": True, "stderr": True, "follow": follow, "tail": tail, "since": since,
                  "until": until, "timestamps": self.timestamps}
        if report_exit:
            self._reporting += 1
        with self._lock:
            self._active.add(row["Id"])
            self._followed[row["Id"]] = time.time()
        thread = threading.Thread(target=self._read, args=(row["Id"], name, color, params, report_exit),
                                  daemon=True)
        self._threads.append(thread)
        thread.start()

    def _read(self, cid: str, name: str, color: str, params: dict[str, Any], report_exit: bool) -> None:
        from dockyard import errors
        from dockyard.client.api import APIClient
        from dockyard.client.stream import Demultiplexer

        client = APIClient(self.session.host)
        pending = b""
        code = -1
        try:
            tty = bool((client.get(f"/containers/{cid}/json").get("Config") or {}).get("Tty"))
            response = client.stream("GET", f"/containers/{cid}/logs", params)
            self._responses.append(response)
            demux = None if tty else Demultiplexer()
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                pieces = [chunk] if demux is None else [p for _, p in demux.feed(chunk)]
                for piece in pieces:
                    pending += piece
                    *lines, pending = pending.split(b"\n")
                    self._print(name, color, lines)
            if pending:
                self._print(name, color, [pending])
            if report_exit:
                code = int(client.post(f"/containers/{cid}/wait").get("StatusCode", 0))
                self._line(f"{name} exited with code {code}")
        except (errors.DockyardError, ValueError) as exc:
            self._line(f"{name}: {exc}")
        except OSError:
            pass  # the stream was closed under us (close(), Ctrl-C)
        finally:
            if report_exit:  # whatever happened, wait() must hear of it
                self._exits.put((name, code))
            with self._lock:
                self._active.discard(cid)
                again = self._restarted.pop(cid, None)
            # Started again while this stream was ending: follow the new run,
            # unless the stream already carried it (it ends only once the
            # container is down for good).
            if again is not None and self._running(client, cid):
                self.follow({"Id": cid, "Names": [f"/{name}"]}, **again)
            client.close()

    @staticmethod
    def _running(client: Any, cid: str) -> bool:
        from dockyard import errors

        try:
            return bool((client.get(f"/containers/{cid}/json").get("State") or {}).get("Running"))
        except (errors.DockyardError, OSError):
            return False

    def watch(self, project: str, services: set[str], since: float, **follow: Any) -> None:
        """Follow containers of *project*'s *services* that start after
        *since* (a scale-up, a recreate, a restart), as docker compose's
        ``logs -f`` does: a thread on ``GET /events`` for container starts.
        *since* is from before the caller listed what it follows, so a start
        in between is replayed, not missed (those followed already are skipped)."""
        labels = [f"{convert.PROJECT}={project}", f"{convert.ONEOFF}=False"]
        def run() -> None:
            from dockyard import errors
            from dockyard.client.api import APIClient

            client = APIClient(self.session.host)
            try:
                events = client.stream_json("GET", "/events", {"since": f"{since:.9f}", "filters": {
                    "type": ["container"], "event": ["start"], "label": labels}})
                for event in events:
                    attributes = (event.get("Actor") or {}).get("Attributes") or {}
                    cid = (event.get("Actor") or {}).get("ID") or event.get("id", "")
                    if attributes.get(convert.SERVICE) not in services:
                        continue
                    started = event.get("timeNano", 0) / 1e9
                    again = {**follow, "since": f"{started:.9f}", "tail": "all"}
                    with self._lock:
                        if started <= self._followed.get(cid, 0):
                            continue  # a replayed start of a run already being shown
                        if cid in self._active:  # its old stream is still ending
                            self._restarted[cid] = again
                            continue
                    rows = client.get("/containers/json", {"all": True, "filters": {"id": [cid]}})
                    if rows:
                        self.follow(rows[0], **again)
            except (errors.DockyardError, OSError, ValueError):
                pass  # the daemon went away, or close(): nothing more to follow
            finally:
                client.close()

        threading.Thread(target=run, daemon=True).start()

    def _print(self, name: str, color: str, lines: list[bytes]) -> None:
        if not lines:
            return
        head = ""
        if self.prefix:
            head = f"{name.ljust(self._width)} | "
            if self.color:
                head = f"\x1b[{color}m{head}\x1b[0m"
        text = "".join(f"{head}{line.decode('utf-8', 'replace').rstrip(chr(13))}\n" for line in lines)
        with self._lock:
            self.session.stdout.write(text)
            self.session.stdout.flush()

    def _line(self, text: str) -> None:
        with self._lock:
            self.session.stdout.write(text + "\n")
            self.session.stdout.flush()

    def wait(self, until_first: bool = False) -> tuple[str, int] | None:
        """Block until every reporting container exited (or the first, with
        *until_first*); the first exit.  Without reporting containers, until
        every stream ends.  Ctrl-C raises KeyboardInterrupt here."""
        first = None
        while self._reporting:
            try:
                event = self._exits.get(timeout=0.5)
            except queue.Empty:
                continue
            self._reporting -= 1
            first = first or event
            if until_first:
                return first
        while True:  # threads may be added while waiting (watch)
            alive = [t for t in list(self._threads) if t.is_alive()]
            if not alive:
                return first
            alive[0].join(0.5)

    def close(self) -> None:
        for response in self._responses:
            try:
                response.close()
            except OSError:
                pass


def _isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def cmd_logs(c: Any, argv: list[str]) -> int:
    from dockyard.cli import units
    from dockyard.cli.compose import services_flags
    from dockyard.cli.session import StatusError

    flags = services_flags("logs", "[OPTIONS] [SERVICE...]", "View output from containers")
    flags.bool("follow", "f", "Follow log output")
    flags.string("tail", "n", 'Number of lines to show from the end of the logs for each container',
                 default="all")
    flags.bool("timestamps", "t", "Show timestamps")
    flags.bool("no-color", None, "Produce monochrome output")
    flags.bool("no-log-prefix", None, "Don't print prefix in logs")
    flags.string("since", None, "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative "
                 "(e.g. 42m for 42 minutes)")
    flags.string("until", None, "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or "
                 "relative (e.g. 42m for 42 minutes)")
    flags.int("index", None, "index of the container if service has multiple replicas")
    opts, services = flags.parse(argv)
    try:
        since = units.timestamp(opts.since) if opts.since else None
        until = units.timestamp(opts.until) if opts.until else None
    except ValueError as exc:
        raise StatusError(str(exc), 1) from None
    engine = c.engine
    names = engine.service_names(services or None)
    began = time.time()
    rows = engine.containers(names)
    if opts.index:
        rows = [r for r in rows if convert.row_number(r) == opts.index]
    mux = LogMux(c.session, color=c.color(opts.no_color), prefix=not opts.no_log_prefix,
                 timestamps=opts.timestamps)
    mux.follow_all(rows, follow=opts.follow, tail=opts.tail, since=since, until=until)
    if opts.follow and not opts.index:
        mux.watch(c.project.name, set(names), began, follow=True, until=until)
    try:
        mux.wait()
    except KeyboardInterrupt:
        pass
    finally:
        mux.close()
    return 0
