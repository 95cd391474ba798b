"""COPY and ADD on real trees: a build context, a destination root, and a
sentinel beside them that no copy may touch."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import http.server
import lzma
import os
import socket
import stat
import subprocess
import threading
import time
from email.utils import formatdate

import pytest

from archive.trees import tar_bytes
from dockyard.build.copy import (Origin, Source, copy_into, fetch_url, has_wildcards, inline_source,
                                 is_archive, parse_chmod, parse_chown, resolve_sources, sources_digest)
from dockyard.build.instructions import InlineFile
from dockyard.errors import InvalidArgument, NotFound, SystemError, Unavailable

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, mknod)")

MTIME = 1_600_000_000


@pytest.fixture
def ctx(tmp_path):
    """A build context owned by 1234:1234, as a user's checkout would be."""
    c = tmp_path / "ctx"
    (c / "sub/deep").mkdir(parents=True)
    files = {"a.txt": b"a", "b.txt": b"bb", ".hidden": b"h", "run.sh": b"#!/bin/sh\n",
             "sub/x.txt": b"x", "sub/y.md": b"y", "sub/deep/z.txt": b"z"}
    for name, data in files.items():
        (c / name).write_bytes(data)
    os.chmod(c / "run.sh", 0o755)
    for dirpath, dirnames, filenames in os.walk(c):
        for name in dirnames + filenames + ["."]:
            path = os.path.join(dirpath, name)
            os.lchown(path, 1234, 1234)
            os.utime(path, (MTIME, MTIME))
    return c


@pytest.fixture
def root(tmp_path):
    """The destination stage's root filesystem."""
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (r / "etc/group").write_text("root:x:0:\napp:x:1001:\nstaff:x:50:app\n")
    (r / "srv").mkdir()
    (tmp_path / "sentinel").write_bytes(b"keep")
    return r


def outside(tmp_path) -> list[str]:
    return sorted(os.listdir(tmp_path))


def copy(ctx, root, patterns, dest, origin=Origin.CONTEXT, **kw):
    copy_into(resolve_sources(str(ctx), patterns, origin=origin), str(root), dest, **kw)


def meta(path) -> tuple:
    st = os.lstat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


# ---------------------------------------------------------------------------
# resolving sources

@pytest.mark.parametrize("pattern", ["a.txt", "/a.txt", "./a.txt", "sub/../a.txt", "//a.txt"])
def test_source_paths_are_cleaned(ctx, pattern):
    [src] = resolve_sources(str(ctx), [pattern])
    assert (src.name, src.path, src.is_dir, src.origin) == ("a.txt", str(ctx / "a.txt"), False, Origin.CONTEXT)


def test_the_root_and_directories(ctx):
    srcs = resolve_sources(str(ctx), [".", "/", "sub/"])
    assert [(s.name, s.is_dir) for s in srcs] == [(".", True), (".", True), ("sub", True)]


@pytest.mark.parametrize("pattern, shown", [("../outside", "../outside"), ("/../outside", "../outside"),
                                            ("sub/../../outside", "sub/../../outside"), ("..", "..")])
def test_climbing_out_of_the_root_is_forbidden(ctx, pattern, shown):
    with pytest.raises(InvalidArgument) as err:
        resolve_sources(str(ctx), [pattern])
    assert err.value.message == f"forbidden path outside the build context: {shown} ()"


def test_missing_source_in_the_context_and_in_a_stage(ctx):
    with pytest.raises(NotFound) as err:
        resolve_sources(str(ctx), ["missing.txt"])
    assert err.value.message == ("file not found in build context or excluded by .dockerignore: "
                                 "stat missing.txt: file does not exist")
    with pytest.raises(NotFound) as err:
        resolve_sources(str(ctx), ["/missing.txt"], origin=Origin.STAGE)
    assert err.value.message == "stat missing.txt: file does not exist"


def test_copy_cannot_take_urls(ctx):
    with pytest.raises(InvalidArgument, match="^source can't be a URL for COPY$"):
        resolve_sources(str(ctx), ["https://example.com/x"])
    with pytest.raises(ValueError, match="fetch_url"):
        resolve_sources(str(ctx), ["http://example.com/x"], kind="ADD")


def test_a_named_symlink_is_followed_and_keeps_its_name(ctx, root):
    os.symlink("sub/x.txt", ctx / "link")
    [src] = resolve_sources(str(ctx), ["link"])
    assert (src.name, src.path) == ("link", str(ctx / "sub/x.txt"))
    copy(ctx, root, ["link"], "/app/")
    assert (root / "app/link").read_bytes() == b"x"
    assert not (root / "app/link").is_symlink()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../../../etc/passwd"])
