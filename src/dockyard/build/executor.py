"""Running a planned build: stages concurrently, steps in order, through the cache.

The executor knows Dockerfile semantics and nothing about how images are
stored or containers run: it talks to a :class:`BuildBackend` (implemented
in ``services/builds.py`` over the image store and the container service).

Every step ends in an image, as in docker's classic builder: metadata
steps derive an image with an ``empty_layer`` history entry, RUN commits the
build container's changes, COPY/ADD/WORKDIR commit what they wrote into a
writable snapshot.  Before doing the work a step computes its cache key
(``cache.step_key``) and, on a hit, takes the image it built last time.

Output is docker's classic stream — ``Step 2/7 : RUN …``, `` ---> Using
cache``, `` ---> 1a2b3c4d5e6f`` — as messages for the API.  Stages run
concurrently but their output is released in file order: a later stage's
lines wait in its queue until the stages before it are done, so the stream
reads as if the build were sequential.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ContextManager, Mapping, Protocol

from dockyard.build import copy as copying
from dockyard.build.cache import BuildCache, step_key
from dockyard.build.dispatch import (METADATA, BuildArgs, StageState, apply_metadata, declare_arg,
                                     nop_single, run_argv, run_created_by, run_env, workdir_path)
from dockyard.build.expand import REPLACE_ENV_ALLOWED, expand_instruction
from dockyard.build.instructions import (Add, Arg, Cmd, Copy, Instruction, Label, Run, StagedDockerfile,
                                         Workdir, parse_instructions)
from dockyard.build.parser import parse as parse_dockerfile
from dockyard.build.plan import BuildPlan, StagePlan
from dockyard.build.shell_words import ShellLex
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.runtime.paths_in_root import secure_join
from dockyard.images.config import ContainerConfig, HistoryEntry, ImageConfig


class BuildError(Exception):
    """A step failed; ``code`` is the errorDetail code (a RUN's exit status)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


class _DependencyFailed(BuildError):
    """A stage stopped because a stage it needs failed (that one's error is the news)."""


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a worker thread, not abandoned when the build is
    cancelled: a thread cannot be stopped, so cleanup (removing the step's
    container, the workspace) waits until it has finished with them."""
    fut = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        await asyncio.wait([fut])
        raise


@dataclass(frozen=True, slots=True)
class RunOutcome:
    container_id: str
    exit_code: int


class BuildBackend(Protocol):
    """What a build needs from the engine.  Sync methods may block (the
    executor calls them in a worker thread); async ones run on the loop."""

    def resolve_image(self, ref: str) -> str: ...

    def image_config(self, image_id: str) -> ImageConfig: ...

    def image_exists(self, image_id: str) -> bool: ...

    def new_image(self, parent: str, config: ContainerConfig, entry: HistoryEntry, author: str) -> str:
        """A child of ``parent`` ("" = scratch) with no new layer."""

    def change_files(self, parent: str, change: Callable[[str], bool], config: ContainerConfig,
                     entry: HistoryEntry, author: str) -> str:
        """Mount a writable snapshot of ``parent``, call ``change(root)``; if
        it returns True commit what changed as a layer, else derive an image
        without one."""

    def view(self, image_id: str) -> ContextManager[str]:
        """The image's root filesystem, mounted read-only, for COPY --from."""

    async def run(self, request: dict, started: Callable[[str], None],
                  output: Callable[[bytes], None]) -> RunOutcome: ...

    def commit_container(self, container_id: str, parent: str, config: ContainerConfig,
                         entry: HistoryEntry, author: str) -> str: ...

    async def remove_container(self, container_id: str) -> None: ...


@dataclass(frozen=True)
class BuildOptions:
    build_args: Mapping[str, str | None] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network_mode: str = ""
    resources: Mapping[str, Any] = field(default_factory=dict)  # HostConfig fields for RUN
    work_dir: str = "/tmp"  # where ADD downloads go
    dockerfile: str = "Dockerfile"  # the name errors give the file


Emit = Callable[[dict], None]


def short_id(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


class _StageOutput:
    """One stage's messages, held until the emitter reaches the stage."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict | None] = asyncio.Queue()

    def text(self, s: str) -> None:
        self.queue.put_nowait({"stream": s})

    def raw(self, data: bytes) -> None:
        self.queue.put_nowait({"stream": data.decode("utf-8", "replace")})

    def close(self) -> None:
        self.queue.put_nowait(None)


class Executor:
    def __init__(self, backend: BuildBackend, cache: BuildCache, dockerfile: StagedDockerfile,
                 originals: Mapping[int, str], plan: BuildPlan, build_args: BuildArgs,
                 options: BuildOptions, context_dir: str, lex: ShellLex):
        self.backend = backend
        self.cache = cache
        self.df = dockerfile
        self.originals = originals
        self.plan = plan
        self.args = build_args
        self.options = options
        self.context_dir = context_dir
        self.lex = lex
        self.file = options.dockerfile
        self._results: dict[int, asyncio.Future[str]] = {}
        self._outputs: dict[int, _StageOutput] = {}

    # -- the whole build ---------------------------------------------------------------

    async def build(self, emit: Emit) -> str:
        """Run every needed stage; the target's image id.  Raises BuildError."""
        loop = asyncio.get_running_loop()
        for sp in self.plan.stages:
            self._results[sp.stage.index] = loop.create_future()
            self._outputs[sp.stage.index] = _StageOutput()
        tasks = [asyncio.create_task(self._stage_task(sp)) for sp in self.plan.stages]
        emitter = asyncio.create_task(self._emit_in_order(emit))
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await emitter
            failures = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
            if failures:
                # The cause, not a stage that stopped because what it waited for failed.
                raise next((e for e in failures if not isinstance(e, _DependencyFailed)), failures[0])
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            emitter.cancel()
            for fut in self._results.values():
                if not fut.done():
                    fut.cancel()
            raise
        return self._results[self.plan.target].result()

    async def _emit_in_order(self, emit: Emit) -> None:
        for sp in self.plan.stages:
            queue = self._outputs[sp.stage.index].queue
            while (msg := await queue.get()) is not None:
                emit(msg)

    async def _stage_task(self, sp: StagePlan) -> None:
        out = self._outputs[sp.stage.index]
        fut = self._results[sp.stage.index]
        try:
            image_id = await self._run_stage(sp, out)
            fut.set_result(image_id)
        except BaseException as e:
            if not fut.done():
                fut.cancel()
            if isinstance(e, DockyardError):
                raise BuildError(e.message) from None
            raise
        finally:
            out.close()

    async def _stage_image(self, index: int) -> str:
        try:
            return await asyncio.shield(self._results[index])
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._results[index].cancelled() and not (task and task.cancelling()):
                raise _DependencyFailed(f"stage {index} failed") from None
            raise

    # -- one stage ---------------------------------------------------------------------

    async def _run_stage(self, sp: StagePlan, out: _StageOutput) -> str:
        total = self.plan.total_steps
        step = sp.first_step
        out.text(f"Step {step}/{total} : {self.originals.get(sp.stage.line, 'FROM ' + sp.base)}\n")
        state = await self._from(sp)
        out.text(f" ---> {short_id(state.image_id)}\n" if state.image_id else " ---> \n")
        if state.config.on_build:
            triggers = state.config.on_build
            out.text(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            state.config = replace(state.config, on_build=())
            for trigger in triggers:
                for instr in self._parse_trigger(trigger):
                    await self._dispatch(state, instr, out)
        instructions = list(sp.stage.instructions)
        if sp.stage.index == self.plan.target and self.options.labels:
            instructions.append(Label(tuple(sorted(self.options.labels.items()))))
        for instr in instructions:
            step += 1
            text = self.originals.get(instr.line) if instr.line else None
            out.text(f"Step {step}/{total} : {text or _describe(instr)}\n")
            await self._dispatch(state, instr, out)
        if not state.image_id:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        return state.image_id

    def _parse_trigger(self, trigger: str) -> list[Instruction]:
        tree = parse_dockerfile("FROM scratch\n" + trigger + "\n", "ONBUILD")
        return list(parse_instructions(tree).stages[0].instructions)

    async def _from(self, sp: StagePlan) -> StageState:
        if sp.base_stage is not None:
            image_id = await self._stage_image(sp.base_stage)
        elif sp.base.lower() == "scratch":
            return StageState("", ContainerConfig(), index=sp.stage.index)
        else:
            platform = self.lex.process_word(sp.stage.platform, self.args.meta_values())
            _check_platform(platform)
            image_id = await _in_thread(self._resolve, sp.base, sp.stage.line)
        config = await _in_thread(self.backend.image_config, image_id)
        return StageState(image_id, config.config, config.author, index=sp.stage.index)

    def _resolve(self, ref: str, line: int, flag: str = "") -> str:
        """A local image's id; ``flag`` names COPY's --from for the message."""
        try:
            return self.backend.resolve_image(ref)
        except (NotFound, InvalidArgument) as e:
            what = f"invalid from flag value {ref}: no build stage and no image of that name" if flag else \
                f"pull access denied for {ref}, repository does not exist or may require 'docker login'"
            detail = "" if isinstance(e, NotFound) else f" ({e.message})"
            raise BuildError(f"{self.file}:{line}: {what}{detail}; dockyard cannot pull images yet, "
                             "make or import them locally") from None

    # -- one step ----------------------------------------------------------------------

    async def _dispatch(self, state: StageState, instr: Instruction, out: _StageOutput) -> None:
        keyword = type(instr).__name__.lower()
        try:
            if keyword in REPLACE_ENV_ALLOWED:
                instr = expand_instruction(instr, state.expansion_env(), self.lex)
            if isinstance(instr, Arg):
                declare_arg(state, instr, self.args)
            if isinstance(instr, METADATA):
                config, created_by, author = apply_metadata(state, instr)
                await self._metadata_step(state, config, created_by, author, out)
                if isinstance(instr, Cmd):
                    state.cmd_set = True
            elif isinstance(instr, Workdir):
                await self._workdir_step(state, instr, out)
            elif isinstance(instr, Run):
                await self._run_step(state, instr, out)
            elif isinstance(instr, (Copy, Add)):
                await self._copy_step(state, instr, out)
            else:
                raise BuildError(f"unsupported instruction {keyword.upper()}")
        except BuildError:
            raise
        except DockyardError as e:
            where = f"{self.file}:{instr.line}: " if instr.line else ""
            raise BuildError(where + e.message) from None

    def _cached(self, key: str, out: _StageOutput) -> str | None:
        if self.options.no_cache:
            return None
        image_id = self.cache.lookup(key)
        if image_id is not None:
            out.text(f" ---> Using cache\n ---> {short_id(image_id)}\n")
        return image_id

    def _remember(self, key: str, image_id: str, parent: str, created_by: str, out: _StageOutput) -> None:
        self.cache.store(key, image_id, parent, created_by)
        out.text(f" ---> {short_id(image_id)}\n")

    async def _metadata_step(self, state: StageState, config: ContainerConfig, created_by: str,
                             author: str, out: _StageOutput) -> None:
        key = step_key(kind="meta", parent=state.image_id, config=config.to_json(), created_by=created_by,
                       author=author)
        image_id = self._cached(key, out)
        if image_id is None:
            entry = HistoryEntry(created_by=created_by)
            image_id = await _in_thread(self.backend.new_image, state.image_id, config, entry, author)
            self._remember(key, image_id, state.image_id, created_by, out)
        state.image_id, state.config, state.author = image_id, config, author

    async def _workdir_step(self, state: StageState, instr: Workdir, out: _StageOutput) -> None:
        path = workdir_path(state.config.working_dir, instr.path)
        config = replace(state.config, working_dir=path)
        created_by = nop_single(state.shell, f"WORKDIR {path}")
        key = step_key(kind="workdir", parent=state.image_id, config=config.to_json(), created_by=created_by)
        image_id = self._cached(key, out)
        if image_id is None:
            entry = HistoryEntry(created_by=created_by)
            image_id = await _in_thread(self.backend.change_files, state.image_id,
                                               lambda root: _make_dir(root, path), config, entry,
                                               state.author)
            self._remember(key, image_id, state.image_id, created_by, out)
        state.image_id, state.config = image_id, config

    async def _run_step(self, state: StageState, instr: Run, out: _StageOutput) -> None:
        if not state.image_id:
            raise BuildError(f"{self.file}:{instr.line}: cannot RUN in a stage FROM scratch that has no files yet")
        if instr.mounts:
            raise BuildError(f"{self.file}:{instr.line}: the --mount option requires BuildKit; "
                             "dockyard's builder does not support RUN --mount")
        if instr.security == "insecure":
            raise BuildError(f"{self.file}:{instr.line}: RUN --security=insecure is not supported")
        argv = run_argv(state, instr)
        env = run_env(state, self.args)
        created_by = run_created_by(state, argv)
        network = instr.network or self.options.network_mode or "default"
        # The proxy variables reach the command but not the key: a different
        # proxy does not make a different image (docker leaves them out too).
        proxies = {f"{k}={v}" for k, v in self.args.proxies().items()}
        key = step_key(kind="run", parent=state.image_id, argv=list(argv),
                       env=[e for e in env if e not in proxies], user=state.config.user,
                       workdir=state.config.working_dir, network=network, created_by=created_by)
        hit = self._cached(key, out)
        if hit is not None:
            state.image_id = hit
            return
        request = {
            "Image": state.image_id, "Cmd": list(argv), "Entrypoint": [], "Env": env,
            "User": state.config.user, "WorkingDir": state.config.working_dir,
            "Healthcheck": {"Test": ["NONE"]}, "AttachStdout": True, "AttachStderr": True,
            "HostConfig": {**self.options.resources, "NetworkMode": _network_mode(network),
                           # on the host's network, no raw sockets on its interfaces
                           "CapDrop": ["NET_RAW"] if _network_mode(network) == "host" else []},
        }
        started: list[str] = []

        def on_started(cid: str) -> None:
            started.append(cid)
            out.text(f" ---> Running in {cid[:12]}\n")

        try:
            outcome = await self.backend.run(request, on_started, out.raw)
            if outcome.exit_code != 0:
                raise BuildError(f"The command '{' '.join(argv)}' returned a non-zero code: "
                                 f"{outcome.exit_code}", outcome.exit_code)
            entry = HistoryEntry(created_by=created_by)
            image_id = await _in_thread(self.backend.commit_container, outcome.container_id,
                                               state.image_id, state.config, entry, state.author)
        finally:
            if started:
                await asyncio.shield(self.backend.remove_container(started[0]))
        out.text(f"Removing intermediate container {started[0][:12]}\n")
        self._remember(key, image_id, state.image_id, created_by, out)
        state.image_id = image_id

    async def _copy_step(self, state: StageState, instr: Copy | Add, out: _StageOutput) -> None:
        kind = "COPY" if isinstance(instr, Copy) else "ADD"
        if isinstance(instr, Copy) and instr.parents:
            raise BuildError(f"{self.file}:{instr.line}: COPY --parents is not supported")
        if isinstance(instr, Add) and instr.keep_git_dir:
            raise BuildError(f"{self.file}:{instr.line}: ADD of git repositories is not supported")
        from_image = ""
        if isinstance(instr, Copy) and instr.from_:
            from_image = await self._copy_from_image(instr.from_, state, instr.line)
        workdir = state.config.working_dir or "/"
        exclude = _excluder(instr.exclude)
        if from_image:
            # Keyed on what is copied, not on the stage's image: a rebuilt
            # stage that produced the same files keeps what follows cached.
            def stage_digest() -> tuple[str, str]:
                with self.backend.view(from_image) as src_root:
                    found = copying.resolve_sources(src_root, list(instr.sources), kind=kind,
                                                    origin=copying.Origin.STAGE)
                    return copying.sources_digest(found, exclude)

            try:
                digest, description = await _in_thread(stage_digest)
            except DockyardError as e:
                raise BuildError(f"{self.file}:{instr.line}: {kind} failed: {e.message}") from None
        else:
            sources = await _in_thread(self._local_sources, instr, kind, state.expansion_env())
            digest, description = await _in_thread(copying.sources_digest, sources, exclude)
        created_by = nop_single(state.shell, f"{kind} {description} in {instr.dest} ")
        key = step_key(kind=kind.lower(), parent=state.image_id, config=state.config.to_json(),
                       dest=instr.dest, workdir=workdir, chown=instr.chown, chmod=instr.chmod,
                       created_by=created_by, digest=digest,
                       unpack=getattr(instr, "unpack", None), exclude=list(instr.exclude))
        image_id = self._cached(key, out)
        if image_id is None:
            entry = HistoryEntry(created_by=created_by)

            def change(root: str) -> bool:
                owner = copying.parse_chown(instr.chown, root) if instr.chown else None
                mode = copying.parse_chmod(instr.chmod) if instr.chmod else None
                if from_image:
                    with self.backend.view(from_image) as src_root:
                        found = copying.resolve_sources(src_root, list(instr.sources), kind=kind,
                                                        origin=copying.Origin.STAGE)
                        copying.copy_into(found, root, instr.dest, workdir=workdir, owner=owner, chmod=mode,
                                          exclude=exclude)
                else:
                    copying.copy_into(sources, root, instr.dest, workdir=workdir, owner=owner, chmod=mode,
                                      unpack=kind == "ADD" and instr.unpack is not False,
                                      unpack_urls=kind == "ADD" and instr.unpack is True,
                                      exclude=exclude, kind=kind)
                return True

            try:
                image_id = await _in_thread(self.backend.change_files, state.image_id, change,
                                                   state.config, entry, state.author)
            except DockyardError as e:
                raise BuildError(f"{self.file}:{instr.line}: {kind} failed: {e.message}") from None
            self._remember(key, image_id, state.image_id, created_by, out)
        state.image_id = image_id

    def _local_sources(self, instr: Copy | Add, kind: str, env: Mapping[str, str]) -> list:
        try:
            found: list = []
            local = []
            for src in instr.sources:
                if kind == "ADD" and _is_url(src):
                    found.append(copying.fetch_url(src, self.options.work_dir,
                                                   checksum=getattr(instr, "checksum", "") or None))
                else:
                    local.append(src)
            if local:
                found.extend(copying.resolve_sources(self.context_dir, local, kind=kind))
            raw = ShellLex(self.lex.escape_token, raw_quotes=True, raw_escapes=True)
            for doc in instr.heredocs:
                text = raw.process_word(doc.data, env) if doc.expand else None
                found.append(copying.inline_source(doc, text))
            return found
        except DockyardError as e:
            raise BuildError(f"{self.file}:{instr.line}: {kind} failed: {e.message}") from None

    async def _copy_from_image(self, ref: str, state: StageState, line: int) -> str:
        ref = self.lex.process_word(ref, {**self.args.meta_values(), **state.expansion_env()})
        stage = self.df.stage(ref)
        if stage is not None:
            if stage.index >= state.index:
                raise BuildError(f"circular dependency detected on stage: {ref} "
                                 "(a stage can only copy from stages before it)")
            if stage.index not in self._results:
                raise BuildError(f"invalid from flag value {ref}: the stage is not part of this build")
            return await self._stage_image(stage.index)
        return await _in_thread(self._resolve, ref, line, "from")


def _excluder(patterns: tuple[str, ...]) -> Callable[[str], bool] | None:
    """COPY --exclude: .dockerignore's matching on paths relative to a source."""
    if not patterns:
        return None
    from dockyard.build.dockerignore import PatternMatcher

    return PatternMatcher.compile(patterns).matches


def _make_dir(root: str, path: str) -> bool:
    """WORKDIR's directory inside ``root`` (symlinks resolved within it); True if made.
    Directories are 0755 whatever the daemon's umask."""
    target = secure_join(root, path)
    if os.path.isdir(target):
        return False
    missing = []
    current = target
    while not os.path.lexists(current):
        missing.append(current)
        current = os.path.dirname(current)
    if not os.path.isdir(current):
        raise InvalidArgument(f"cannot create WORKDIR {path}: {current[len(root):] or '/'} is not a directory")
    for directory in reversed(missing):
        os.mkdir(directory)
        os.chmod(directory, 0o755)
    return True


def _describe(instr: Instruction) -> str:
    if isinstance(instr, Label):
        return "LABEL " + " ".join(f"{k}={v}" for k, v in instr.pairs)
    return type(instr).__name__.upper()


def _is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def _network_mode(network: str) -> str:
    """The build container's network: ``default`` is the default bridge (NAT
    to the outside, as docker's classic builder), ``host`` the host's,
    ``none`` loopback only."""
    if network in ("default", ""):
        return "bridge"
    return network


def _check_platform(platform: str) -> None:
    if platform and platform not in ("linux/amd64", "linux", "amd64", "linux/x86_64"):
        raise BuildError(f"platform {platform} is not supported: dockyard builds linux/amd64 images")


__all__ = ["BuildBackend", "BuildError", "BuildOptions", "Executor", "RunOutcome", "short_id"]
