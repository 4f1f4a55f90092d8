"""Tutor plugin "labs": the lab orchestrator (API, worker, Temporal) beside Open edX.

What it adds to a Tutor project, all from the templates and patches next to this file:

- config: ``LABS_*`` defaults and secrets generated once (service and admin tokens, the
  secrets key in the product's ``keyId:base64`` format, Temporal's MySQL password);
- services: ``labs-api``, ``labs-worker`` and, unless ``LABS_TEMPORAL_ADDRESS`` names an
  external cluster, ``labs-temporal`` on Tutor's MySQL (optional ``labs-temporal-ui``), for
  ``tutor local`` (docker compose) and ``tutor k8s``; none publishes a host port;
- init tasks: Temporal's MySQL databases and user, its schema, the namespace and the lab
  search attributes;
- Caddy: ``LABS_HOST`` to the API, WebSocket upgrades (the terminal) included;
- Open edX: the XBlock in the openedx image and its ``XBLOCK_SETTINGS["LabXBlock"]``;
- the orchestrator's configuration (``LABS_CATALOG`` plus what the plugin manages) and the
  operator's Heat templates (``$(tutor config printroot)/labs/heat-templates/``), rendered into
  ``env/plugins/labs/apps/`` and mounted read-only into the API and the worker.
"""

from __future__ import annotations

import base64
import json
import os
import pprint
import secrets
import typing as t
from datetime import datetime, timezone
from importlib import resources
from urllib.parse import quote

import click
import jinja2
import yaml
from tutor import exceptions, hooks

from .__about__ import __version__

PACKAGE = resources.files("tutorlabs")

#: Where, in the Tutor project root, the operator keeps their own Heat templates.
OPERATOR_DIR = "labs"
#: Template prefix of those templates (a folder of OPERATOR_DIR), and where they are rendered.
HEAT_TEMPLATES_PREFIX = "heat-templates/"

#: The catalog a fresh project starts with: the product's config/compose.yaml example. An
#: operator replaces it with their clouds and labs (docs/deploy-tutor.md).
DEFAULT_CATALOG: dict[str, t.Any] = {
    "providers": [
        {
            "name": "cloud-a",
            "auth": {
                "authUrl": "https://keystone.example.org:5000/v3",
                "username": "labs",
                "passwordEnv": "OS_PASSWORD_CLOUD_A",
                "projectName": "labs",
                "userDomainName": "Default",
                "projectDomainName": "Default",
            },
            "region": "RegionOne",
            "capacity": 50,
        }
    ],
    "labs": {
        "linux-basics": {
            "template": "single-vm.yaml",
            "parameters": {
                "flavor": "m1.small",
                "image": "debian-12",
                "network": "private",
                "external_network": "public",
            },
            "providers": ["cloud-a"],
            "connection": {
                "protocol": "ssh",
                "hostOutput": "public_ip",
                "port": 22,
                "username": "training",
            },
            "secretOutputs": ["private_key"],
            "launchTimeout": "10m",
            "idleTimeout": "15m",
            "deleteAfter": "14d",
            "maxLifetime": "90d",
        }
    },
}

