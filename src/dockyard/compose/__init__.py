"""The compose model: compose files in, one normalized project out.

The pipeline, each arrow a pure function with its own tests (compose v1's
load → interpolate → validate → merge → finalize)::

    files ──load──▶ raw dicts + key lines (file:line on bad YAML, duplicate keys)
          ──interpolate──▶ ${VAR} substituted (environment over .env)
          ──validate_shape──▶ unknown keys / wrong types rejected per file
          ──normalize──▶ short syntax rewritten to long, per file
          ──resolve_extends──▶ services built on their ``extends`` base
          ──merge──▶ one dict, later files override earlier ones (!reset, !override)
          ──select_services──▶ services of inactive profiles dropped
          ──finalize──▶ project name, default network, resource names
          ──validate_references──▶ undefined networks/volumes/services, cycles

Entry points: :func:`load_project` and :func:`to_config_yaml`.
"""

from dockyard.compose.project import Project, load_project, to_config_yaml

__all__ = ["Project", "load_project", "to_config_yaml"]
