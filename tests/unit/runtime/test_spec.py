from dockyard.runtime import spec as oci


def build(**host):
    process = oci.ProcessSettings(args=["sh"], env=["PATH=/bin"], terminal=True, console_size=(24, 80))
    return oci.build(process, oci.HostSettings(container_id="c" * 64, hostname="h", **host))


def test_defaults_follow_docker():
    s = build()
    assert s["process"]["consoleSize"] == {"height": 24, "width": 80}
    assert s["linux"]["cgroupsPath"] == "/dockyard/" + "c" * 64
    assert {n["type"] for n in s["linux"]["namespaces"]} == {"pid", "ipc", "uts", "mount", "cgroup", "network"}
    assert "/proc/kcore" in s["linux"]["maskedPaths"] and "/proc/sys" in s["linux"]["readonlyPaths"]
    destinations = [m["destination"] for m in s["mounts"]]
    assert destinations[:6] == ["/proc", "/dev", "/dev/pts", "/sys", "/dev/mqueue", "/dev/shm"]
    sys_mount = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" in sys_mount["options"]
    assert s["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    nofile = s["process"]["rlimits"][0]
    assert nofile["type"] == "RLIMIT_NOFILE" and nofile["hard"] <= 1048576


def test_limits():
    r = build(memory=32 << 20, nano_cpus=1_500_000_000, pids_limit=10, cpu_shares=512)["linux"]["resources"]
    assert r["memory"] == {"limit": 32 << 20, "swap": 64 << 20}  # docker: swap defaults to twice the memory
    assert r["cpu"] == {"period": 100000, "quota": 150000, "shares": 512}
    assert r["pids"] == {"limit": 10}
    assert build(memory=32 << 20, memory_swap=-1)["linux"]["resources"]["memory"]["swap"] == -1


def test_privileged_and_host_network():
    s = build(privileged=True, network_namespace="host")
    assert s["linux"]["maskedPaths"] == [] and s["linux"]["readonlyPaths"] == []
    assert "network" not in {n["type"] for n in s["linux"]["namespaces"]}
    assert "ro" not in next(m for m in s["mounts"] if m["destination"] == "/sys")["options"]


def test_init_wraps_the_command():
    s = build(init=True)
    assert s["process"]["args"][:2] == [oci.INIT_PATH, "--"]
    assert any(m["destination"] == oci.INIT_PATH for m in s["mounts"])