def test_a_context_symlink_leading_out_of_the_context_is_refused(ctx, target):
    os.symlink(target, ctx / "link")
    with pytest.raises(InvalidArgument, match="forbidden path outside the build context: link"):
        resolve_sources(str(ctx), ["link"])


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../../../etc/passwd"])
def test_image_symlinks_leading_out_of_the_root_resolve_inside_it(ctx, root, target):
    os.symlink(target, ctx / "link")
    with pytest.raises(NotFound):
        resolve_sources(str(ctx), ["link"], origin=Origin.STAGE)  # the host's /etc/passwd is never read
    (ctx / "etc").mkdir()
    (ctx / "etc/passwd").write_bytes(b"image's own")
    [src] = resolve_sources(str(ctx), ["link"], origin=Origin.STAGE)
    assert open(src.path, "rb").read() == b"image's own"


def test_a_symlinked_directory_on_the_way_resolves_inside_an_image(ctx):
    os.symlink("/", ctx / "up")
    os.symlink("../..", ctx / "sub/back")
    assert resolve_sources(str(ctx), ["up/a.txt"], origin=Origin.STAGE)[0].path == str(ctx / "a.txt")
    assert resolve_sources(str(ctx), ["sub/back/b.txt"], origin=Origin.STAGE)[0].path == str(ctx / "b.txt")
    with pytest.raises(InvalidArgument, match="symlink up -> /"):
        resolve_sources(str(ctx), ["up/a.txt"])
    os.symlink("..", ctx / "sub/inside")
    assert resolve_sources(str(ctx), ["sub/inside/b.txt"])[0].path == str(ctx / "b.txt")


def test_a_dangling_symlink_a_loop_or_a_file_on_the_way_is_not_found(ctx):
    os.symlink("nowhere", ctx / "dangling")
    os.symlink("loop", ctx / "loop")
    for pattern in ("dangling", "loop", "a.txt/x", "a.txt/*"):
        with pytest.raises((NotFound, InvalidArgument)):
            resolve_sources(str(ctx), [pattern])


# ---------------------------------------------------------------------------
# wildcards

@pytest.mark.parametrize("pattern, names", [
    ("*.txt", ["a.txt", "b.txt"]),
    ("*", [".hidden", "a.txt", "b.txt", "run.sh", "sub"]),
    ("?.txt", ["a.txt", "b.txt"]),
    ("[a].txt", ["a.txt"]),
    ("[^a].txt", ["b.txt"]),
    ("[a-b].*", ["a.txt", "b.txt"]),
    ("sub/*.txt", ["sub/x.txt"]),
    ("*/x.txt", ["sub/x.txt"]),
    ("*/*/*", ["sub/deep/z.txt"]),
    ("/sub/*", ["sub/deep", "sub/x.txt", "sub/y.md"]),
    ("./s*", ["sub"]),
])
def test_wildcards_match_one_component_each_in_order(ctx, pattern, names):
    assert [s.name for s in resolve_sources(str(ctx), [pattern])] == names


def test_wildcard_escapes_and_special_names(ctx):
    (ctx / "arr[0].txt").write_bytes(b"0")
    (ctx / "star*").write_bytes(b"*")
    assert [s.name for s in resolve_sources(str(ctx), ["arr[[]0].txt"])] == ["arr[0].txt"]
    assert [s.name for s in resolve_sources(str(ctx), ["sta?\\*"])] == ["star*"]
    assert has_wildcards("a*") and has_wildcards("[x]") and not has_wildcards("a\\*b") and not has_wildcards("plain")


def test_wildcards_follow_a_literal_prefix_but_do_not_descend_through_links(ctx):
    os.symlink("sub", ctx / "linkdir")
    assert [s.name for s in resolve_sources(str(ctx), ["linkdir/*.txt"])] == ["linkdir/x.txt"]
    assert [s.name for s in resolve_sources(str(ctx), ["*/x.txt"])] == ["sub/x.txt"]  # not linkdir/x.txt


def test_a_wildcard_matching_a_symlink_follows_it(ctx):
    os.symlink("sub/x.txt", ctx / "l.txt")
    srcs = {s.name: s.path for s in resolve_sources(str(ctx), ["*.txt"])}
    assert srcs["l.txt"] == str(ctx / "sub/x.txt")


def test_patterns_matching_nothing(ctx):
    assert [s.name for s in resolve_sources(str(ctx), ["a.txt", "*.nothing"])] == ["a.txt"]
    for patterns in (["*.nothing"], ["[unclosed"], ["bad*\\"], ["[]"]):
        with pytest.raises(InvalidArgument) as err:
            resolve_sources(str(ctx), patterns)
        assert err.value.message == "no source files were specified"
    assert resolve_sources(str(ctx), []) == []


def test_wildcards_can_be_turned_off(ctx):
    (ctx / "*.txt").write_bytes(b"literal")
    [src] = resolve_sources(str(ctx), ["*.txt"], allow_wildcards=False)
    assert src.path == str(ctx / "*.txt")