CONFIG_DEFAULTS: dict[str, t.Any] = {
    "VERSION": __version__,
    # Built from this repository's Dockerfile; the tag follows the plugin's version.
    "DOCKER_IMAGE": "{{ DOCKER_REGISTRY }}openedx-labs/orchestrator:{{ LABS_VERSION }}",
    # The public host of the API: learners' browsers send heartbeats and open terminals there.
    "HOST": "labs.{{ LMS_HOST }}",
    "LOG_LEVEL": "info",
    "API_REPLICAS": 1,
    "WORKER_REPLICAS": 1,
    # MongoDB: Tutor's own (its MONGODB_* settings), database LABS_MONGODB_DATABASE. Set
    # LABS_MONGODB_URI to a replica set's URI to use another.
    "MONGODB_DATABASE": "labs",
    "MONGODB_URI": (
        "mongodb://"
        "{% if MONGODB_USERNAME %}{{ MONGODB_USERNAME|labs_urlquote }}:"
        "{{ MONGODB_PASSWORD|labs_urlquote }}@{% endif %}"
        "{{ MONGODB_HOST }}:{{ MONGODB_PORT }}/{{ LABS_MONGODB_DATABASE }}"
        "{% set labs_mongo_options = ["
        "MONGODB_USERNAME and 'authSource=' ~ MONGODB_AUTH_SOURCE,"
        "MONGODB_AUTH_MECHANISM and 'authMechanism=' ~ MONGODB_AUTH_MECHANISM,"
        "MONGODB_REPLICA_SET and 'replicaSet=' ~ MONGODB_REPLICA_SET,"
        "MONGODB_USE_SSL and 'tls=true']|select|list %}"
        "{% if labs_mongo_options %}?{{ labs_mongo_options|join('&') }}{% endif %}"
    ),
    # Temporal: empty runs our own server (labs-temporal) on Tutor's MySQL; host:port uses that
    # cluster instead (then no labs-temporal service, no MySQL databases, no schema job).
    "TEMPORAL_ADDRESS": "",
    "TEMPORAL_NAMESPACE": "default",
    "TEMPORAL_TASK_QUEUE": "labs",
    # Closed lab workflows stay visible in Temporal UI this long.
    "TEMPORAL_RETENTION": "30d",
    # Whether `tutor ... do init` creates the namespace and the lab search attributes (also on an
    # external cluster; turn off where the init job cannot reach its admin API, e.g. Temporal
    # Cloud, and register them there once by hand).
    "TEMPORAL_SETUP_NAMESPACE": True,
    "TEMPORAL_DOCKER_IMAGE": "docker.io/temporalio/server:1.31.0",
    "TEMPORAL_ADMIN_TOOLS_DOCKER_IMAGE": "docker.io/temporalio/admin-tools:1.31.0",
    "TEMPORAL_MYSQL_DATABASE": "labs_temporal",
    "TEMPORAL_MYSQL_VISIBILITY_DATABASE": "labs_temporal_visibility",
    "TEMPORAL_MYSQL_USERNAME": "labs_temporal",
    # Temporal UI: no login of its own, so no public route; see docs/deploy-tutor.md.
    "RUN_TEMPORAL_UI": False,
    "TEMPORAL_UI_DOCKER_IMAGE": "docker.io/temporalio/ui:2.49.1",
    # The orchestrator's configuration file without what the plugin manages (temporal, mongodb,
    # api host/port): providers, labs, and any other block of docs/operations.md.
    "CATALOG": DEFAULT_CATALOG,
    # Extra environment of the API and the worker: the providers' passwordEnv/secretEnv values.
    "ENVIRONMENT": {},
    # Browser origins besides the LMS and Studio that may send heartbeats and open terminals.
    "CORS_ORIGINS": [],
    # The XBlock, installed into the openedx image (`tutor images build openedx`).
    "XBLOCK_REQUIREMENT": "openedx-lab-xblock=={{ LABS_VERSION }}",
    # Extra keys of XBLOCK_SETTINGS["LabXBlock"] (TIMEOUT, ACTIONS_PER_MINUTE, READS_PER_MINUTE).
    "XBLOCK_SETTINGS": {},
}

CONFIG_UNIQUE: dict[str, t.Any] = {
    "SERVICE_TOKEN": "{{ 40|random_string }}",
    "ADMIN_TOKEN": "{{ 40|random_string }}",
    "SECRETS_KEY": "{{ 'tutor'|labs_secrets_key }}",
    "TEMPORAL_MYSQL_PASSWORD": "{{ 24|random_string }}",
}


# Template filters ################################################################################


def labs_secrets_key(key_id_prefix: str) -> str:
    """A new LABS_SECRETS_KEY: ``keyId:base64`` of 32 random bytes (src/config/env.ts).

    The key id is the prefix and the current month (``tutor202612``), so a rotated key
    (``tutor202707:NEW,tutor202612:OLD``) gets a distinct id.
    """
    key_id = f"{key_id_prefix}{datetime.now(timezone.utc):%Y%m}"
    key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    return f"{key_id}:{key}"


def labs_urlquote(value: t.Any) -> str:
    """Percent-encode everything but unreserved characters (user and password of a URI)."""
    return quote(str(value), safe="")


