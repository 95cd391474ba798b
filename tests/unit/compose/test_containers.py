"""convert: a normalized service → the Engine API bodies, labels and the
config hash.  Services come from load_project on small files so their shapes
are the loader's real output."""

from __future__ import annotations

import textwrap

import pytest

from dockyard.compose import containers, convert, load_project
from dockyard.errors import InvalidArgument

FULL = """
services:
  web:
    image: busybox
    command: sh -c "echo hi"
    entrypoint: ["/bin/sh", "-c"]
    environment:
      A: "1"
      FROM_SHELL:
      NOT_IN_SHELL:
      EMPTY: ""
    ports: ["18080:80", "127.0.0.1:18081:81/udp", "90"]
    expose: ["3000"]
    volumes:
      - data:/data
      - /anon
      - ./src:/src:ro
      - {type: tmpfs, target: /t, tmpfs: {size: 1m}}
    tmpfs: ["/run:size=1m", "/scratch"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      timeout: 500ms
      retries: 3
      start_period: 2m
    restart: on-failure:3
    mem_limit: 64m
    cpus: 0.5
    extra_hosts: ["a:1.2.3.4", "b=5.6.7.8"]
    networks:
      front: {aliases: [w1, w2], ipv4_address: 172.30.0.5}
      back:
    labels: {x: y}
    depends_on:
      db: {condition: service_healthy}
  db:
    image: busybox
    deploy: {replicas: 2, resources: {limits: {memory: 32m, cpus: "0.25"}}}
  built:
    build: .
networks:
  front: {ipam: {config: [{subnet: 172.30.0.0/24}]}}
  back: {labels: {team: a}}
volumes:
  data: {labels: {keep: "yes"}}
"""


def project(tmp_path, text, env=None, name="px"):
    f = tmp_path / "compose.yaml"
    f.write_text(textwrap.dedent(text))
    return load_project([str(f)], env or {}, name)


def view(p, environ=None):
    return containers.ServiceView(p.name, p.working_dir, [str(p.working_dir) + "/compose.yaml"],
                               p.networks, p.volumes, environ if environ is not None else {})


@pytest.fixture
def full(tmp_path):
    p = project(tmp_path, FULL, env={"FROM_SHELL": "shell-value"})
    return p, view(p, {"FROM_SHELL": "shell-value"})


def test_environment_list_resolves_bare_keys_and_drops_unset(full):
    p, v = full
    body = containers.container_body(v, "web", p.services["web"], 1)
    assert body["Env"] == ["A=1", "FROM_SHELL=shell-value", "EMPTY="]
    # The view's environ, not the process's, is what a bare key reads.
    other = containers.ServiceView(p.name, p.working_dir, [], p.networks, p.volumes, {"NOT_IN_SHELL": "n"})
    assert containers.container_body(other, "web", p.services["web"], 1)["Env"] == ["A=1", "NOT_IN_SHELL=n", "EMPTY="]


def test_environment_list_syntax(tmp_path):
    p = project(tmp_path, """
        services:
          s:
            image: busybox
            environment: ["K=v=w", "BARE", "GONE"]
    """)
    body = containers.container_body(view(p, {"BARE": "b"}), "s", p.services["s"], 1)
    assert body["Env"] == ["K=v=w", "BARE=b"]


def test_command_and_entrypoint(full, tmp_path):
    p, v = full
    body = containers.container_body(v, "web", p.services["web"], 1)
    assert body["Cmd"] == ["sh", "-c", "echo hi"]
    assert body["Entrypoint"] == ["/bin/sh", "-c"]
    assert body["Image"] == "busybox"
    db = containers.container_body(v, "db", p.services["db"], 1)
    assert "Cmd" not in db and "Entrypoint" not in db  # the image's own
    q = project(tmp_path, "services: {s: {image: busybox, entrypoint: [], command: []}}\n")
    empty = containers.container_body(view(q), "s", q.services["s"], 1)
    # An empty entrypoint clears the image's; an empty command is passed as such.
    assert empty["Entrypoint"] == [""]
    assert empty["Cmd"] == []


