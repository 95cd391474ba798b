"""Container networking: the pieces, each with one job.

    ipam.py       subnets for networks and addresses for endpoints, in SQLite
    netns.py      network namespaces as bind-mounted files (a container's sandbox)
    links.py      bridges and veth pairs through netlink (pyroute2)
    nftables.py   the one nftables table dockyard owns: NAT, publishing, isolation
    ports.py      published ports: planning, allocating, holding host ports
    dns.py        the embedded name server at 127.0.0.11 inside containers

``services/networks.py`` composes them: networks as the Engine API sees
them, and the endpoints a container gets when it starts.
"""
