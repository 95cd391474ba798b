"""Distribution: moving images between machines through registries.

Two halves that speak the same protocol (the OCI distribution spec, which
is Docker's registry API v2) and share no code but the image formats:

    client side (the daemon's pull and push)
      client           one registry, one repository: manifests, blobs,
                       uploads, mounts, tags, as blocking calls
      client_http      pooled HTTP/1.1 to registries
      client_endpoint  which URLs a registry name means (https, insecure)
      client_progress  docker's progress messages
      auth, auth_config
                       challenges, scopes and tokens; credentials stored as
                       docker's config.json stores them
      pull, pull_platform
                       an image (or the platform's one from an index) into
                       the local store
      push, push_sources
                       an image out, skipping or mounting blobs the registry has

    server/ (``dockyard registry serve`` and ``gc``)
      a registry of its own: content-addressed storage shared by its
      repositories, resumable uploads verified before anything is visible,
      Basic and bearer-token auth; see server/__init__.py
"""
