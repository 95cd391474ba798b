from dockyard.services.events import Event


def test_filters():
    e = Event("container", "start", "abc123", {"name": "web", "image": "busybox", "tier": "front"})
    assert e.matches({})
    assert e.matches({"type": ["container"], "event": ["start", "die"]})
    assert e.matches({"container": ["web"]}) and e.matches({"container": ["abc"]})
    assert not e.matches({"container": ["db"]})
    assert e.matches({"image": ["busybox"]}) is False  # an image filter selects image events
    assert e.matches({"label": ["tier=front"]}) and not e.matches({"label": ["tier=back"]})
    api = e.to_api()
    assert api["Type"] == "container" and api["status"] == "start" and api["Actor"]["ID"] == "abc123"
