from dockyard.compose.merge import merge_files


def svc(**kw):
    return {"services": {"web": kw}}


def merged(base, override):
    return merge_files(svc(**base), svc(**override))["services"]["web"]


def test_mappings_merge_key_by_key():
    assert merged({"environment": {"A": "1", "B": "2"}}, {"environment": {"B": "3", "C": "4"}}) == \
        {"environment": {"A": "1", "B": "3", "C": "4"}}


def test_command_entrypoint_and_healthcheck_test_are_replaced():
    out = merged({"command": ["a", "b"], "entrypoint": ["x"], "healthcheck": {"test": ["CMD", "a"], "retries": 3}},
                 {"command": ["c"], "entrypoint": ["y", "z"], "healthcheck": {"test": ["CMD", "b"]}})
    assert out == {"command": ["c"], "entrypoint": ["y", "z"], "healthcheck": {"test": ["CMD", "b"], "retries": 3}}


def test_sequences_are_appended_without_repeats():
    assert merged({"dns": ["1.1.1.1"], "ports": [{"target": 80}]},
                  {"dns": ["8.8.8.8", "1.1.1.1"], "ports": [{"target": 80}, {"target": 81}]}) == \
        {"dns": ["1.1.1.1", "8.8.8.8"], "ports": [{"target": 80}, {"target": 81}]}


def test_volumes_merge_by_target():
    out = merged({"volumes": [{"type": "volume", "source": "foo", "target": "/work"},
                              {"type": "volume", "target": "/keep"}]},
                 {"volumes": [{"type": "volume", "source": "bar", "target": "/work"}]})
    assert out["volumes"] == [{"type": "volume", "source": "bar", "target": "/work"},
                              {"type": "volume", "target": "/keep"}]


def test_top_level_volumes_merge_as_mappings():
    out = merge_files({"volumes": {"a": {}}}, {"volumes": {"a": {"driver": "local"}, "b": {}}})
    assert out["volumes"] == {"a": {"driver": "local"}, "b": {}}


def test_inputs_are_not_modified():
    base = svc(environment={"A": "1"})
    merge_files(base, svc(environment={"A": "2"}))
    assert base == svc(environment={"A": "1"})


def test_scalars_are_replaced_and_new_services_added():
    out = merge_files(svc(image="a"), {"services": {"web": {"image": "b"}, "db": {"image": "c"}}})
    assert out["services"] == {"web": {"image": "b"}, "db": {"image": "c"}}
