import hashlib

import pytest

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest, as_digest
from dockyard.errors import InvalidArgument


def test_parse_and_format():
    hex_ = hashlib.sha256(b"x").hexdigest()
    d = Digest.parse(f"sha256:{hex_}")
    assert str(d) == f"sha256:{hex_}" and d.short == hex_[:12]
    assert d == Digest.from_bytes(b"x") == as_digest(str(d))


@pytest.mark.parametrize("text", ["", "sha256", "sha256:", "sha256:abc", "md5:" + "a" * 64, "sha256:" + "A" * 64, "sha256:" + "g" * 64])
def test_invalid(text):
    with pytest.raises(InvalidArgument):
        Digest.parse(text)


def test_descriptor_json_round_trip():
    d = Descriptor("application/x", Digest.from_bytes(b"y"), 1)
    assert Descriptor.from_json(d.to_json()) == d
    with pytest.raises(InvalidArgument):
        Descriptor.from_json({"digest": "nope", "size": 1})
