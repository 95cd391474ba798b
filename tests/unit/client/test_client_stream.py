"""Demultiplexing docker's stdout/stderr frames, and JSON lines."""

from dockyard.client.stream import STDERR, STDOUT, Demultiplexer, demultiplex, frame, json_lines


def test_frame_header_layout():
    assert frame(STDERR, b"hi") == b"\x02\x00\x00\x00\x00\x00\x00\x02hi"


def test_whole_frames():
    data = frame(STDOUT, b"out\n") + frame(STDERR, b"err\n")
    assert list(demultiplex([data])) == [(STDOUT, b"out\n"), (STDERR, b"err\n")]


def test_frames_split_at_every_byte():
    data = frame(STDOUT, b"hello") + frame(STDERR, b"") + frame(STDERR, b"world")
    pieces = list(demultiplex([data[i:i + 1] for i in range(len(data))]))
    out = b"".join(p for s, p in pieces if s == STDOUT)
    err = b"".join(p for s, p in pieces if s == STDERR)
    assert (out, err) == (b"hello", b"world")


def test_payload_is_passed_on_before_the_frame_completes():
    decoder = Demultiplexer()
    data = frame(STDOUT, b"abcdef")
    assert decoder.feed(data[:10]) == [(STDOUT, b"ab")]
    assert decoder.pending
    assert decoder.feed(data[10:]) == [(STDOUT, b"cdef")]
    assert not decoder.pending


def test_large_payload_length_is_big_endian():
    payload = b"x" * 70000
    assert b"".join(p for _, p in demultiplex([frame(STDOUT, payload)])) == payload


def test_json_lines_skip_blanks_and_split_concatenated_objects():
    lines = [b'{"status":"a"}\n', b"\n", b'{"status":"b"}{"status":"c"}\r\n']
    assert [m["status"] for m in json_lines(lines)] == ["a", "b", "c"]
