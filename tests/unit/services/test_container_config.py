import pytest

from dockyard.errors import InvalidArgument
from dockyard.services import container_config as cc

IMAGE = {"config": {"Entrypoint": ["/entry"], "Cmd": ["default"], "Env": ["A=1", "PATH=/img"],
                    "WorkingDir": "/w", "User": "app", "Labels": {"from": "image"}}}


def argv(request):
    return cc.command_line(cc.merge_config(request, IMAGE))


@pytest.mark.parametrize("request_, expected", [
    ({}, ["/entry", "default"]),  # image ENTRYPOINT + CMD
    ({"Cmd": ["x", "y"]}, ["/entry", "x", "y"]),  # arguments replace CMD
    ({"Entrypoint": ["/other"]}, ["/other"]),  # a new entrypoint drops the image's CMD
    ({"Entrypoint": ["/other"], "Cmd": ["z"]}, ["/other", "z"]),
    ({"Entrypoint": [""], "Cmd": ["sh"]}, ["sh"]),  # --entrypoint "" clears it
    ({"Entrypoint": [""]}, []),  # … and then nothing is left to run
])
def test_entrypoint_and_cmd_as_docker(request_, expected):
    assert argv(request_) == expected


def test_env_labels_workdir_user_merge():
    cfg = cc.merge_config({"Env": ["A=2", "B=3"], "Labels": {"mine": "1"}}, IMAGE)
    assert cfg["Env"] == ["A=2", "PATH=/img", "B=3"]
    assert cfg["Labels"] == {"from": "image", "mine": "1"}
    assert cfg["WorkingDir"] == "/w" and cfg["User"] == "app"
    with pytest.raises(InvalidArgument, match="needs to be an absolute path"):
        cc.merge_config({"WorkingDir": "rel"}, {})


def test_host_config_validation():
    assert cc.validate_host_config({})["NetworkMode"] == "bridge"
    for bad, message in [
        ({"Memory": 100}, "Minimum memory limit"),
        ({"Memory": 10 << 20, "MemorySwap": 5 << 20}, "memoryswap limit"),
        ({"NanoCpus": 10**15}, "Range of CPUs"),
        ({"Runtime": "kata"}, "unknown or invalid runtime"),
        ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy"),
        ({"AutoRemove": True, "RestartPolicy": {"Name": "always"}}, "AutoRemove"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            cc.validate_host_config(bad)


def test_names_and_signals():
    assert cc.validate_name("/web-1.a_b") == "web-1.a_b"
    with pytest.raises(InvalidArgument, match="Invalid container name"):
        cc.validate_name("bad name")
    assert cc.parse_signal("SIGKILL") == 9 and cc.parse_signal("term") == 15 and cc.parse_signal("10") == 10
    with pytest.raises(InvalidArgument, match="Invalid signal: NOPE"):
        cc.parse_signal("NOPE")


def test_old_data_roots_get_new_columns(tmp_path):
    from dockyard.metadata.db import Database
    from dockyard.services.container_state import COLUMNS_ADDED

    db = Database(str(tmp_path / "m.db"))
    db.ensure_schema("CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO containers VALUES ('a', 'old')")
    db.ensure_columns("containers", COLUMNS_ADDED)
    db.ensure_columns("containers", COLUMNS_ADDED)  # idempotent
    assert db.query_one("SELECT mounts FROM containers WHERE id='a'")["mounts"] == "[]"
