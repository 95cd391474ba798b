"""The ``dockyard`` command line: docker's syntax over the Engine API.

    main.py        global options (-H, --version), the command table, exit statuses
    flags.py       pflag-style flag parsing and docker's usage errors
    session.py     per-invocation context, StatusError, error wording
    run.py         run / create / start / attach (the attaching flow)
    runconfig.py   run/create flags → the create body (pure)
    terminal.py    raw mode, window size, the stdin/stdout pump, detach keys
    containers.py  ps, stop, restart, kill, rm, wait, logs, container prune
    images.py      images, rmi, tag, history, import, image prune
    system.py      inspect, info, version, events
    template.py    the Go text/template subset behind --format
    formatter.py   table/json/template rendering, Go tabwriter alignment
    units.py       go-units: human durations and sizes, memory and CPU parsing

Modules are imported only by the command that needs them, so ``dockyard ps``
stays cheap to start.
"""