def test_ports_and_exposed(full):
    p, v = full
    body = containers.container_body(v, "web", p.services["web"], 1)
    assert body["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "18080"}],
        "81/udp": [{"HostIp": "127.0.0.1", "HostPort": "18081"}],
        "90/tcp": [{"HostIp": "", "HostPort": ""}],
    }
    assert body["ExposedPorts"] == {"3000/tcp": {}, "80/tcp": {}, "81/udp": {}, "90/tcp": {}}


def test_port_range_binds_each_port(tmp_path):
    p = project(tmp_path, 'services: {s: {image: busybox, ports: ["18110-18111:80-81"]}}\n')
    hc = containers.container_body(view(p), "s", p.services["s"], 1)["HostConfig"]
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "18110"}],
                                  "81/tcp": [{"HostIp": "", "HostPort": "18111"}]}


def test_volumes_named_anonymous_bind_tmpfs(full, tmp_path):
    p, v = full
    hc = containers.container_body(v, "web", p.services["web"], 1)["HostConfig"]
    assert hc["Binds"] == [f"{tmp_path}/src:/src:ro"]
    assert hc["Mounts"] == [
        {"Type": "volume", "Source": "px_data", "Target": "/data", "ReadOnly": False},
        {"Type": "volume", "Target": "/anon", "ReadOnly": False},
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024 * 1024}},
    ]
    assert hc["Tmpfs"] == {"/run": "size=1m", "/scratch": ""}


def test_recreated_container_inherits_anonymous_volume(full):
    p, v = full
    hc = containers.container_body(v, "web", p.services["web"], 1,
                                inherited_volumes={"/anon": "abc123"})["HostConfig"]
    assert {"Type": "volume", "Source": "abc123", "Target": "/anon", "ReadOnly": False} in hc["Mounts"]


def test_undefined_volume_is_invalid(tmp_path):
    p = project(tmp_path, "services: {s: {image: busybox}}\n")
    svc = {**p.services["s"], "volumes": [{"type": "volume", "source": "nope", "target": "/x"}]}
    with pytest.raises(InvalidArgument, match="service 's'.*undefined volume 'nope'"):
        containers.container_body(view(p), "s", svc, 1)


def test_healthcheck_durations_in_nanoseconds(full, tmp_path):
    p, v = full
    assert containers.container_body(v, "web", p.services["web"], 1)["Healthcheck"] == {
        "Test": ["CMD", "true"], "Interval": 1_000_000_000, "Timeout": 500_000_000,
        "StartPeriod": 120_000_000_000, "Retries": 3}
    q = project(tmp_path, "services: {s: {image: busybox, healthcheck: {disable: true}}}\n")
    assert containers.container_body(view(q), "s", q.services["s"], 1)["Healthcheck"] == {"Test": ["NONE"]}


def test_restart_policy(full, tmp_path):
    p, v = full
    hc = containers.container_body(v, "web", p.services["web"], 1)["HostConfig"]
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    q = project(tmp_path, "services: {s: {image: busybox, restart: unless-stopped}}\n")
    assert containers.container_body(view(q), "s", q.services["s"], 1)["HostConfig"]["RestartPolicy"] == \
        {"Name": "unless-stopped", "MaximumRetryCount": 0}
    assert "RestartPolicy" not in containers.container_body(v, "db", p.services["db"], 1)["HostConfig"]


def test_resource_limits(full):
    p, v = full
    web = containers.container_body(v, "web", p.services["web"], 1)["HostConfig"]
    assert web["Memory"] == 64 * 1024 * 1024
    assert web["NanoCpus"] == 500_000_000
    db = containers.container_body(v, "db", p.services["db"], 1)["HostConfig"]
    assert db["Memory"] == 32 * 1024 * 1024
    assert db["NanoCpus"] == 250_000_000


