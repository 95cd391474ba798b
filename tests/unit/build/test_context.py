"""The build context on both sides: the CLI's tar of a directory (or of stdin)
and the daemon's extraction of it, with real files and hostile tars."""

import bz2
import gzip
import io
import lzma
import os
import re
import tarfile

import pytest

from dockyard.build.context import (BuildContext, ChunkReader, context_from_reader,
                                    extract_context, prepare_context)
from dockyard.errors import InvalidArgument, NotFound

MTIME = 1_600_000_000


def write(path, data=b"", mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
    os.utime(path, (MTIME, MTIME))
    return path


def members(context: BuildContext) -> dict[str, tarfile.TarInfo]:
    data = context.stream.read()
    context.close()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def contents(context: BuildContext) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(context.stream.read())) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    write(root / "Dockerfile", b"FROM busybox\n")
    write(root / "app" / "main.py", b"print('hi')\n", 0o755)
    write(root / "app" / "data.txt", b"x" * 3000, 0o600)
    os.symlink("app/main.py", root / "link")
    os.link(root / "app" / "data.txt", root / "hard")
    os.chown(root / "app" / "main.py", 1000, 1000)
    os.utime(root / "app", (MTIME, MTIME))
    return root


# -- a directory --------------------------------------------------------------------

def test_directory_tar_keeps_modes_mtimes_links_and_is_owned_by_root(ctx, monkeypatch):
    monkeypatch.chdir(ctx.parent)
    context = prepare_context("ctx")
    assert context.dockerfile == "Dockerfile"
    got = members(context)
    assert list(got) == ["Dockerfile", "app", "app/data.txt", "app/main.py", "hard", "link"]
    main = got["app/main.py"]
    assert (main.uid, main.gid, main.mode, main.mtime) == (0, 0, 0o755, MTIME)
    assert got["app/data.txt"].mode == 0o600 and got["app/data.txt"].size == 3000
    assert got["link"].issym() and got["link"].linkname == "app/main.py"
    assert got["hard"].islnk() and got["hard"].linkname == "app/data.txt"
    assert all((m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "") for m in got.values())


def test_dockerignore_excludes_with_exceptions(ctx):
    write(ctx / ".dockerignore", b"# comment\napp\n!app/main.py\n*.log\n")
    write(ctx / "debug.log")
    write(ctx / "sub" / "x.log")
    got = members(prepare_context(str(ctx)))
    # "app/" itself is excluded; the exception re-includes one file inside.
    assert sorted(got) == [".dockerignore", "Dockerfile", "app/main.py", "hard", "link",
                           "sub", "sub/x.log"]  # "*.log" is top-level only


def test_excluded_directory_is_not_walked(ctx, monkeypatch):
    write(ctx / ".dockerignore", b"app\n")
    seen = []
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda p: seen.append(p) or real_listdir(p))
    got = members(prepare_context(str(ctx)))
    assert "app/main.py" not in got
    assert str(ctx / "app") not in seen


def test_dockerfile_and_dockerignore_are_always_sent(ctx):
    write(ctx / ".dockerignore", b"*\n")
    write(ctx / "sub" / "Dockerfile.dev", b"FROM scratch\n")
    got = members(prepare_context(str(ctx)))
    assert sorted(got) == [".dockerignore", "Dockerfile"]
    context = prepare_context(str(ctx), str(ctx / "sub" / "Dockerfile.dev"))
    assert context.dockerfile == "sub/Dockerfile.dev"
    assert sorted(members(context)) == [".dockerignore", "sub/Dockerfile.dev"]


def test_lowercase_dockerfile_is_found(tmp_path):
    write(tmp_path / "dockerfile", b"FROM scratch\n")
    assert prepare_context(str(tmp_path)).dockerfile == "dockerfile"


def test_file_flag_is_relative_to_the_current_directory(ctx, monkeypatch):
    write(ctx / "docker" / "Dockerfile.prod", b"FROM scratch\n")
    monkeypatch.chdir(ctx / "docker")
    assert prepare_context(str(ctx), "Dockerfile.prod").dockerfile == "docker/Dockerfile.prod"


def test_dockerfile_outside_the_context_travels_under_a_random_name(ctx, tmp_path):
    outside = write(tmp_path / "elsewhere.Dockerfile", b"FROM scratch\nCOPY . /\n")
    context = prepare_context(str(ctx), str(outside))
    assert re.fullmatch(r"\.dockerfile\.[0-9a-f]{20}", context.dockerfile)
    files = contents(context)
    assert files[context.dockerfile] == b"FROM scratch\nCOPY . /\n"
    # docker writes a .dockerignore that hides the added Dockerfile (and itself).
    assert files[".dockerignore"] == f".dockerignore\n{context.dockerfile}\n".encode()


