"""Pull and push against the CNCF reference registry (Debian's docker-registry),
with and without htpasswd auth, through our CLI and the docker CLI.

Each registry is a `docker-registry serve` on a free loopback port with a
temporary root, started once for the module and killed at the end even
when tests fail.  Repositories are named per test; the images tests tag are
removed again.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.skipif(shutil.which("docker-registry") is None,
                                reason="the CNCF registry (apt-get install docker-registry) is not installed")

USER, PASSWORD = "alice", "s3cret"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_VENV_DOCKYARD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                              ".venv", "bin", "dockyard")
DOCKYARD = _VENV_DOCKYARD if os.path.exists(_VENV_DOCKYARD) else shutil.which("dockyard") or "dockyard"


class Registry:
    """The CNCF registry (or, with `ours`, `dockyard registry serve`) on a free port."""

    def __init__(self, root: str, htpasswd: str | None = None, ours: bool = False):
        self.root = root
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.host = f"localhost:{self.port}"
        self.log = os.path.join(root, "registry.log")
        if ours:
            command = [DOCKYARD, "registry", "serve", "--listen", f"127.0.0.1:{self.port}", "--root", f"{root}/data"]
        else:
            config = os.path.join(root, "config.yml")
            auth = f"auth: {{htpasswd: {{realm: dockyard-test, path: {htpasswd}}}}}\n" if htpasswd else ""
            with open(config, "w") as f:
                f.write("version: 0.1\nlog: {level: warn}\n"
                        f"storage: {{filesystem: {{rootdirectory: {root}/data}}}}\n"
                        f"http: {{addr: 127.0.0.1:{self.port}, secret: dockyard-test}}\n{auth}")
            command = ["docker-registry", "serve", config]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not start: {open(self.log).read()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def requests(self, pattern: str) -> int:
        """How many access-log lines name this request ("GET /v2/ ")."""
        with open(self.log) as f:
            return sum(1 for line in f if f'"{pattern}' in line)

    def api(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def blob_file(self, digest: str) -> str:
        hex_ = digest.split(":", 1)[1]
        return os.path.join(self.root, "data", "docker", "registry", "v2", "blobs", "sha256", hex_[:2], hex_, "data")


def _htpasswd(path: str) -> bool:
    """A bcrypt htpasswd file: crypt(3) from the C library, else htpasswd(1)."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        # cost 4: the registry checks the password on every request
        hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    except (ImportError, AttributeError):
        hashed = None
    if hashed and hashed.startswith("$2"):
        line = f"{USER}:{hashed}\n"
    elif shutil.which("htpasswd"):
        line = subprocess.run(["htpasswd", "-Bbn", "-C", "4", USER, PASSWORD], capture_output=True, check=True, text=True).stdout
    else:
        return False
    with open(path, "w") as f:
        f.write(line)
    return True


@pytest.fixture(scope="module")
def registry():
    root = tempfile.mkdtemp(prefix="dockyard-registry-")
    reg = Registry(root)
    try:
        yield reg
    finally:
        reg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def auth_registry():
    root = tempfile.mkdtemp(prefix="dockyard-registry-auth-")
    htpasswd = os.path.join(root, "htpasswd")
    if not _htpasswd(htpasswd):
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip("no bcrypt for an htpasswd file (crypt(3) or apache2-utils)")
    reg = Registry(root, htpasswd)
    try:
        yield reg
    finally:
        reg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def our_registry():
    """dockyard's own registry server: the one that answers docker's /v1/search."""
    if subprocess.run([DOCKYARD, "registry", "serve", "--help"], capture_output=True).returncode != 0:
        pytest.skip("dockyard registry serve is not available")
    root = tempfile.mkdtemp(prefix="dockyard-registry-ours-")
    reg = Registry(root, ours=True)
    try:
        yield reg
    finally:
        reg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    """A private DOCKER_CONFIG for our CLI and the docker CLI alike."""
    path = tmp_path / "docker-config"
    path.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    return path


