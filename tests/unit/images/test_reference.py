import pytest

from dockyard.errors import InvalidArgument
from dockyard.images.reference import Reference, is_image_id, parse_reference, parse_repository

HEX = "a" * 64

GOLDEN = [
    # input, full normalised form, familiar form
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("docker.io/user/app:v2", "docker.io/user/app:v2", "user/app:v2"),
    ("localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app:v1"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("ghcr.io/org/team/app", "ghcr.io/org/team/app:latest", "ghcr.io/org/team/app:latest"),
    ("registry.example.com:443/a-b/c__d.e", "registry.example.com:443/a-b/c__d.e:latest", "registry.example.com:443/a-b/c__d.e:latest"),
    (f"busybox@sha256:{HEX}", f"docker.io/library/busybox@sha256:{HEX}", f"busybox@sha256:{HEX}"),
    (f"busybox:1@sha256:{HEX}", f"docker.io/library/busybox:1@sha256:{HEX}", f"busybox:1@sha256:{HEX}"),
    ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"),
    ("app:Tag_1.x-y", "docker.io/library/app:Tag_1.x-y", "app:Tag_1.x-y"),
]


@pytest.mark.parametrize("text,full,familiar", GOLDEN)
def test_golden(text, full, familiar):
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


NEGATIVE = [
    ("", "invalid reference format"),
    ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
    ("user/App", "invalid reference format: repository name (user/App) must be lowercase"),
    ("busybox:-bad", "invalid reference format"),
    ("busybox:" + "x" * 129, "invalid reference format"),
    ("a:b:c", "invalid reference format"),
    ("busybox/", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("busybox@sha256:1234", "invalid reference format"),
    ("bus box", "invalid reference format"),
    (HEX, f"invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings"),
]


@pytest.mark.parametrize("text,message", NEGATIVE)
def test_negative(text, message):
    with pytest.raises(InvalidArgument) as exc:
        parse_reference(text)
    assert exc.value.message == message


def test_name_only_keeps_no_tag_when_asked():
    ref = parse_reference("busybox", default_tag=False)
    assert ref.tag is None and ref.familiar() == "busybox"
    assert parse_repository("user/app").name == "docker.io/user/app"
    with pytest.raises(InvalidArgument):
        parse_repository("user/app:v1")


def test_reference_is_a_value():
    a = parse_reference("busybox")
    assert a == Reference("docker.io", "library/busybox", "latest")
    assert a.with_tag("x").familiar() == "busybox:x"
    with pytest.raises(InvalidArgument):
        Reference("docker.io", "library/busybox", "bad tag")
    with pytest.raises(Exception):
        a.tag = "y"  # frozen


def test_is_image_id():
    assert is_image_id(HEX) and is_image_id("sha256:" + HEX)
    assert not is_image_id("busybox") and not is_image_id(HEX[:12])