def test_extra_hosts_both_separators(full, tmp_path):
    p, v = full
    assert containers.container_body(v, "web", p.services["web"], 1)["HostConfig"]["ExtraHosts"] == \
        ["a:1.2.3.4", "b:5.6.7.8"]
    q = project(tmp_path, 'services: {s: {image: busybox, extra_hosts: {h1: "10.0.0.1"}}}\n')
    assert containers.container_body(view(q), "s", q.services["s"], 1)["HostConfig"]["ExtraHosts"] == \
        ["h1:10.0.0.1"]


def test_networks_mode_and_endpoints(full):
    p, v = full
    body = containers.container_body(v, "web", p.services["web"], 1)
    eps = body["NetworkingConfig"]["EndpointsConfig"]
    assert eps == {
        "px_front": {"Aliases": ["web", "w1", "w2"], "IPAMConfig": {"IPv4Address": "172.30.0.5"}},
        "px_back": {"Aliases": ["web"]},
    }
    assert body["HostConfig"]["NetworkMode"] in eps
    db = containers.container_body(v, "db", p.services["db"], 2)
    assert db["HostConfig"]["NetworkMode"] == "px_default"
    assert db["NetworkingConfig"]["EndpointsConfig"] == {"px_default": {"Aliases": ["db"]}}


def test_network_priority_picks_primary_network(tmp_path):
    p = project(tmp_path, """
        services:
          s:
            image: busybox
            networks: {a: {priority: 1}, z: {priority: 100}}
        networks: {a: {}, z: {}}
    """)
    assert containers.container_body(view(p), "s", p.services["s"], 1)["HostConfig"]["NetworkMode"] == "px_z"


def test_one_off_container_is_not_the_service_alias(full):
    p, v = full
    body = containers.container_body(v, "web", p.services["web"], None, oneoff=True, slug="abc")
    assert body["Labels"][convert.ONEOFF] == "True"
    assert body["Labels"][convert.SLUG] == "abc" and convert.NUMBER not in body["Labels"]
    # As docker compose run: no service aliases unless --use-aliases.
    assert body["NetworkingConfig"]["EndpointsConfig"]["px_front"]["Aliases"] == []
    assert body["NetworkingConfig"]["EndpointsConfig"]["px_back"]["Aliases"] == []
    aliased = containers.container_body(v, "web", p.services["web"], None, oneoff=True, use_aliases=True)
    assert aliased["NetworkingConfig"]["EndpointsConfig"]["px_front"]["Aliases"] == ["web", "w1", "w2"]


def test_network_mode_service_and_host(tmp_path):
    p = project(tmp_path, """
        services:
          a: {image: busybox}
          b: {image: busybox, network_mode: "service:a"}
          h: {image: busybox, network_mode: host}
    """)
    v = view(p)
    b = containers.container_body(v, "b", p.services["b"], 1, peer={"a": "cid123"})
    assert b["HostConfig"]["NetworkMode"] == "container:cid123"
    assert "NetworkingConfig" not in b
    with pytest.raises(InvalidArgument, match="network_mode service .a. has no container"):
        containers.container_body(v, "b", p.services["b"], 1)
    assert containers.container_body(v, "h", p.services["h"], 1)["HostConfig"]["NetworkMode"] == "host"


def test_labels(full):
    p, v = full
    labels = containers.container_body(v, "web", p.services["web"], 3, image_id="sha256:abc")["Labels"]
    assert labels["x"] == "y"
    assert labels[convert.PROJECT] == "px"
    assert labels[convert.SERVICE] == "web"
    assert labels[convert.NUMBER] == "3"
    assert labels[convert.ONEOFF] == "False"
    assert labels[convert.CONFIG_HASH] == convert.config_hash(p.services["web"])
    assert labels[convert.IMAGE] == "sha256:abc"
    assert labels[convert.DEPENDS_ON] == "db:service_healthy:false"
    assert labels[convert.WORKING_DIR] == p.working_dir
    assert convert.IMAGE not in containers.container_body(v, "db", p.services["db"], 1)["Labels"]