# ---------------------------------------------------------------------------
# where things land

def test_trailing_slash_means_a_directory(ctx, root):
    copy(ctx, root, ["a.txt"], "/app/")
    assert (root / "app/a.txt").read_bytes() == b"a"
    assert meta(root / "app") == (0o755, 0, 0)


def test_no_trailing_slash_writes_at_the_path(ctx, root):
    copy(ctx, root, ["a.txt"], "/opt/deep/renamed")
    assert (root / "opt/deep/renamed").read_bytes() == b"a"
    assert meta(root / "opt") == meta(root / "opt/deep") == (0o755, 0, 0)


def test_an_existing_directory_receives_the_file(ctx, root):
    copy(ctx, root, ["a.txt"], "/srv")
    assert (root / "srv/a.txt").read_bytes() == b"a"


def test_an_existing_file_is_replaced(ctx, root):
    (root / "srv/a.txt").write_bytes(b"old, longer content")
    copy(ctx, root, ["a.txt"], "/srv/a.txt")
    assert (root / "srv/a.txt").read_bytes() == b"a"


@pytest.mark.parametrize("workdir, dest, where", [
    ("/work", "rel/", "work/rel/a.txt"),
    ("/work", "rel", "work/rel"),
    ("/work", ".", "work/a.txt"),
    ("/work", "./", "work/a.txt"),
    ("/work/sub", "..", "work/a.txt"),
    ("/", "x", "x"),
    ("/work", "/abs/", "abs/a.txt"),
])
def test_relative_destinations_are_relative_to_the_workdir(ctx, root, workdir, dest, where):
    (root / "work/sub").mkdir(parents=True)
    copy(ctx, root, ["a.txt"], dest, workdir=workdir)
    assert (root / where).read_bytes() == b"a"


def test_several_sources_need_a_directory_destination(ctx, root):
    for patterns in (["a.txt", "b.txt"], ["*.txt"]):
        with pytest.raises(InvalidArgument) as err:
            copy(ctx, root, patterns, "/app")
        assert err.value.message == ("When using COPY with more than one source file, "
                                     "the destination must be a directory and end with a /")
    with pytest.raises(InvalidArgument, match="When using ADD with"):
        copy(ctx, root, ["a.txt", "b.txt"], "/app", kind="ADD")
    copy(ctx, root, ["a*.txt"], "/one")  # a wildcard with one match is one source
    assert (root / "one").read_bytes() == b"a"
    copy(ctx, root, ["a.txt", "b.txt"], ".", workdir="/srv")
    copy(ctx, root, ["a.txt", "b.txt"], "/multi/.")
    assert sorted(os.listdir(root / "multi")) == ["a.txt", "b.txt"]
    with pytest.raises(InvalidArgument, match="no source files were specified"):
        copy_into([], str(root), "/x")


def test_a_directory_copies_its_contents(ctx, root):
    copy(ctx, root, ["sub"], "/app")
    assert sorted(os.listdir(root / "app")) == ["deep", "x.txt", "y.md"]
    assert (root / "app/deep/z.txt").read_bytes() == b"z"
    copy(ctx, root, ["."], "/all/")
    assert sorted(os.listdir(root / "all")) == [".hidden", "a.txt", "b.txt", "run.sh", "sub"]


def test_a_directory_merges_into_an_existing_one(ctx, root):
    (root / "srv/deep").mkdir()
    (root / "srv/deep/keep").write_bytes(b"k")
    (root / "srv/x.txt").write_bytes(b"old")
    os.chown(root / "srv", 77, 77)
    os.chmod(root / "srv", 0o700)
    copy(ctx, root, ["sub"], "/srv")
    assert (root / "srv/deep/keep").read_bytes() == b"k"
    assert (root / "srv/x.txt").read_bytes() == b"x"
    assert meta(root / "srv") == (0o700, 77, 77)  # the destination keeps its metadata
    assert meta(root / "srv/deep") == (0o755, 0, 0)  # a merged subdirectory takes the source's


def test_a_directory_onto_a_file_is_an_error(ctx, root):
    (root / "app").write_bytes(b"file")
    with pytest.raises(InvalidArgument) as err:
        copy(ctx, root, ["sub"], "/app")
    assert err.value.message == "cannot copy to non-directory: /app"
    (root / "srv/deep").write_bytes(b"file")
    with pytest.raises(InvalidArgument, match="cannot copy to non-directory: /srv/deep"):
        copy(ctx, root, ["sub"], "/srv")


def test_a_file_onto_a_directory_inside_the_destination_is_an_error(ctx, root):
    (root / "srv/a.txt").mkdir()
    with pytest.raises(InvalidArgument) as err:
        copy(ctx, root, ["a.txt"], "/srv/")
    assert err.value.message == "cannot replace to directory /srv/a.txt with file"


