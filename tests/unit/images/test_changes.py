import pytest

from dockyard.errors import InvalidArgument
from dockyard.images.changes import apply_changes
from dockyard.images.config import ContainerConfig


def apply(*changes, base=None):
    return apply_changes(base or ContainerConfig(), list(changes))


def test_cmd_and_entrypoint_forms():
    assert apply('CMD ["echo", "hi"]').cmd == ("echo", "hi")
    assert apply("CMD echo hi").cmd == ("/bin/sh", "-c", "echo hi")
    c = apply("ENTRYPOINT /init")
    assert c.entrypoint == ("/bin/sh", "-c", "/init") and c.cmd is None
    # ENTRYPOINT resets an inherited CMD but keeps one set alongside it.
    assert apply("ENTRYPOINT [\"/x\"]", base=ContainerConfig(cmd=("old",))).cmd is None
    assert apply("CMD [\"a\"]", "ENTRYPOINT [\"/x\"]").cmd == ("a",)


def test_env_forms_and_expansion():
    c = apply('ENV A=1 B="two words" C=x\\ y', "ENV D value with spaces", "ENV E=${A}-$B F=${MISSING:-dflt}")
    assert c.env == ("A=1", "B=two words", "C=x y", "D=value with spaces", "E=1-two words", "F=dflt")
    assert apply("ENV A=2", base=ContainerConfig(env=("A=1", "B=1"))).env == ("A=2", "B=1")


def test_workdir_user_label_expose_volume_stopsignal_onbuild():
    c = apply("WORKDIR /srv", "WORKDIR app", "USER nobody:nogroup", 'LABEL a=b "c d"=e', "EXPOSE 80 53/udp 8000-8001",
              'VOLUME ["/data", "/logs"]', "VOLUME /cache", "STOPSIGNAL SIGINT", "ONBUILD RUN make")
    assert c.working_dir == "/srv/app" and c.user == "nobody:nogroup"
    assert dict(c.labels) == {"a": "b", "c d": "e"}
    assert c.exposed_ports == ("53/udp", "80/tcp", "8000/tcp", "8001/tcp")
    assert c.volumes == ("/cache", "/data", "/logs")
    assert c.stop_signal == "SIGINT" and c.on_build == ("RUN make",)


def test_healthcheck():
    c = apply("HEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://x/")
    assert c.healthcheck == {"Test": ["CMD-SHELL", "curl -f http://x/"], "Interval": 90_000_000_000, "Retries": 3}
    assert apply("HEALTHCHECK NONE").healthcheck == {"Test": ["NONE"]}


@pytest.mark.parametrize(
    "change,message",
    [
        ("RUN ls", "RUN is not a valid change command"),
        ("from busybox", "from is not a valid change command"),
        ("COPY a b", "COPY is not a valid change command"),
        ("ENV", "ENV requires at least one argument"),
        ("ENV A", "ENV must have two arguments"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("EXPOSE 80/xyz", "invalid proto: xyz"),
        ('ENV A="unterminated', "unexpected end of statement while looking for matching \""),
    ],
)
def test_invalid_changes(change, message):
    with pytest.raises(InvalidArgument) as exc:
        apply(change)
    assert exc.value.message == message