def test_user_labels_cannot_forge_compose_labels(tmp_path):
    p = project(tmp_path, """
        services:
          s: {image: busybox, labels: {com.docker.compose.project: other}}
    """)
    assert containers.container_body(view(p), "s", p.services["s"], 1)["Labels"][convert.PROJECT] == "px"


def test_network_and_volume_bodies(full):
    p, _ = full
    front = convert.network_body("px", "front", p.networks["front"])
    assert front["Name"] == "px_front" and front["Driver"] == "bridge"
    assert front["Labels"][convert.PROJECT] == "px" and front["Labels"][convert.NETWORK] == "front"
    assert front["IPAM"] == {"Driver": "default", "Config": [{"Subnet": "172.30.0.0/24"}]}
    back = convert.network_body("px", "back", p.networks["back"])
    assert back["Labels"]["team"] == "a" and "IPAM" not in back
    vol = convert.volume_body("px", "data", p.volumes["data"])
    assert vol["Name"] == "px_data" and vol["Driver"] == "local"
    assert vol["Labels"] == {"keep": "yes", convert.PROJECT: "px", convert.VOLUME: "data",
                             convert.VERSION: convert.COMPOSE_VERSION}


def test_names_and_scale(full):
    p, _ = full
    assert convert.image_name("px", "web", p.services["web"]) == "busybox"
    assert convert.image_name("px", "built", p.services["built"]) == "px-built"
    assert convert.container_name("px", "web", p.services["web"], 2) == "px-web-2"
    assert convert.container_name("px", "web", {"container_name": "fixed"}, 2) == "fixed"
    assert convert.scale(p.services["web"]) == 1
    assert convert.scale(p.services["db"]) == 2
    assert convert.scale({"scale": 4, "deploy": {"replicas": 2}}) == 4


def test_bad_values_are_invalid_argument(tmp_path):
    p = project(tmp_path, "services: {s: {image: busybox}}\n")
    v = view(p)
    with pytest.raises(InvalidArgument, match="service 's'.*restart policy"):
        containers.container_body(v, "s", {**p.services["s"], "restart": "sometimes"}, 1)
    with pytest.raises(InvalidArgument, match="service 's'.*'nope'"):
        containers.container_body(v, "s", {**p.services["s"], "networks": {"nope": None}}, 1)


def test_undefined_network_message_names_the_problem(tmp_path):
    p = project(tmp_path, "services: {s: {image: busybox}}\n")
    with pytest.raises(InvalidArgument, match="undefined network 'nope'"):
        containers.container_body(view(p), "s", {**p.services["s"], "networks": {"nope": None}}, 1)


# -- the config hash -----------------------------------------------------------------------------


HASHED = """
services:
  s:
    image: busybox
    environment: {A: "1", B: "2"}
    labels: {l1: a, l2: b}
    command: [sleep, "300"]
"""


def hash_of(tmp_path, text, env=None):
    return convert.config_hash(project(tmp_path, text, env).services["s"])


def test_config_hash_is_stable_across_key_order(tmp_path):
    reordered = """
services:
  s:
    command: [sleep, "300"]
    labels: {l2: b, l1: a}
    environment: {B: "2", A: "1"}
    image: busybox
"""
    h = hash_of(tmp_path, HASHED)
    assert len(h) == 64 and int(h, 16) >= 0
    assert hash_of(tmp_path, reordered) == h
    assert hash_of(tmp_path, HASHED) == h  # deterministic