def labs_quote(value: t.Any) -> str:
    """A YAML double-quoted scalar (JSON string syntax) for any value, e.g. an env value."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return json.dumps(str(value))


def _parse_mapping(value: t.Any, name: str) -> dict[str, t.Any]:
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value) if value.strip() else {}
        except yaml.YAMLError as e:
            raise exceptions.TutorError(f"{name} is not valid YAML: {e}") from e
    if not isinstance(value, dict):
        raise exceptions.TutorError(f"{name} must be a mapping, got {type(value).__name__}")
    return value


@jinja2.pass_context
def labs_config(context: t.Any, header: str) -> str:
    """The orchestrator's YAML configuration: LABS_CATALOG with the plugin's blocks on top.

    ``header`` becomes its first (comment) line. The plugin owns ``temporal`` and the API's
    ``host`` and ``port``; ``api.corsOrigins`` is the catalog's plus the LMS and Studio
    origins and LABS_CORS_ORIGINS; MongoDB's URI reaches the processes as MONGODB_URI, so a
    ``mongodb`` block of the catalog is dropped (it would take precedence over it).
    """
    merged = dict(_parse_mapping(context["LABS_CATALOG"], "LABS_CATALOG"))
    merged.pop("mongodb", None)
    scheme = "https" if context["ENABLE_HTTPS"] else "http"
    temporal = merged.get("temporal") if isinstance(merged.get("temporal"), dict) else {}
    merged["temporal"] = {
        **temporal,
        "address": context["LABS_TEMPORAL_ADDRESS"] or "labs-temporal:7233",
        "namespace": context["LABS_TEMPORAL_NAMESPACE"],
        "taskQueue": context["LABS_TEMPORAL_TASK_QUEUE"],
    }
    api = merged.get("api") if isinstance(merged.get("api"), dict) else {}
    origins = list(api.get("corsOrigins") or []) + [
        f"{scheme}://{context['LMS_HOST']}",
        f"{scheme}://{context['CMS_HOST']}",
        *(context["LABS_CORS_ORIGINS"] or []),
    ]
    merged["api"] = {
        **api,
        "host": "0.0.0.0",
        "port": 8080,
        "corsOrigins": list(dict.fromkeys(origins)),
    }
    body = yaml.safe_dump(merged, sort_keys=False, allow_unicode=True, width=1000)
    return f"{header}\n{body}"


def labs_python(settings: dict[str, t.Any], extra: t.Any = None) -> str:
    """A Python dict literal of ``settings`` updated with ``extra`` (for a settings file)."""
    merged = {**settings, **_parse_mapping(extra or {}, "LABS_XBLOCK_SETTINGS")}
    return pprint.pformat(merged, sort_dicts=False, width=100)


hooks.Filters.ENV_TEMPLATE_FILTERS.add_items(
    [
        ("labs_secrets_key", labs_secrets_key),
        ("labs_urlquote", labs_urlquote),
        ("labs_quote", labs_quote),
        ("labs_config", labs_config),
        ("labs_python", labs_python),
    ]
)

# Configuration ###################################################################################

hooks.Filters.CONFIG_DEFAULTS.add_items(
    [(f"LABS_{key}", value) for key, value in CONFIG_DEFAULTS.items()]
)
hooks.Filters.CONFIG_UNIQUE.add_items(
    [(f"LABS_{key}", value) for key, value in CONFIG_UNIQUE.items()]
)

# Templates and patches ###########################################################################


def _project_root() -> t.Optional[str]:
    """The Tutor project root of the running command (``--root`` or TUTOR_ROOT)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        root = ctx.find_root().params.get("root")
        if root:
            return str(root)
    return os.environ.get("TUTOR_ROOT") or None


def _operator_template_roots() -> list[str]:
    root = _project_root()
    if not root:
        return []
    folder = os.path.abspath(os.path.join(root, OPERATOR_DIR))
    return [folder] if os.path.isdir(os.path.join(folder, HEAT_TEMPLATES_PREFIX)) else []


@hooks.Filters.ENV_TEMPLATE_ROOTS.add()
def _template_roots(roots: list[str]) -> list[str]:
    return roots + [str(PACKAGE / "templates")] + _operator_template_roots()


hooks.Filters.ENV_TEMPLATE_TARGETS.add_items(
    [
        # env/plugins/labs/apps/{config,heat-templates}/
        ("labs/apps", "plugins"),
        # The operator's templates, next to the plugin's README in env/plugins/labs/apps/.
        (HEAT_TEMPLATES_PREFIX, "plugins/labs/apps"),
    ]
)


@hooks.Filters.IS_FILE_RENDERED.add()
def _copy_heat_templates_verbatim(rendered: bool, template_name: str) -> bool:
    # Heat templates are not Jinja: copied as they are (a `{{` in a user_data script stays).
    return rendered and not template_name.startswith(HEAT_TEMPLATES_PREFIX)


for path in sorted((PACKAGE / "patches").iterdir()):
    if path.is_file():
        hooks.Filters.ENV_PATCHES.add_item((path.name, path.read_text(encoding="utf-8")))

# Init tasks: run in this order by `tutor local|k8s do init` (and `launch`), after Tutor's own
# MySQL task. Each renders to a no-op where it does not apply (external Temporal).
hooks.Filters.CLI_DO_INIT_TASKS.add_items(
    [
        ("mysql", (PACKAGE / "tasks" / "mysql-init").read_text(encoding="utf-8")),
        (
            "labs-temporal-admin",
            (PACKAGE / "tasks" / "temporal-schema").read_text(encoding="utf-8"),
        ),
        (
            "labs-temporal-admin",
            (PACKAGE / "tasks" / "temporal-namespace").read_text(encoding="utf-8"),
        ),
    ]
)

# Images: the product image is built from this repository (docs/deploy-tutor.md), then pulled
# or pushed by Tutor like its own.
hooks.Filters.IMAGES_PULL.add_items(
    [
        ("labs", "{{ LABS_DOCKER_IMAGE }}"),
        ("labs-temporal", "{{ LABS_TEMPORAL_DOCKER_IMAGE }}"),
        ("labs-temporal-admin", "{{ LABS_TEMPORAL_ADMIN_TOOLS_DOCKER_IMAGE }}"),
    ]
)
hooks.Filters.IMAGES_PUSH.add_item(("labs", "{{ LABS_DOCKER_IMAGE }}"))


@hooks.Filters.APP_PUBLIC_HOSTS.add()
def _public_hosts(hosts: list[str], context_name: str) -> list[str]:
    if context_name == "local":
        hosts.append("{{ LABS_HOST }}")
    return hosts
