"""``/system/df``: what images, containers, volumes and the build cache occupy.

Sizes are docker's: an image's Size is all its layers, SharedSize the part
other images share with it, LayersSize every unique layer once; a
container's SizeRw is its writable layer; a volume's size is what is in it.
BuildCache lists the builder's cache records with the size each step added.
"""

from __future__ import annotations

from .container_views import list_entry


def system_df(images, store, containers, volumes, describe_mounts, build_cache=lambda: []) -> dict:
    all_containers = containers.all()
    layer_users: dict[str, int] = {}
    layer_size: dict[str, int] = {}
    image_docs = images.list(all=True)
    for img in image_docs:
        for layer in store.layers(img["Id"]):
            key = str(layer.chain_id)
            layer_users[key] = layer_users.get(key, 0) + 1
            layer_size[key] = layer.size
    for img in image_docs:
        shared = sum(layer_size[str(layer.chain_id)] for layer in store.layers(img["Id"])
                     if layer_users[str(layer.chain_id)] > 1)
        img["SharedSize"] = shared
        img["Containers"] = sum(1 for c in all_containers if c.image_id == img["Id"])
    container_docs = []
    for c in all_containers:
        doc = list_entry(c, describe_mounts(c))
        try:
            doc["SizeRw"] = store.snapshotter.usage(c.id)
        except Exception:  # noqa: BLE001 - a container without a rootfs any more has no size
            doc["SizeRw"] = 0
        doc["SizeRootFs"] = doc["SizeRw"] + next((i["Size"] for i in image_docs if i["Id"] == c.image_id), 0)
        container_docs.append(doc)
    volume_docs = [v.to_api(volumes.usage(v.name)) for v in volumes.list()]
    return {
        "LayersSize": sum(layer_size.values()),
        "Images": image_docs,
        "Containers": container_docs,
        "Volumes": volume_docs,
        "BuildCache": build_cache(),
    }