@pytest.fixture
def cleanup(dy):
    """Image references to remove at the end of the test."""
    refs: list[str] = []
    yield refs
    for ref in refs:
        dy("rmi", "-f", ref)


def out(r) -> str:
    return r.stdout.decode()


def err(r) -> str:
    return r.stderr.decode()


def image_id(dy, ref: str) -> str:
    r = dy("image", "inspect", "--format", "{{.Id}}", ref)
    assert r.returncode == 0, err(r)
    return out(r).strip()


def unique_image(dy, name: str, arch: str = "amd64") -> str:
    """A one-layer image of its own (a layer no other test shares)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = os.urandom(4096)
        info = tarfile.TarInfo("unique")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    r = dy("import", "--platform", f"linux/{arch}", "-", name, input=buf.getvalue())
    assert r.returncode == 0, err(r)
    return out(r).strip().splitlines()[-1]


# -- push, pull, run -----------------------------------------------------------------------------------


def test_push_rmi_pull_run(dy, registry, cleanup):
    ref = f"{registry.host}/it/bb:v1"
    cleanup.append(ref)
    assert dy("tag", "busybox:latest", ref).returncode == 0
    pushed = dy("push", ref)
    assert pushed.returncode == 0, err(pushed)
    lines = out(pushed).splitlines()
    assert lines[0] == f"The push refers to repository [{registry.host}/it/bb]"
    assert any(line.endswith(": Pushed") for line in lines)
    digest = lines[-1].split("digest: ")[1].split()[0]
    manifest = registry.api("GET", f"/v2/it/bb/manifests/{digest}", headers={"Accept": DOCKER_MANIFEST})[2]
    assert lines[-1] == f"v1: digest: {digest} size: {len(manifest)}"

    again = dy("push", ref)
    assert again.returncode == 0 and ": Layer already exists" in out(again), out(again)
    assert f"v1: digest: {digest}" in out(again)

    assert dy("rmi", ref).returncode == 0
    pulled = dy("pull", ref)
    assert pulled.returncode == 0, err(pulled)
    text = out(pulled)
    assert text.startswith("v1: Pulling from it/bb\n")
    assert f"Digest: {digest}\n" in text
    assert f"Status: Image is up to date for {ref}\n" not in text  # busybox has the image; the tag is new
    assert text.endswith(f"Status: Downloaded newer image for {ref}\n{ref}\n")
    info = json.loads(out(dy("image", "inspect", ref)))[0]
    assert f"{registry.host}/it/bb@{digest}" in info["RepoDigests"]
    assert info["Id"] == image_id(dy, "busybox:latest")

    same = dy("pull", ref)
    assert f"Status: Image is up to date for {ref}" in out(same)
    run = dy("run", "--rm", ref, "echo", "pulled ok")
    assert out(run) == "pulled ok\n", err(run)


def test_pull_fetches_layers_it_lacks_and_run_pulls_missing(dy, registry, cleanup):
    name = f"{registry.host}/it/own:v1"
    cleanup.append(name)
    own = unique_image(dy, name)
    assert dy("push", name).returncode == 0
    assert dy("rmi", name).returncode == 0  # image, blob and layer gone
    r = dy("create", name, "/unique")
    assert r.returncode == 0, err(r)
    dy("rm", out(r).strip())
    assert f"Unable to find image '{name}' locally" in err(r)
    assert ": Pull complete" in err(r) and f"Status: Downloaded newer image for {name}" in err(r)
    assert image_id(dy, name) == own

    assert dy("rmi", name).returncode == 0
    never = dy("create", "--pull", "never", name)
    assert never.returncode == 125 and "No such image" in err(never)
    bad = dy("create", "--pull", "sometimes", name)
    assert bad.returncode == 125 and "invalid pull option: 'sometimes'" in err(bad)
    always = dy("create", "--pull", "always", "-q", name, "/unique")
    assert always.returncode == 0, err(always)
    assert "Pulling" not in err(always)
    dy("rm", out(always).strip())


def test_pull_by_digest(dy, registry, cleanup):
    name = f"{registry.host}/it/digest:v1"
    cleanup.append(name)
    own = unique_image(dy, name)
    pushed = dy("push", name)
    digest = out(pushed).splitlines()[-1].split("digest: ")[1].split()[0]
    assert dy("rmi", name).returncode == 0
    by_digest = f"{registry.host}/it/digest@{digest}"
    cleanup.append(by_digest)
    r = dy("pull", by_digest)
    assert r.returncode == 0, err(r)
    assert out(r).startswith(f"{digest}: Pulling from it/digest\n")
    assert f"Status: Downloaded newer image for {by_digest}" in out(r)
    assert image_id(dy, by_digest) == own
    assert json.loads(out(dy("image", "inspect", by_digest)))[0]["RepoTags"] == []


def test_cross_repository_mount(dy, registry, cleanup):
    first, second = f"{registry.host}/it/mount-a:v1", f"{registry.host}/it/mount-b:v1"
    cleanup += [first, second]
    unique_image(dy, first)
    assert dy("push", first).returncode == 0
    assert dy("tag", first, second).returncode == 0
    r = dy("push", second)
    assert r.returncode == 0, err(r)
    assert ": Mounted from it/mount-a" in out(r)
    assert registry.requests("PATCH /v2/it/mount-b/") == 0 and registry.requests("PUT /v2/it/mount-b/blobs/") == 0


def test_all_tags(dy, registry, cleanup):
    repo = f"{registry.host}/it/tags"
    cleanup += [f"{repo}:a", f"{repo}:b"]
    unique_image(dy, f"{repo}:a")
    assert dy("tag", f"{repo}:a", f"{repo}:b").returncode == 0
    pushed = dy("push", "--all-tags", repo)
    assert pushed.returncode == 0, err(pushed)
    assert "a: digest:" in out(pushed) and "b: digest:" in out(pushed)
    assert dy("rmi", f"{repo}:a", f"{repo}:b").returncode == 0
    r = dy("pull", "-a", repo)
    assert r.returncode == 0, err(r)
    assert "a: Pulling from it/tags" in out(r) and "b: Pulling from it/tags" in out(r)
    assert out(r).endswith(f"Status: Downloaded newer image for {repo}\n{repo}\n")
    tags = out(dy("images", "--format", "{{.Tag}}", repo)).split()
    assert sorted(tags) == ["a", "b"]


def test_index_selects_linux_amd64(dy, registry, cleanup, api):
    repo = f"{registry.host}/it/multi"
    cleanup += [f"{repo}:amd", f"{repo}:arm", f"{repo}:multi"]
    amd = unique_image(dy, f"{repo}:amd")
    arm = unique_image(dy, f"{repo}:arm", arch="arm64")
    entries = []
    for tag, arch in (("arm", "arm64"), ("amd", "amd64")):
        pushed = dy("push", f"{repo}:{tag}")
        assert pushed.returncode == 0, err(pushed)
        line = out(pushed).splitlines()[-1]
        digest, size = line.split("digest: ")[1].split(" size: ")
        entries.append({"mediaType": DOCKER_MANIFEST, "digest": digest,
                        "size": int(size), "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_LIST, "manifests": entries}).encode()
    status, headers, _ = registry.api("PUT", "/v2/it/multi/manifests/multi", index, {"Content-Type": MANIFEST_LIST})
    assert status == 201, headers
    index_digest = headers["Docker-Content-Digest"]
    assert dy("rmi", f"{repo}:amd", f"{repo}:arm").returncode == 0

    r = dy("pull", f"{repo}:multi")
    assert r.returncode == 0, err(r)
    assert f"Digest: {index_digest}" in out(r)
    assert image_id(dy, f"{repo}:multi") == amd
    assert f"{repo}@{index_digest}" in json.loads(out(dy("image", "inspect", f"{repo}:multi")))[0]["RepoDigests"]
    r = dy("pull", "--platform", "linux/arm64", f"{repo}:multi")
    assert r.returncode == 0, err(r)
    assert image_id(dy, f"{repo}:multi") == arm

    status, body, _ = api("GET", f"/distribution/{repo}:multi/json")
    assert status == 200, body
    assert body["Descriptor"]["digest"] == index_digest
    assert body["Descriptor"]["mediaType"] == MANIFEST_LIST
    assert {(p["os"], p["architecture"]) for p in body["Platforms"]} == {("linux", "arm64"), ("linux", "amd64")}


def test_corrupt_blob_is_refused_and_leaves_nothing(dy, daemon, registry, cleanup):
    name = f"{registry.host}/it/corrupt:v1"
    cleanup.append(name)
    unique_image(dy, name)
    assert dy("push", name).returncode == 0
    manifest = registry.api("GET", "/v2/it/corrupt/manifests/v1", headers={"Accept": DOCKER_MANIFEST})[2]
    layer = json.loads(manifest)["layers"][0]["digest"]
    assert dy("rmi", name).returncode == 0
    blob = registry.blob_file(layer)
    size = os.path.getsize(blob)
    os.chmod(blob, 0o644)
    with open(blob, "wb") as f:
        f.write(os.urandom(size))
    r = dy("pull", name)
    assert r.returncode == 1
    assert f"filesystem layer verification failed for digest {layer}" in err(r) + out(r)
    content = os.path.join(daemon.data_root, "content")
    assert not os.path.exists(os.path.join(content, "blobs", "sha256", layer.split(":")[1]))
    assert os.listdir(os.path.join(content, "ingest")) == []
    assert dy("image", "inspect", name).returncode == 1


def test_missing_tag_and_unreachable_docker_hub(dy, registry):
    r = dy("pull", f"{registry.host}/it/bb:nosuchtag")
    assert r.returncode == 1
    assert err(r) == (f"Error response from daemon: manifest for {registry.host}/it/bb:nosuchtag not found: "
                      "manifest unknown: manifest unknown\n")
    start = time.monotonic()
    hub = dy("pull", "dockyard-test/nothing-here:v1")
    assert hub.returncode == 1 and "registry-1.docker.io" in err(hub)
    assert time.monotonic() - start < 15
    search = dy("search", f"{registry.host}/it")
    assert search.returncode == 1 and "does not offer search" in err(search)


def test_search(dy, daemon, our_registry, api, cleanup):
    name = f"{our_registry.host}/it/findme:v1"
    cleanup.append(name)
    assert dy("tag", "busybox:latest", name).returncode == 0
    assert dy("push", name).returncode == 0
    r = dy("search", f"{our_registry.host}/findme")
    assert r.returncode == 0, err(r)
    assert out(r).splitlines()[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert "it/findme" in out(r)
    status, body, _ = api("GET", f"/images/search?term={our_registry.host}/findme&limit=5")
    assert status == 200 and [x["name"] for x in body] == ["it/findme"], body
    assert set(body[0]) == {"name", "description", "star_count", "is_official", "is_automated"}
    status, body, _ = api("GET", f"/images/search?term={our_registry.host}/findme&limit=500")
    assert status == 400 and body["message"] == "limit 500 is outside the range of [1, 100]"
    status, body, _ = api("GET", f"/images/search?term={our_registry.host}/findme"
                                 '&filters={"is-official":{"true":true}}')
    assert status == 200 and body == []
    if shutil.which("docker"):
        r = daemon.docker("search", f"{our_registry.host}/findme")
        assert r.returncode == 0 and "it/findme" in out(r), err(r)


# -- auth ---------------------------------------------------------------------------------------------------


def test_login_push_pull_logout(dy, auth_registry, docker_config, cleanup):
    name = f"{auth_registry.host}/it/private:v1"
    cleanup.append(name)
    unique_image(dy, name)
    denied = dy("push", name)
    assert denied.returncode == 1 and "unauthorized: authentication required" in err(denied) + out(denied)

    before = auth_registry.requests("GET /v2/ ")
    wrong = dy("login", "-u", USER, "--password-stdin", auth_registry.host, input=b"wrong\n")
    assert wrong.returncode == 1
    assert f"login attempt to http://{auth_registry.host}/v2/ failed with status: 401 Unauthorized" in err(wrong)
    assert auth_registry.requests("GET /v2/ ") - before <= 2  # the ping and one try: no retry storm
    assert not (docker_config / "config.json").exists()

    right = dy("login", "-u", USER, "--password-stdin", auth_registry.host, input=PASSWORD.encode() + b"\n")
    assert right.returncode == 0, err(right)
    assert out(right).strip().endswith("Login Succeeded")
    auths = json.loads((docker_config / "config.json").read_text())["auths"]
    assert base64.b64decode(auths[auth_registry.host]["auth"]).decode() == f"{USER}:{PASSWORD}"

    pushed = dy("push", name)
    assert pushed.returncode == 0, err(pushed)
    assert dy("rmi", name).returncode == 0
    pulled = dy("pull", name)
    assert pulled.returncode == 0, err(pulled)

    assert out(dy("logout", auth_registry.host)) == f"Removing login credentials for {auth_registry.host}\n"
    assert out(dy("logout", auth_registry.host)) == f"Not logged in to {auth_registry.host}\n"
    assert dy("rmi", name).returncode == 0
    anonymous = dy("pull", name)
    assert anonymous.returncode == 1
    assert err(anonymous).startswith(f"Error response from daemon: pull access denied for {auth_registry.host}/it/private")


def test_auth_endpoint(api, auth_registry):
    status, body, _ = api("POST", "/auth", {"username": USER, "password": PASSWORD, "serveraddress": auth_registry.host})
    assert (status, body) == (200, {"Status": "Login Succeeded", "IdentityToken": ""})
    status, body, _ = api("POST", "/auth", {"username": USER, "password": "nope", "serveraddress": auth_registry.host})
    assert status == 401 and "401 Unauthorized" in body["message"]


# -- the docker CLI through dockyardd ---------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")
def test_docker_cli_push_pull_login(daemon, dy, registry, auth_registry, docker_config, cleanup):
    name = f"{registry.host}/it/dk:v1"
    cleanup.append(name)
    assert daemon.docker("tag", "busybox:latest", name).returncode == 0
    pushed = daemon.docker("push", name)
    assert pushed.returncode == 0, err(pushed)
    assert "v1: digest: sha256:" in out(pushed)
    assert daemon.docker("rmi", name).returncode == 0
    pulled = daemon.docker("pull", name)
    assert pulled.returncode == 0, err(pulled)
    assert f"Status: Downloaded newer image for {name}" in out(pulled)
    assert out(daemon.docker("run", "--rm", name, "echo", "via docker")) == "via docker\n"

    private = f"{auth_registry.host}/it/dk:v1"
    cleanup.append(private)
    assert daemon.docker("tag", "busybox:latest", private).returncode == 0
    wrong = daemon.docker("login", "-u", USER, "--password-stdin", auth_registry.host, input=b"bad\n")
    assert wrong.returncode != 0 and b"401 Unauthorized" in wrong.stderr
    login = daemon.docker("login", "-u", USER, "--password-stdin", auth_registry.host, input=PASSWORD.encode())
    assert login.returncode == 0, err(login)
    assert b"Login Succeeded" in login.stdout
    pushed = daemon.docker("push", private)
    assert pushed.returncode == 0, err(pushed)