@pytest.mark.parametrize("before, after", [
    ("", "    scale: 3\n"),
    ("    scale: 1\n", "    scale: 3\n"),
    ("    deploy: {replicas: 1}\n", "    deploy: {replicas: 4}\n"),
    ("", "    depends_on: [other]\n"),
    ("    depends_on: [other]\n", "    depends_on: {other: {condition: service_healthy}}\n"),
    ("", "    build: .\n"),
    ("", "    pull_policy: always\n"),
])
def test_config_hash_ignores_scale_and_dependencies(tmp_path, before, after):
    tail = "  other: {image: busybox}\n"
    assert hash_of(tmp_path, HASHED + before + tail) == hash_of(tmp_path, HASHED + after + tail)


@pytest.mark.parametrize("change", [
    ('A: "1"', 'A: "9"'),
    ("sleep", "true"),
    ("l1: a", "l1: z"),
    ("image: busybox", "image: busybox:other"),
])
def test_config_hash_changes_with_configuration(tmp_path, change):
    assert hash_of(tmp_path, HASHED.replace(*change)) != hash_of(tmp_path, HASHED)


def test_config_hash_follows_interpolated_environment(tmp_path):
    text = HASHED.replace('A: "1"', 'A: "${VAL}"')
    assert hash_of(tmp_path, text, {"VAL": "x"}) != hash_of(tmp_path, text, {"VAL": "y"})
    assert hash_of(tmp_path, text, {"VAL": "x"}) == hash_of(tmp_path, text, {"VAL": "x"})


def test_config_hash_ignores_replicas_but_not_resources(tmp_path):
    a = hash_of(tmp_path, HASHED + "    deploy: {replicas: 1, resources: {limits: {memory: 8m}}}\n")
    b = hash_of(tmp_path, HASHED + "    deploy: {replicas: 5, resources: {limits: {memory: 8m}}}\n")
    c = hash_of(tmp_path, HASHED + "    deploy: {replicas: 5, resources: {limits: {memory: 16m}}}\n")
    assert a == b != c


def test_other_host_config_fields(tmp_path):
    p = project(tmp_path, """
        services:
          s:
            image: busybox
            environment: {A: 1, B: true, C: 1.5}
            labels: {flag: true}
            healthcheck: {test: "test -f /x", interval: 1m30s}
            tmpfs: /run
            volumes: ["data:/d:ro"]
            entrypoint: sh -c
            command: 'echo "a b"'
            stop_grace_period: 2s
            user: "1000"
            sysctls: {net.core.somaxconn: 1024}
            ulimits: {nofile: {soft: 10, hard: 20}, nproc: 5}
            init: true
            read_only: true
            cap_add: [NET_ADMIN]
            dns: 8.8.8.8
            logging: {driver: json-file, options: {max-size: 1m}}
            pids_limit: 50
            shm_size: 64m
            mem_limit: 1g
            memswap_limit: -1
        volumes: {data: {}}
    """)
    body = containers.container_body(view(p), "s", p.services["s"], 1)
    # YAML scalars reach the engine as compose writes them (true, not True).
    assert body["Env"] == ["A=1", "B=true", "C=1.5"]
    assert body["Labels"]["flag"] == "true"
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "test -f /x"], "Interval": 90_000_000_000}
    assert body["Entrypoint"] == ["sh", "-c"] and body["Cmd"] == ["echo", "a b"]
    assert body["StopTimeout"] == 2 and body["User"] == "1000"
    hc = body["HostConfig"]
    assert hc["Tmpfs"] == {"/run": ""}
    assert hc["Mounts"] == [{"Type": "volume", "Source": "px_data", "Target": "/d", "ReadOnly": True}]
    assert hc["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}, {"Name": "nproc", "Soft": 5, "Hard": 5}]
    assert hc["Init"] is True and hc["ReadonlyRootfs"] is True
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["Dns"] == ["8.8.8.8"]
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert hc["PidsLimit"] == 50 and hc["ShmSize"] == 64 * 1024 * 1024
    assert hc["Memory"] == 1024 ** 3 and hc["MemorySwap"] == -1
