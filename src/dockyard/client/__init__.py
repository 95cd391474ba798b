"""The Docker Engine API client the CLI uses.

Small and fast to import: stdlib only (socket, json), and not even
``http.client``, whose ``email`` and ``ssl`` imports would cost more than the
rest of the CLI.  ``connection`` is the HTTP/1.1 on the daemon's unix
socket; ``api`` speaks the Engine API over it and maps error statuses back
to the kinds in ``dockyard.errors``; ``stream`` decodes what long-lived
responses carry (docker's multiplexed stdout/stderr frames, JSON lines).
"""
