"""Detach keys and the I/O pump over a socket pair."""

import io
import os
import socket

import pytest

from dockyard.cli.terminal import DETACHED, ENDED, _DetachWatcher, parse_detach_keys, pump
from dockyard.client.stream import STDERR, STDOUT, frame


def test_parse_detach_keys():
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-[") == b"a\x00\x1b"
    with pytest.raises(ValueError, match="Invalid detach keys"):
        parse_detach_keys("ctrl-pp")


def test_watcher_holds_a_prefix_until_it_knows():
    watcher = _DetachWatcher(b"\x10\x11")
    assert watcher.feed(b"ab\x10") == (b"ab", False)
    assert watcher.feed(b"x") == (b"\x10x", False)
    assert watcher.feed(b"\x10") == (b"", False)
    assert watcher.feed(b"\x11rest") == (b"", True)


def test_pump_demultiplexes_until_eof_and_half_closes_on_stdin_eof():
    ours, theirs = socket.socketpair()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"typed")
    os.close(write_fd)
    theirs.sendall(frame(STDOUT, b"out") + frame(STDERR, b"err"))
    closed = []

    def close_write():
        closed.append(True)
        ours.shutdown(socket.SHUT_WR)
        assert theirs.recv(100) == b"typed"
        theirs.close()

    out, err = io.BytesIO(), io.BytesIO()
    result = pump(ours, frame(STDOUT, b"buffered "), stdin=read_fd, tty=False,
                  stdout=out, stderr=err, close_write=close_write)
    os.close(read_fd)
    assert result == ENDED and closed
    assert out.getvalue() == b"buffered out" and err.getvalue() == b"err"


def test_pump_detaches_on_key_sequence():
    ours, theirs = socket.socketpair()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"ls\x10\x11")
    out = io.BytesIO()
    result = pump(ours, b"", stdin=read_fd, tty=True, stdout=out, stderr=out,
                  detach_keys=b"\x10\x11")
    assert result == DETACHED and theirs.recv(100) == b"ls"
    for fd in (read_fd, write_fd):
        os.close(fd)
