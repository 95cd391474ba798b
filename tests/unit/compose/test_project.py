import pytest

from dockyard.compose import load_project, to_config_yaml
from dockyard.compose.loader import load_file, parse_env_file
from dockyard.compose.project import normalize_project_name
from dockyard.errors import InvalidArgument, NotFound


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("dirname, expected", [
    ("My_App", "my_app"), ("my.app v2", "myappv2"), ("_-x", "x"), ("Ünïcode-1", "ncode-1"),
])
def test_project_name_from_directory(dirname, expected):
    assert normalize_project_name(dirname) == expected


def test_project_name_precedence(tmp_path):
    f = write(tmp_path / "compose.yaml", "name: fromfile\nservices: {a: {image: x}}\n")
    env = {"COMPOSE_PROJECT_NAME": "fromenv"}
    assert load_project([f], env, "explicit").name == "explicit"
    assert load_project([f], env, None).name == "fromenv"
    assert load_project([f], {}, None).name == "fromfile"
    write(tmp_path / "compose.yaml", "services: {a: {image: x}}\n")
    assert load_project([f], {}, None).name == normalize_project_name(tmp_path.name)


def test_invalid_explicit_project_name(tmp_path):
    f = write(tmp_path / "compose.yaml", "services: {a: {image: x}}\n")
    with pytest.raises(InvalidArgument, match="invalid project name 'Bad Name' \\(from -p\\)"):
        load_project([f], {}, "Bad Name")


def test_environment_wins_over_dotenv(tmp_path):
    write(tmp_path / ".env", "TAG=dotenv\n")
    f = write(tmp_path / "compose.yaml", "services: {a: {image: 'x:${TAG}'}}\n")
    assert load_project([f], {}, "p").services["a"]["image"] == "x:dotenv"
    assert load_project([f], {"TAG": "env"}, "p").services["a"]["image"] == "x:env"


def test_override_short_depends_on_keeps_base_options(tmp_path):
    a = write(tmp_path / "a.yaml", "services:\n  db: {image: x}\n  web:\n    image: x\n"
                                   "    depends_on: {db: {condition: service_healthy, restart: true}}\n")
    b = write(tmp_path / "b.yaml", "services:\n  web:\n    depends_on: [db]\n")
    project = load_project([a, b], {}, "p")
    assert project.services["web"]["depends_on"] == {"db": {"condition": "service_healthy", "restart": True}}


def test_network_mode_service_gets_no_default_network(tmp_path):
    f = write(tmp_path / "compose.yaml", "services: {a: {image: x, network_mode: host}}\n")
    project = load_project([f], {}, "p")
    assert "networks" not in project.services["a"]
    assert project.networks == {}
    assert "networks:" not in to_config_yaml(project)


def test_bad_yaml_reports_file_and_line(tmp_path):
    f = write(tmp_path / "compose.yaml", "services:\n  web:\n    image: [unclosed\n\n")
    with pytest.raises(InvalidArgument, match=rf"^{f}:\d+: "):
        load_file(f)


def test_top_level_must_be_a_mapping(tmp_path):
    f = write(tmp_path / "compose.yaml", "- a\n- b\n")
    with pytest.raises(InvalidArgument, match="top-level object must be a mapping"):
        load_file(f)


def test_missing_file(tmp_path):
    with pytest.raises(NotFound, match="no such file"):
        load_project([str(tmp_path / "nope.yaml")], {}, "p")


def test_no_files():
    with pytest.raises(InvalidArgument, match="no compose file"):
        load_project([], {}, "p")


def test_boolean_is_not_an_integer(tmp_path):
    f = write(tmp_path / "compose.yaml", "services: {a: {image: x, scale: true}}\n")
    with pytest.raises(InvalidArgument, match="service 'a' key 'scale' must be an integer, not a boolean"):
        load_project([f], {}, "p")


def test_extension_keys_are_accepted(tmp_path):
    f = write(tmp_path / "compose.yaml", "x-common: &c {image: x}\nservices:\n  a:\n    <<: *c\n    x-note: hi\n")
    project = load_project([f], {}, "p")
    assert project.services["a"]["image"] == "x"


def test_parse_env_file():
    assert parse_env_file("export A=1\nB = two # note\nC='x # y'\n\n#D=4\n") == {"A": "1", "B": "two", "C": "x # y"}
    with pytest.raises(InvalidArgument, match="env:2: invalid variable name"):
        parse_env_file("A=1\nBAD KEY=2\n", "env")


def test_unset_variables_are_warned_about(tmp_path):
    f = write(tmp_path / "compose.yaml", "services: {a: {image: 'x:${TAG}$OTHER${DFLT:-1}', environment: {S: $SET}}}\n")
    project = load_project([f], {"SET": "1"}, "p")
    assert project.warnings == ("The 'OTHER' variable is not set. Defaulting to a blank string.",
                                "The 'TAG' variable is not set. Defaulting to a blank string.")
    assert project.services["a"]["image"] == "x:1"


def test_optional_dependency_may_be_missing(tmp_path):
    f = write(tmp_path / "compose.yaml", "services:\n  web:\n    image: x\n"
                                         "    depends_on: {db: {required: false}}\n")
    project = load_project([f], {}, "p")
    assert project.services["web"]["depends_on"] == {
        "db": {"condition": "service_started", "restart": False, "required": False}}
