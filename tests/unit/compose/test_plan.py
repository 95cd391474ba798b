"""plan: the convergence plan for one service, and the dependency order."""

from __future__ import annotations

import textwrap

import pytest

from dockyard.compose import convert, load_project
from dockyard.compose.plan import (Desired, Observed, dependencies, dependency_order, with_dependents,
                                   plan_service, with_dependencies)
from dockyard.errors import InvalidArgument

H, OLD = "h" * 64, "o" * 64


def c(number, state="running", config_hash=H, image_id="sha256:img", name=None):
    return Observed(id=f"id{number}", name=name or f"p-web-{number}", number=number,
                    config_hash=config_hash, image_id=image_id, state=state)


def desired(scale=1, **kw):
    return Desired(config_hash=H, image_id=kw.pop("image_id", "sha256:img"), scale=scale, **kw)


def numbers(containers):
    return [x.number for x in containers]


def test_fresh_service_creates_numbers_from_one():
    plan = plan_service("web", desired(3), [])
    assert plan.create == (1, 2, 3)
    assert not (plan.remove or plan.recreate or plan.start or plan.keep)
    assert plan.changes


def test_up_to_date_running_is_kept_without_changes():
    plan = plan_service("web", desired(2), [c(1), c(2)])
    assert numbers(plan.keep) == [1, 2]
    assert plan.create == () and not plan.changes


def test_scale_up_numbers_on_from_the_highest():
    # docker compose's nextContainerNumber: max + 1, gaps are not refilled.
    plan = plan_service("web", desired(4), [c(2), c(5)])
    assert numbers(plan.keep) == [2, 5]
    assert plan.create == (6, 7)
    assert plan_service("web", desired(2), []).create == (1, 2)


def test_scale_down_removes_the_highest_first():
    plan = plan_service("web", desired(1), [c(3), c(1), c(2)])
    assert numbers(plan.keep) == [1]
    assert numbers(plan.remove) == [3, 2]
    assert plan.create == ()


def test_scale_to_zero_removes_all():
    plan = plan_service("web", desired(0), [c(1), c(2)])
    assert numbers(plan.remove) == [2, 1] and not plan.keep and not plan.create


def test_stale_config_hash_recreates_with_same_number():
    plan = plan_service("web", desired(2), [c(1, config_hash=OLD), c(2)])
    assert numbers(plan.recreate) == [1]
    assert numbers(plan.keep) == [2]
    assert plan.create == ()


def test_stale_image_recreates():
    plan = plan_service("web", desired(1, image_id="sha256:new"), [c(1, image_id="sha256:old")])
    assert numbers(plan.recreate) == [1]


def test_unknown_image_id_does_not_recreate():
    # The model's image id is unknown (nothing resolved): the hash alone decides.
    plan = plan_service("web", desired(1, image_id=""), [c(1, image_id="sha256:old")])
    assert numbers(plan.keep) == [1] and not plan.recreate


def test_force_recreate_recreates_everything_kept():
    plan = plan_service("web", desired(2, force_recreate=True), [c(1), c(2, state="exited"), c(3)])
    assert numbers(plan.recreate) == [1, 2]
    assert numbers(plan.remove) == [3]


def test_no_recreate_keeps_stale_containers():
    plan = plan_service("web", desired(2, no_recreate=True),
                        [c(1, config_hash=OLD), c(2, config_hash=OLD, state="exited")])
    assert not plan.recreate
    assert numbers(plan.keep) == [1]
    assert numbers(plan.start) == [2]


@pytest.mark.parametrize("state", ["exited", "created", "dead"])
def test_stopped_up_to_date_is_started(state):
    plan = plan_service("web", desired(1), [c(1, state=state)])
    assert numbers(plan.start) == [1] and not plan.recreate and plan.changes


@pytest.mark.parametrize("state", ["running", "paused", "restarting"])
def test_running_states_are_kept(state):
    assert numbers(plan_service("web", desired(1), [c(1, state=state)]).keep) == [1]


def test_stale_stopped_is_recreated_not_started():
    plan = plan_service("web", desired(1), [c(1, state="exited", config_hash=OLD)])
    assert numbers(plan.recreate) == [1] and not plan.start


def test_observed_from_api():
    row = {"Id": "abc", "Names": ["/p-web-2"], "State": "exited",
           "Labels": {convert.NUMBER: "2", convert.CONFIG_HASH: H, convert.IMAGE: "sha256:i"}}
    o = Observed.from_api(row)
    assert (o.id, o.name, o.number, o.config_hash, o.image_id, o.state) == \
        ("abc", "p-web-2", 2, H, "sha256:i", "exited")
    assert not o.running
    bad = Observed.from_api({"Id": "x", "Labels": {convert.NUMBER: "x"}})
    assert bad.number == 0 and bad.config_hash == ""


# -- dependencies --------------------------------------------------------------------------------


def project(tmp_path, text):
    f = tmp_path / "compose.yaml"
    f.write_text(textwrap.dedent(text))
    return load_project([str(f)], {}, "p")


def test_dependency_order_puts_dependencies_first(tmp_path):
    p = project(tmp_path, """
        services:
          web: {image: x, depends_on: [api, cache]}
          api: {image: x, depends_on: {db: {condition: service_healthy}}}
          cache: {image: x}
          db: {image: x}
          side: {image: x, network_mode: "service:web"}
          logs: {image: x, volumes_from: [db, "container:other"], links: ["cache:c"]}
    """)
    order = dependency_order(p.services, list(p.services))
    assert sorted(order) == sorted(p.services)
    for svc in p.services:
        for dep in dependencies(p.services[svc]):
            assert order.index(dep) < order.index(svc), (dep, svc, order)
    assert sorted(dependencies(p.services["logs"])) == ["cache", "db"]
    assert dependencies(p.services["side"]) == ["web"]
    # Only the names asked for are ordered.
    assert dependency_order(p.services, ["web", "cache"]) == ["cache", "web"]


def test_with_dependencies_is_transitive(tmp_path):
    p = project(tmp_path, """
        services:
          web: {image: x, depends_on: [api]}
          api: {image: x, depends_on: [db]}
          db: {image: x}
          other: {image: x}
    """)
    assert with_dependencies(p.services, ["web"]) == ["web", "api", "db"]
    assert with_dependencies(p.services, ["db"]) == ["db"]
    assert with_dependents(p.services, ["db"]) == ["web", "api", "db"]
    assert with_dependents(p.services, ["api"]) == ["web", "api"]
    with pytest.raises(InvalidArgument, match="no such service: nope"):
        with_dependencies(p.services, ["nope"])


def test_dependency_cycle_is_an_error():
    services = {"a": {"depends_on": {"b": {}}}, "b": {"depends_on": {"c": {}}},
                "c": {"depends_on": {"a": {}}}, "d": {}}
    with pytest.raises(InvalidArgument, match=r"dependency cycle detected: a -> b -> c -> a"):
        dependency_order(services, ["a", "b", "c", "d"])
    # Outside the subset the cycle is not seen.
    assert dependency_order(services, ["a", "b", "d"]) == ["b", "a", "d"]


def test_self_dependency_is_a_cycle():
    with pytest.raises(InvalidArgument, match="cycle"):
        dependency_order({"a": {"links": ["a"]}}, ["a"])


def test_loader_rejects_a_cycle(tmp_path):
    with pytest.raises(InvalidArgument, match="cycle"):
        project(tmp_path, """
            services:
              a: {image: x, depends_on: [b]}
              b: {image: x, depends_on: [a]}
        """)
