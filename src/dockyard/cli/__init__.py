"""The ``dockyard`` command line: docker's syntax over the Engine API.

    main.py        global options (-H, --version), the command table, exit statuses
    flags.py       pflag-style flag parsing and docker's usage errors
    session.py     per-invocation context, StatusError, error wording
    run.py         run / create / start / attach (the attaching flow)
    terminal.py    raw mode, window size, the stdin/stdout pump, detach keys
    runconfig.py   run/create flags → the create body (pure)
    mounts.py      -v / --mount / --tmpfs → Binds, Volumes, Mounts, Tmpfs (pure)
    netconfig.py   --network / -p / --dns / --add-host … → NetworkMode, endpoints,
                   PortBindings, Dns, ExtraHosts (pure)
    execs.py       exec
    containers.py  ps, stop, restart, kill, rm, wait, logs
    processes.py   top, pause, unpause
    settings.py    rename, update, port
    stats.py       stats (docker's CPU/memory arithmetic, the redraw loop)
    filesystem.py  cp, diff, export, commit
    archive.py     cp's copy rules over tar streams (local side)
    images.py      images, rmi, tag, history, import
    build.py       build: flags → the POST /build query, the context as the body
    build_display.py  the build's message stream shown plain, on a terminal, or quietly
    volumes.py     volume create / ls / inspect / rm
    networks.py    network create / ls / inspect / rm / prune / connect / disconnect
    prune.py       container / image / volume / builder / system prune
    diskusage.py   system df
    system.py      inspect, info, version, events
    template.py    the Go text/template subset behind --format
    formatter.py   table/json/template rendering, Go tabwriter alignment
    units.py       go-units: human durations and sizes, memory and CPU parsing

Modules are imported only by the command that needs them, so ``dockyard ps``
stays cheap to start.
"""
