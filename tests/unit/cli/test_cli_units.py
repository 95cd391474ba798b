"""go-units printing and parsing."""

import pytest

from dockyard.cli import units


@pytest.mark.parametrize("seconds,text", [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (59 * 60, "59 minutes"),
    (3600, "About an hour"), (90 * 60, "2 hours"), (47 * 3600, "47 hours"),
    (48 * 3600, "2 days"), (13 * 86400, "13 days"), (14 * 86400, "2 weeks"),
    (59 * 86400, "8 weeks"), (60 * 86400, "2 months"), (729 * 86400, "24 months"),
    (730 * 86400, "2 years"),
])
def test_human_duration(seconds, text):
    assert units.human_duration(seconds) == text


def test_since():
    assert units.since(1000, now=1002) == "2 seconds ago"


@pytest.mark.parametrize("size,text", [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (4_260_000, "4.26MB"), (1_234_567_890, "1.23GB"),
    (999_500, "1e+03kB"), (12_345, "12.3kB"),
])
def test_human_size(size, text):
    assert units.human_size(size) == text


def test_human_size_precision_four_for_prune_totals():
    assert units.human_size(1_234_567, 4) == "1.235MB"


def test_bytes_size():
    assert units.bytes_size(16 * 1024 ** 3) == "16GiB"
    assert units.bytes_size(1536) == "1.5KiB"


@pytest.mark.parametrize("text,value", [
    ("32m", 32 << 20), ("1g", 1 << 30), ("512k", 512 << 10), ("1024", 1024), ("1.5g", 3 << 29),
    ("64MB", 64 << 20), ("2GiB", 2 << 30), ("10 m", 10 << 20),
])
def test_ram_in_bytes(text, value):
    assert units.ram_in_bytes(text) == value


@pytest.mark.parametrize("text", ["foo", "", "-1", "1x", "m"])
def test_ram_in_bytes_rejects(text):
    with pytest.raises(ValueError, match="invalid size"):
        units.ram_in_bytes(text)


def test_memory_swap_unlimited():
    assert units.mem_swap_bytes("-1") == -1


@pytest.mark.parametrize("text,value", [("1.5", 1_500_000_000), ("2", 2_000_000_000),
                                        ("0.000000001", 1)])
def test_nano_cpus(text, value):
    assert units.nano_cpus(text) == value


def test_nano_cpus_errors():
    with pytest.raises(ValueError, match="failed to parse abc as a rational number"):
        units.nano_cpus("abc")
    with pytest.raises(ValueError, match="too precise"):
        units.nano_cpus("0.0000000001")


def test_go_duration():
    assert units.go_duration("1h30m") == 5400
    assert units.go_duration("1.5s") == 1.5
    assert units.go_duration("0") == 0
    with pytest.raises(ValueError):
        units.go_duration("10")


def test_timestamp_forms():
    assert units.timestamp("1700000000") == "1700000000"
    assert units.timestamp("10m", now=1000.5) == "400.500000000"
    assert units.timestamp("2023-11-14T22:13:20Z") == "1700000000.000000000"
    with pytest.raises(ValueError):
        units.timestamp("yesterday")
