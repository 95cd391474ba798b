import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime import capabilities as caps


def test_default_set_is_dockers():
    assert caps.mask(caps.effective_set([], [], False)) == 0xA80425FB


def test_add_and_drop_with_any_spelling():
    got = caps.effective_set(["net_admin", "CAP_SYS_TIME"], ["chown"], False)
    assert "CAP_NET_ADMIN" in got and "CAP_SYS_TIME" in got and "CAP_CHOWN" not in got


def test_drop_all_then_add():
    assert caps.effective_set(["KILL"], ["ALL"], False) == ["CAP_KILL"]


def test_privileged_and_add_all_mean_what_we_hold():
    held = caps.host_bounding_set()
    everything = caps.effective_set([], [], True)
    assert caps.mask(everything) == held & ((1 << (caps.last_cap() + 1)) - 1)
    assert caps.effective_set(["ALL"], [], False) == everything


def test_unknown_capability():
    with pytest.raises(InvalidArgument):
        caps.effective_set(["NOT_A_CAP"], [], False)
