# dockyard — make install | demo | test
# Everything runs as root on Debian 12 (namespaces, mounts, cgroups need it).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEB_PACKAGES := procps busybox-static tini runc crun nftables debootstrap iproute2 curl bc skopeo docker-registry
# docker-compose 1.x for the compose interoperability tests, without its
# recommended docker.io: dockerd is never a dependency.
NO_RECOMMENDS_PACKAGES := docker-compose
SOCK ?= /run/dockyard/dockyard.sock
DATA_ROOT ?= /var/lib/dockyard
export DOCKYARD_HOST ?= unix://$(SOCK)

.PHONY: install deps demo test test-unit daemon stop-daemon bench clean install-compose-plugin

# Compiled here: the CLI starts a fresh interpreter per command, and with
# PYTHONDONTWRITEBYTECODE set (as in this environment) it would recompile each time.
install: deps $(BIN)/dockyard
	@$(BIN)/python -m compileall -q src
	ln -sf $(CURDIR)/$(BIN)/dockyard /usr/local/bin/dockyard
	ln -sf $(CURDIR)/$(BIN)/dockyardd /usr/local/bin/dockyardd

# Debian packages the code calls; apt-get runs only when one is missing.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@missing=$$(for p in $(NO_RECOMMENDS_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages (no recommends): $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/dockyard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Start the daemon in the background unless one already answers on $(SOCK).
daemon: install
	@if curl -sf --unix-socket $(SOCK) http://d/_ping >/dev/null 2>&1; then \
		echo "dockyardd is running on $(SOCK)"; \
	else \
		mkdir -p $$(dirname $(SOCK)) /var/log; \
		nohup $(BIN)/dockyardd --data-root $(DATA_ROOT) --host unix://$(SOCK) >>/var/log/dockyardd.log 2>&1 & \
		for i in $$(seq 1 100); do curl -sf --unix-socket $(SOCK) http://d/_ping >/dev/null 2>&1 && break; sleep 0.1; done; \
		curl -sf --unix-socket $(SOCK) http://d/_ping >/dev/null || { tail -20 /var/log/dockyardd.log; exit 1; }; \
		echo "dockyardd started on $(SOCK) (log: /var/log/dockyardd.log)"; \
	fi

# Running containers keep running (their shims outlive the daemon).
stop-daemon:
	@pid=$$(cat $(DATA_ROOT)/dockyardd.lock 2>/dev/null); \
	if [ -n "$$pid" ] && kill $$pid 2>/dev/null; then echo "stopped dockyardd ($$pid)"; else echo "dockyardd is not running"; fi

demo: daemon
	@$(BIN)/dockyard image inspect busybox:latest >/dev/null 2>&1 || contrib/mkimage.sh busybox
	$(BIN)/dockyard run --rm busybox echo "Hello from a dockyard container!"
	$(BIN)/dockyard run --rm --hostname demo busybox sh -c 'echo "I am $$(hostname), pid $$$$, seeing $$(ls /proc | grep -c "^[0-9]") processes"'
	@echo
	@echo "Building the guide's multi-stage Flask app (the base images take a minute the first time)"
	examples/flask-app/demo.sh
	@echo
	@echo "The guide's full-stack compose example: nginx -> Flask -> Redis + PostgreSQL"
	examples/fullstack/demo.sh
	@echo
	@echo "Point the docker CLI at dockyard with:  export DOCKER_HOST=unix://$(SOCK)"

test: install
	$(BIN)/python -m pytest -q -x --timeout=300 tests

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

bench: daemon
	bench/run_latency.sh
	bench/build_cache.sh
	bench/network.sh
	bench/registry.sh
	bench/compose.sh

# `docker compose` through dockyard: the docker CLI's plugin directory gets a link
# to contrib/cli-plugins/docker-compose, unless a compose plugin is there already.
PLUGIN_DIR ?= $(HOME)/.docker/cli-plugins
install-compose-plugin: install
	@mkdir -p $(PLUGIN_DIR)
	@if [ -e $(PLUGIN_DIR)/docker-compose ] && [ "$$(readlink -f $(PLUGIN_DIR)/docker-compose)" != "$(CURDIR)/contrib/cli-plugins/docker-compose" ]; then \
		echo "$(PLUGIN_DIR)/docker-compose exists (another compose plugin); leaving it"; exit 1; \
	fi
	ln -sf $(CURDIR)/contrib/cli-plugins/docker-compose $(PLUGIN_DIR)/docker-compose

clean:
	rm -rf $(VENV) build src/*.egg-info