def test_dockerfile_from_stdin_appends_to_an_existing_dockerignore(ctx):
    write(ctx / ".dockerignore", b"*.log")
    context = prepare_context(str(ctx), "-", io.BytesIO(b"FROM busybox\n"))
    files = contents(context)
    assert files[context.dockerfile] == b"FROM busybox\n"
    assert files[".dockerignore"] == f"*.log\n{context.dockerfile}\n".encode()
    assert files["Dockerfile"] == b"FROM busybox\n"  # the context's own file, unchanged


def test_context_errors_have_dockers_words(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFound, match='^unable to prepare context: path "nope" not found$'):
        prepare_context("nope")
    write(tmp_path / "file")
    with pytest.raises(InvalidArgument, match="^unable to prepare context: context must be a "
                                              f"directory: {tmp_path}/file$"):
        prepare_context("file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFound, match="^unable to prepare context: unable to evaluate symlinks "
                                       f"in Dockerfile path: lstat {tmp_path}/empty/Dockerfile: "
                                       "no such file or directory$"):
        prepare_context("empty")
    with pytest.raises(InvalidArgument, match="can't use stdin for both"):
        prepare_context("-", "-", io.BytesIO(b""))


def test_malformed_dockerignore_fails_before_sending(ctx):
    write(ctx / ".dockerignore", b"[\n")
    with pytest.raises(InvalidArgument, match="^checking context: syntax error in pattern$"):
        prepare_context(str(ctx))


def test_tar_is_produced_as_it_is_read(ctx):
    write(ctx / "big", b"b" * (3 << 20))
    context = prepare_context(str(ctx))
    first = context.stream.read(1024)
    assert first[:10] == b"Dockerfile"
    context.close()  # the generator closes the files it had open


def test_chunk_reader_reads_across_chunk_boundaries():
    reader = ChunkReader(iter([b"ab", b"", b"cdef", b"g"]))
    assert reader.read(3) == b"ab"  # one chunk at most per raw read
    assert reader.read(3) == b"cde"
    assert reader.read() == b"fg"
    assert reader.read(1) == b""


# -- stdin ----------------------------------------------------------------------------

