"""The Docker Engine API client the CLI uses.

Small and fast to import: stdlib only (http.client, socket, json).  ``api``
speaks HTTP/1.1 over the daemon's unix socket and maps error statuses back
to the kinds in ``dockyard.errors``; ``stream`` decodes what long-lived
responses carry (docker's multiplexed stdout/stderr frames, JSON lines).
"""