def test_a_file_destination_under_a_file_is_an_error(ctx, root):
    (root / "plain").write_bytes(b"file")
    with pytest.raises(InvalidArgument, match="mkdir /plain: not a directory"):
        copy(ctx, root, ["a.txt"], "/plain/")
    with pytest.raises(InvalidArgument, match="mkdir /plain: not a directory"):
        copy(ctx, root, ["a.txt"], "/plain/x/y")


# ---------------------------------------------------------------------------
# the destination image is hostile

@pytest.mark.parametrize("target", ["/", "../../../..", "/../..", "etc/../../.."])
def test_a_destination_symlink_cannot_lead_out_of_the_root(tmp_path, ctx, root, target):
    before = outside(tmp_path)
    os.symlink(target, root / "escape")
    copy(ctx, root, ["a.txt"], "/escape/")
    copy(ctx, root, ["sub"], "/escape/tree")
    copy(ctx, root, ["b.txt"], "/escape/../../b-copy")
    assert (root / "a.txt").read_bytes() == b"a"
    assert (root / "tree/x.txt").read_bytes() == b"x"
    assert (root / "b-copy").read_bytes() == b"bb"
    assert outside(tmp_path) == before
    assert (tmp_path / "sentinel").read_bytes() == b"keep"


def test_a_destination_symlink_inside_the_root_is_followed(ctx, root):
    os.symlink("/srv", root / "app")
    copy(ctx, root, ["a.txt"], "/app")
    assert (root / "srv/a.txt").read_bytes() == b"a"
    assert os.path.islink(root / "app")


def test_a_symlink_at_the_final_name_is_replaced_not_written_through(tmp_path, ctx, root):
    os.symlink(str(tmp_path / "sentinel"), root / "srv/a.txt")
    copy(ctx, root, ["a.txt"], "/srv/")
    assert not os.path.islink(root / "srv/a.txt")
    assert (tmp_path / "sentinel").read_bytes() == b"keep"


def test_a_symlink_in_the_way_of_a_directory_source_is_an_error(tmp_path, ctx, root):
    os.symlink(str(tmp_path), root / "srv/deep")
    with pytest.raises(InvalidArgument, match="cannot copy to non-directory: /srv/deep"):
        copy(ctx, root, ["sub"], "/srv")
    assert not (tmp_path / "z.txt").exists()


# ---------------------------------------------------------------------------
# what a copy carries

def test_modes_and_times_are_kept_owners_reset(ctx, root):
    os.chmod(ctx / "sub/x.txt", 0o4751)
    os.utime(ctx / "sub/x.txt", (MTIME, MTIME))
    copy(ctx, root, ["sub", "run.sh"], "/app/")
    assert meta(root / "app/x.txt") == (0o4751, 0, 0)
    assert meta(root / "app/run.sh") == (0o755, 0, 0)
    assert os.stat(root / "app/x.txt").st_mtime == MTIME
    assert os.stat(root / "app/deep").st_mtime == MTIME  # set after its children were written


def test_symlinks_inside_a_directory_are_copied_as_links(tmp_path, ctx, root):
    os.symlink("/etc/shadow", ctx / "sub/abs")
    os.symlink("../../..", ctx / "sub/up")
    os.lchown(ctx / "sub/abs", 1234, 1234)
    copy(ctx, root, ["sub"], "/app")
    assert os.readlink(root / "app/abs") == "/etc/shadow"
    assert os.readlink(root / "app/up") == "../../.."
    assert os.lstat(root / "app/abs").st_uid == 0


def test_hard_links_within_a_copy_are_kept(ctx, root):
    os.link(ctx / "sub/x.txt", ctx / "sub/deep/x-again")
    copy(ctx, root, ["sub"], "/app")
    assert os.stat(root / "app/x.txt").st_ino == os.stat(root / "app/deep/x-again").st_ino