def _tar_bytes(files, compress=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return compress(raw) if compress else raw


@pytest.mark.parametrize("compress", [None, gzip.compress, bz2.compress, lzma.compress])
def test_stdin_tar_passes_through(compress):
    body = _tar_bytes({"Dockerfile": b"FROM scratch\n", "x": b"y" * 5000}, compress)
    context = context_from_reader(io.BytesIO(body), "sub/Dockerfile")
    assert context.stream.read() == body
    assert context.dockerfile == "sub/Dockerfile"


def test_stdin_dockerfile_becomes_a_one_file_context():
    text = b"FROM busybox\n" + b"# padding\n" * 200
    context = prepare_context("-", "", io.BytesIO(text))
    assert context.dockerfile == "Dockerfile"
    got = members(BuildContext(io.BytesIO(context.stream.read())))
    assert list(got) == ["Dockerfile"] and got["Dockerfile"].size == len(text)


def test_stdin_dockerfile_with_file_flag_is_ambiguous():
    with pytest.raises(InvalidArgument, match="ambiguous Dockerfile source"):
        context_from_reader(io.BytesIO(b"FROM scratch\n"), "Dockerfile")


# -- the daemon side ----------------------------------------------------------------

def test_extract_round_trip(ctx, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_context(prepare_context(str(ctx)).stream, str(dest))
    main = dest / "app" / "main.py"
    assert main.read_bytes() == b"print('hi')\n"
    st = os.stat(main)
    assert (st.st_uid, st.st_mode & 0o7777, int(st.st_mtime)) == (0, 0o755, MTIME)
    assert os.readlink(dest / "link") == "app/main.py"
    assert os.stat(dest / "hard").st_ino == os.stat(dest / "app" / "data.txt").st_ino
    assert int(os.stat(dest / "app").st_mtime) == MTIME


def test_extract_keeps_owners_from_the_tar(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("owned")
        info.uid, info.gid, info.mode = 1234, 5678, 0o4750
        tar.addfile(info, io.BytesIO(b""))
    extract_context(io.BytesIO(buf.getvalue()), str(tmp_path))
    st = os.stat(tmp_path / "owned")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 5678, 0o4750)


def test_extract_empty_body_is_an_empty_context(tmp_path):
    extract_context(io.BytesIO(b""), str(tmp_path))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("body", [b"not a tar at all" * 100, b"x", os.urandom(4096),
                                  gzip.compress(b"garbage" * 100)])
def test_extract_refuses_what_is_not_a_tar(tmp_path, body):
    with pytest.raises(InvalidArgument, match="^invalid build context: "):
        extract_context(io.BytesIO(body), str(tmp_path))


def _hostile(*entries):
    """A tar of (name, kind, linkname-or-data) entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(extra)
                tar.addfile(info, io.BytesIO(extra))
                continue
            info.type = {"sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
                         "dir": tarfile.DIRTYPE}[kind]
            info.linkname = extra or ""
            tar.addfile(info)
    return io.BytesIO(buf.getvalue())


@pytest.fixture
def sandbox(tmp_path):
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    return dest, outside


def test_dotdot_names_are_refused(sandbox):
    dest, outside = sandbox
    with pytest.raises(InvalidArgument, match="outside of the extraction directory"):
        extract_context(_hostile(("../outside/pwned", "file", b"x")), str(dest))
    assert os.listdir(outside) == []


def test_absolute_names_are_rooted_in_the_destination(sandbox):
    dest, outside = sandbox
    extract_context(_hostile((f"{outside}/pwned", "file", b"x")), str(dest))
    assert os.listdir(outside) == []
    assert (dest / str(outside).lstrip("/") / "pwned").read_bytes() == b"x"


def test_writes_through_a_symlink_stay_inside(sandbox):
    dest, outside = sandbox
    extract_context(_hostile(("escape", "sym", str(outside)),
                             ("escape/pwned", "file", b"x"),
                             ("up", "sym", "../../.."),
                             ("up/pwned2", "file", b"y")), str(dest))
    assert os.listdir(outside) == []
    assert os.readlink(dest / "escape") == str(outside)  # kept as a symlink
    assert (dest / str(outside).lstrip("/") / "pwned").read_bytes() == b"x"
    assert (dest / "pwned2").read_bytes() == b"y"


def test_symlink_as_last_component_is_replaced_not_followed(sandbox):
    dest, outside = sandbox
    target = outside / "victim"
    target.write_bytes(b"safe")
    extract_context(_hostile(("f", "sym", str(target)), ("f", "file", b"pwned")), str(dest))
    assert target.read_bytes() == b"safe"
    assert (dest / "f").read_bytes() == b"pwned"


def test_hard_links_must_name_an_earlier_entry_inside(sandbox):
    dest, outside = sandbox
    (outside / "secret").write_bytes(b"s")
    with pytest.raises(InvalidArgument, match="outside of the extraction directory"):
        extract_context(_hostile(("l", "link", "../outside/secret")), str(dest))
    with pytest.raises(InvalidArgument, match="invalid build context: hard link"):
        extract_context(_hostile(("l2", "link", str(outside / "secret"))), str(dest))
    with pytest.raises(InvalidArgument, match="invalid build context: hard link"):
        extract_context(_hostile(("l3", "link", "later"), ("later", "file", b"z")), str(dest))
    assert (outside / "secret").stat().st_nlink == 1


@pytest.mark.parametrize("compress", [None, gzip.compress, lzma.compress])
def test_extract_accepts_a_tar_cut_after_its_last_data(tmp_path, compress):
    # What docker's CLI sends with -f outside the context: no padding, no end blocks.
    whole = _tar_bytes({"a": b"x" * 600, ".dockerfile.0123456789abcdef0123": b"FROM scratch\n"})
    cut = whole[:3 * 512 + 512 + 13]  # header a, 2 blocks of a, header df, 13 bytes of df
    extract_context(io.BytesIO(compress(cut) if compress else cut), str(tmp_path))
    assert (tmp_path / ".dockerfile.0123456789abcdef0123").read_bytes() == b"FROM scratch\n"
    assert (tmp_path / "a").read_bytes() == b"x" * 600


@pytest.mark.parametrize("cut", [512 + 100, 512 + 600 + 10, 300])
def test_extract_still_refuses_a_tar_cut_anywhere_else(tmp_path, cut):
    # inside the data, inside the padding, inside a header
    whole = _tar_bytes({"a": b"x" * 600})
    with pytest.raises(InvalidArgument, match="^invalid build context: "):
        extract_context(io.BytesIO(whole[:cut]), str(tmp_path))


def test_extract_accepts_a_tar_without_end_blocks(tmp_path):
    whole = _tar_bytes({"e": b"", "d/f": b"abc"})
    extract_context(io.BytesIO(whole[:3 * 512]), str(tmp_path))
    assert (tmp_path / "d" / "f").read_bytes() == b"abc"