def test_fifos_and_devices_are_recreated_sockets_left_out(ctx, root):
    os.mkfifo(ctx / "sub/fifo", 0o640)
    os.mknod(ctx / "sub/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(ctx / "sub/sock"))
        copy(ctx, root, ["sub"], "/app")
    assert stat.S_ISFIFO(os.lstat(root / "app/fifo").st_mode) and meta(root / "app/fifo") == (0o640, 0, 0)
    assert os.lstat(root / "app/null").st_rdev == os.makedev(1, 3)
    assert not os.path.lexists(root / "app/sock")


def test_extended_attributes_are_copied(ctx, root):
    try:
        os.setxattr(ctx / "a.txt", "user.origin", b"ctx")
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    copy(ctx, root, ["a.txt"], "/app/")
    assert os.getxattr(root / "app/a.txt", "user.origin") == b"ctx"


def test_a_stage_source_keeps_its_owners(ctx, root):
    copy(ctx, root, ["sub"], "/app", origin=Origin.STAGE)
    assert meta(root / "app/x.txt") == (0o644, 1234, 1234)
    assert meta(root / "app/deep")[1:] == (1234, 1234)
    assert meta(root / "app") == (0o755, 0, 0)  # created by the copy, not copied


def test_chown_owns_copies_and_created_parents_not_existing_ones(ctx, root):
    os.chown(root / "srv", 5, 5)
    copy(ctx, root, ["sub"], "/srv/new/app", owner=(1000, 1001))
    for path in ("srv/new", "srv/new/app", "srv/new/app/x.txt", "srv/new/app/deep/z.txt"):
        assert meta(root / path)[1:] == (1000, 1001), path
    assert meta(root / "srv")[1:] == (5, 5)
    copy(ctx, root, ["a.txt"], "/srv/", owner=(7, 8), origin=Origin.STAGE)
    assert meta(root / "srv/a.txt")[1:] == (7, 8)


def test_chmod_applies_to_copies_not_to_created_parents(ctx, root):
    copy(ctx, root, ["sub"], "/p/app", chmod=parse_chmod("0640"))
    assert meta(root / "p")[0] == 0o755
    assert meta(root / "p/app")[0] == meta(root / "p/app/deep")[0] == meta(root / "p/app/x.txt")[0] == 0o640
    copy(ctx, root, ["run.sh", "a.txt"], "/q/", chmod=parse_chmod("u=rwX,go=rX"))
    assert meta(root / "q/run.sh")[0] == 0o755 and meta(root / "q/a.txt")[0] == 0o644


# ---------------------------------------------------------------------------
# --chmod and --chown

@pytest.mark.parametrize("text, before, after", [
    ("755", 0o100600, 0o755),
    ("0644", 0o100755, 0o644),
    ("4755", 0o100600, 0o4755),
    ("+x", 0o100644, 0o755),
    ("u+x", 0o100644, 0o744),
    ("go-w", 0o100666, 0o644),
    ("u=rwX,go=rX", 0o100600, 0o644),
    ("u=rwX,go=rX", 0o100700, 0o755),
    ("u=rwX,go=rX", 0o040700, 0o755),
    ("a=r", 0o100777, 0o444),
    ("g=u", 0o100640, 0o660),
    ("o=g,u-w", 0o100750, 0o555),
    ("u+s", 0o100755, 0o4755),
    ("o+s", 0o100755, 0o755),
    ("+t", 0o040755, 0o1755),
    ("=", 0o100755, 0o000),
])
def test_chmod_forms(text, before, after):
    assert parse_chmod(text).apply(before) == after


@pytest.mark.parametrize("text", ["888", "17777", "0o755", "7 55"])
def test_chmod_bad_octal_values(text):
    with pytest.raises(InvalidArgument) as err:
        parse_chmod(text)
    assert err.value.message == (f"invalid chmod parameter: '{text}'. "
                                 "it should be octal string and between 0 and 07777")


@pytest.mark.parametrize("text", ["abc", "u=rg", "", "u+x,", "x", "u+x;"])
def test_chmod_bad_symbolic_values(text):
    with pytest.raises(InvalidArgument, match="invalid syntax"):
        parse_chmod(text)


@pytest.mark.parametrize("spec, ids", [
    ("1000", (1000, 1000)),
    ("4242", (4242, 4242)),
    ("app", (1000, 1001)),
    ("app:staff", (1000, 50)),
    ("app:42", (1000, 42)),
    ("1000:staff", (1000, 50)),
    ("7:8", (7, 8)),
    ("root", (0, 0)),
    ("root:staff", (0, 50)),
    ("app:root", (1000, 0)),
    ("app:", (1000, 1001)),
    (":50", (0, 50)),
])
def test_chown_specs(root, spec, ids):
    assert parse_chown(spec, str(root)) == ids


def test_chown_errors(root):
    with pytest.raises(InvalidArgument) as err:
        parse_chown("appuser", str(root))
    assert err.value.message == "unable to find user appuser: no matching entries in passwd file"
    with pytest.raises(InvalidArgument, match="unable to find group nogroup: no matching entries in group file"):
        parse_chown("app:nogroup", str(root))
    for spec in ("4294967295", "1:4294967295"):
        with pytest.raises(InvalidArgument, match="uids and gids must be in range"):
            parse_chown(spec, str(root))
    with pytest.raises(InvalidArgument, match="invalid chown string format: a:b:c"):
        parse_chown("a:b:c", str(root))
    os.unlink(root / "etc/passwd")
    with pytest.raises(InvalidArgument, match="unable to find user app"):
        parse_chown("app", str(root))
    assert parse_chown("1000", str(root)) == (1000, 1000)  # numbers need no lookup


def test_chown_reads_the_image_files_inside_its_root(tmp_path, root):
    (tmp_path / "fake-passwd").write_text("app:x:666:666::/:/bin/sh\n")
    os.unlink(root / "etc/passwd")
    os.symlink(str(tmp_path / "fake-passwd"), root / "etc/passwd")  # resolves to <root>/<tmp>/fake-passwd
    with pytest.raises(InvalidArgument, match="unable to find user app"):
        parse_chown("app", str(root))
    os.unlink(root / "etc/passwd")
    os.mkfifo(root / "etc/passwd")  # must not block
    with pytest.raises(InvalidArgument, match="unable to find user app"):
        parse_chown("app", str(root))


# ---------------------------------------------------------------------------
# heredocs

def test_heredoc_sources(root):
    copy_into([Source.inline("greeting", "hello\n")], str(root), "/app/")
    assert (root / "app/greeting").read_bytes() == b"hello\n"
    assert meta(root / "app/greeting") == (0o644, 0, 0)
    doc = InlineFile("EOF", "raw $X\n")
    copy_into([inline_source(doc, "expanded\n")], str(root), "/etc/motd", owner=(5, 6),
              chmod=parse_chmod("600"))
    assert (root / "etc/motd").read_bytes() == b"expanded\n"
    assert meta(root / "etc/motd") == (0o600, 5, 6)
    assert inline_source(doc).data == b"raw $X\n"


def test_heredocs_mix_with_files(ctx, root):
    sources = resolve_sources(str(ctx), ["a.txt"]) + [Source.inline("EOF", b"doc")]
    with pytest.raises(InvalidArgument, match="more than one source"):
        copy_into(sources, str(root), "/app")
    copy_into(sources, str(root), "/app/")
    assert sorted(os.listdir(root / "app")) == ["EOF", "a.txt"]


# ---------------------------------------------------------------------------
# ADD: archives

def _archives(tmp_path) -> dict[str, bytes]:
    plain = tar_bytes(("dir", "pkg"), ("file", "pkg/bin", b"binary", 0o755), ("symlink", "pkg/link", "bin"))
    return {"plain": plain, "gzip": gzip.compress(plain), "bzip2": bz2.compress(plain), "xz": lzma.compress(plain)}


@pytest.mark.parametrize("kind", ["plain", "gzip", "bzip2", "xz"])
def test_add_unpacks_local_archives_by_content(tmp_path, ctx, root, kind):
    (ctx / "release.bin").write_bytes(_archives(tmp_path)[kind])  # the name says nothing
    assert is_archive(str(ctx / "release.bin"))
    copy(ctx, root, ["release.bin"], "/opt/", unpack=True, kind="ADD")
    assert (root / "opt/pkg/bin").read_bytes() == b"binary"
    assert meta(root / "opt/pkg/bin") == (0o755, 1000, 1000)  # owners from the archive
    assert os.readlink(root / "opt/pkg/link") == "bin"
    assert meta(root / "opt")[1:] == (0, 0)


def test_add_unpacks_into_a_destination_without_slash_and_chowns(tmp_path, ctx, root):
    (ctx / "a.tgz").write_bytes(_archives(tmp_path)["gzip"])
    copy(ctx, root, ["a.tgz"], "/opt/dir", unpack=True, owner=(5, 6))
    assert meta(root / "opt/dir/pkg/bin") == (0o755, 5, 6)
    assert meta(root / "opt/dir")[1:] == (5, 6)


def test_copy_and_non_archives_are_not_unpacked(tmp_path, ctx, root):
    (ctx / "a.tar.gz").write_bytes(b"")
    (ctx / "b.tar").write_bytes(b"not a tar at all" * 100)
    (ctx / "c.tar").write_bytes(_archives(tmp_path)["plain"])
    (ctx / "zeros.tar").write_bytes(b"\0" * 2048)
    for name in ("a.tar.gz", "b.tar", "zeros.tar"):
        assert not is_archive(str(ctx / name))
    copy(ctx, root, ["a.tar.gz", "b.tar", "zeros.tar"], "/add/", unpack=True)
    assert sorted(os.listdir(root / "add")) == ["a.tar.gz", "b.tar", "zeros.tar"]
    copy(ctx, root, ["c.tar"], "/copy/")
    assert (root / "copy/c.tar").read_bytes() == _archives(tmp_path)["plain"]
    assert not is_archive(str(ctx / "sub"))


@pytest.mark.parametrize("entries", [
    [("file", "../evil", b"x")],
    [("file", "a/../../evil", b"x")],
    [("file", "ok", b"x"), ("hardlink", "h", "../../sentinel")],
])
def test_hostile_archives_are_refused(tmp_path, ctx, root, entries):
    before = outside(tmp_path)
    (ctx / "evil.tar").write_bytes(tar_bytes(*entries))
    with pytest.raises(InvalidArgument):
        copy(ctx, root, ["evil.tar"], "/opt/", unpack=True)
    assert outside(tmp_path) == before
    assert (tmp_path / "sentinel").read_bytes() == b"keep"


def test_archive_links_cannot_carry_writes_out(tmp_path, ctx, root):
    before = outside(tmp_path)
    entries = [("symlink", "up", "/"), ("symlink", "rel", "../../../.."), ("file", "up/from-abs", b"1"),
               ("file", "rel/from-rel", b"2"), ("file", "/absolute", b"3")]
    (ctx / "links.tar").write_bytes(tar_bytes(*entries))
    copy(ctx, root, ["links.tar"], "/opt/", unpack=True)
    assert (root / "from-abs").read_bytes() == b"1"
    assert (root / "from-rel").read_bytes() == b"2"
    assert (root / "opt/absolute").read_bytes() == b"3"
    assert outside(tmp_path) == before


# ---------------------------------------------------------------------------
# ADD: downloads

class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802 - http.server's naming
        status, headers, body = self.routes.get(self.path, (404, {}, b"no"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server: set routes on it as {path: (status, headers, body)}."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"routes": {}}))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.routes = httpd.RequestHandlerClass.routes
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_download_named_after_the_url_with_last_modified(tmp_path, root, server):
    server.routes["/files/tool.sh?x=1"] = (200, {"Last-Modified": formatdate(MTIME, usegmt=True)}, b"echo hi")
    src = fetch_url(server.base + "/files/tool.sh?x=1", str(tmp_path))
    assert (src.name, src.origin) == ("tool.sh", Origin.URL)
    copy_into([src], str(root), "/usr/local/bin/")
    got = root / "usr/local/bin/tool.sh"
    assert got.read_bytes() == b"echo hi"
    assert meta(got) == (0o600, 0, 0)
    assert os.stat(got).st_mtime == MTIME
    copy_into([src], str(root), "/renamed")
    assert (root / "renamed").read_bytes() == b"echo hi"


def test_download_without_a_name(tmp_path, server):
    server.routes["/"] = (200, {}, b"index")
    server.routes["/dl/"] = (200, {"Content-Disposition": 'attachment; filename="report.csv"'}, b"a,b")
    src = fetch_url(server.base + "/", str(tmp_path))
    assert src.name == "__unnamed__"
    assert os.stat(src.path).st_mtime == 0  # no Last-Modified: the epoch
    assert fetch_url(server.base + "/dl/", str(tmp_path)).name == "report.csv"


def test_download_checksum(tmp_path, server):
    body = b"payload"
    server.routes["/p"] = (200, {}, body)
    good = "sha256:" + hashlib.sha256(body).hexdigest()
    assert open(fetch_url(server.base + "/p", str(tmp_path), good).path, "rb").read() == body
    bad = "sha256:" + "0" * 64
    with pytest.raises(InvalidArgument) as err:
        fetch_url(server.base + "/p", str(tmp_path), bad)
    assert err.value.message == f"digest mismatch for {server.base}/p: {good} (expected: {bad})"
    with pytest.raises(InvalidArgument, match="unsupported digest algorithm"):
        fetch_url(server.base + "/p", str(tmp_path), "md5:abc")


def test_download_failures(tmp_path, server):
    with pytest.raises(InvalidArgument, match="^invalid response status 404$"):
        fetch_url(server.base + "/missing", str(tmp_path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(Unavailable):
        fetch_url(f"http://127.0.0.1:{closed_port}/x", str(tmp_path), timeout=5)
    with pytest.raises(InvalidArgument, match="unsupported URL scheme"):
        fetch_url("file:///etc/passwd", str(tmp_path))


def test_downloaded_archives_are_unpacked_only_when_asked(tmp_path, root, server):
    server.routes["/a.tar.gz"] = (200, {}, _archives(tmp_path)["gzip"])
    src = fetch_url(server.base + "/a.tar.gz", str(tmp_path))
    copy_into([src], str(root), "/dl/", unpack=True, kind="ADD")
    assert os.listdir(root / "dl") == ["a.tar.gz"]
    copy_into([src], str(root), "/x/", unpack=True, unpack_urls=True, kind="ADD")
    assert (root / "x/pkg/bin").read_bytes() == b"binary"


# ---------------------------------------------------------------------------
# the cache key

def test_digest_kinds(ctx):
    one = sources_digest(resolve_sources(str(ctx), ["a.txt"]))
    tree = sources_digest(resolve_sources(str(ctx), ["sub"]))
    digest, description = sources_digest(resolve_sources(str(ctx), ["a.txt", "sub"]))
    assert one.description == "file:" + one.digest and len(one.digest) == 64
    assert tree.description == "dir:" + tree.digest
    joined = f"{one.description},{tree.description}"
    assert (digest, description) == (hashlib.sha256(joined.encode()).hexdigest(), "multi:" + digest)
    assert sources_digest([Source.inline("EOF", "x")]).description.startswith("file:")
    with pytest.raises(ValueError):
        sources_digest([])


def test_digest_ignores_times_but_not_content_mode_names_or_links(ctx):
    def key():
        return sources_digest(resolve_sources(str(ctx), ["sub", "a.txt"]))

    first = key()
    os.utime(ctx / "sub/x.txt", (1, 1))
    os.utime(ctx / "sub/deep", (2, 2))
    assert key() == first
    seen = {first}

    def changes(action):
        action()
        now = key()
        assert now not in seen
        seen.add(now)

    changes(lambda: (ctx / "sub/x.txt").write_bytes(b"X"))
    changes(lambda: os.chmod(ctx / "sub/x.txt", 0o600))
    changes(lambda: os.rename(ctx / "sub/x.txt", ctx / "sub/x2.txt"))
    changes(lambda: (ctx / "sub/deep/new").write_bytes(b""))
    changes(lambda: os.symlink("a", ctx / "sub/l"))
    changes(lambda: (os.unlink(ctx / "sub/l"), os.symlink("b", ctx / "sub/l")))
    changes(lambda: (ctx / "a.txt").write_bytes(b"A"))
    changes(lambda: os.mkdir(ctx / "sub/empty"))


def test_digest_owners_count_only_for_stage_sources(ctx):
    def key(origin):
        return sources_digest(resolve_sources(str(ctx), ["sub"], origin=origin))

    context, stage = key(Origin.CONTEXT), key(Origin.STAGE)
    os.chown(ctx / "sub/x.txt", 1, 1)
    assert key(Origin.CONTEXT) == context
    assert key(Origin.STAGE) != stage


def test_digest_names_the_single_file_but_not_a_directory(ctx):
    (ctx / "copy.txt").write_bytes(b"a")
    os.utime(ctx / "copy.txt", (MTIME, MTIME))
    os.chown(ctx / "copy.txt", 1234, 1234)
    a = sources_digest(resolve_sources(str(ctx), ["a.txt"]))
    assert sources_digest(resolve_sources(str(ctx), ["copy.txt"])) != a  # lands under another name
    (ctx / "other/sub").mkdir(parents=True)
    for name in ("x.txt", "y.md", "deep/z.txt"):
        os.makedirs(os.path.dirname(ctx / "other/sub" / name), exist_ok=True)
        (ctx / "other/sub" / name).write_bytes((ctx / "sub" / name).read_bytes())
    assert sources_digest(resolve_sources(str(ctx), ["other/sub"])) == \
        sources_digest(resolve_sources(str(ctx), ["sub"]))


def test_digest_and_copy_honour_exclusions(ctx, root):
    def no_markdown(rel):
        return rel.endswith(".md") or rel == "deep"

    sources = resolve_sources(str(ctx), ["sub"])
    key = sources_digest(sources, no_markdown)
    (ctx / "sub/y.md").write_bytes(b"changed")
    (ctx / "sub/deep/z.txt").write_bytes(b"changed")
    assert sources_digest(sources, no_markdown) == key
    copy_into(sources, str(root), "/app", exclude=no_markdown)
    assert os.listdir(root / "app") == ["x.txt"]


def test_digest_streams_many_files_quickly(tmp_path):
    big = tmp_path / "big"
    for d in range(20):
        (big / f"d{d}").mkdir(parents=True)
        for f in range(150):
            (big / f"d{d}/f{f}").write_bytes(b"%d-%d" % (d, f))
    (big / "large").write_bytes(os.urandom(8 << 20))
    start = time.monotonic()
    key = sources_digest(resolve_sources(str(big), ["."]))
    assert time.monotonic() - start < 5
    assert key == sources_digest(resolve_sources(str(big), ["."]))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_copy_failures_are_kinds_not_os_errors(ctx, tmp_path):
    # A real full filesystem: a 256 KiB tmpfs as the stage's root.
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=True)
    try:
        (ctx / "big").write_bytes(os.urandom(1 << 20))
        with pytest.raises(SystemError, match="failed to copy files: No space left on device"):
            copy(ctx, small, ["big"], "/app/")
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_large_and_empty_files_are_copied_whole(ctx, root):
    data = os.urandom((8 << 20) * 2 + 12345)
    (ctx / "large").write_bytes(data)
    (ctx / "empty").write_bytes(b"")
    copy(ctx, root, ["large", "empty"], "/app/")
    assert (root / "app/large").read_bytes() == data
    assert (root / "app/empty").read_bytes() == b""
