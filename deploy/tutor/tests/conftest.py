"""Tutor projects rendered once per test session, in temporary TUTOR_ROOTs.

Each is made the way an operator makes theirs: `tutor plugins enable labs`, then
`tutor config save` (with `--set` for the scaled one). No Docker: the tests parse what Tutor
wrote under env/.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml

#: The `tutor` of the venv running the tests (scripts/test-tutor.sh).
TUTOR = Path(sys.executable).with_name("tutor")
REPO = Path(__file__).resolve().parents[3]

LABS_SERVICES = {"labs-api", "labs-worker", "labs-temporal", "labs-temporal-ui"}
LABS_JOBS = {"labs-temporal-admin-job"}

#: An operator's catalog for the scaled project: their cloud and a lab on their own template.
SCALED_CATALOG = textwrap.dedent(
    """\
    providers:
      - name: cloud-b
        auth:
          authUrl: https://keystone.b.example:5000/v3
          username: labs
          passwordEnv: OS_PASSWORD_CLOUD_B
          projectName: labs
          userDomainName: Default
          projectDomainName: Default
        region: RegionTwo
        capacity: 300
    labs:
      k8s-cluster:
        template: site/k8s-cluster.yaml
        providers: [cloud-b]
        connection: { protocol: ssh, hostOutput: public_ip, port: 22, username: training }
        idleTimeout: 20m
        deleteAfter: 7d
    api:
      corsOrigins: [https://apps.lms.example.org]
    """
)
#: A Heat template with what Jinja would choke on, to show it is copied verbatim.
OPERATOR_TEMPLATE = textwrap.dedent(
    """\
    heat_template_version: 2018-08-31
    description: "not Jinja: {{ learner }} {% stays %}"
    resources: {}
    """
)
SCALED_SETTINGS = {
    "LMS_HOST": "lms.example.org",
    "CMS_HOST": "studio.lms.example.org",
    "ENABLE_HTTPS": "true",
    "LABS_API_REPLICAS": "3",
    "LABS_WORKER_REPLICAS": "4",
    "LABS_TEMPORAL_ADDRESS": "temporal-frontend.temporal.svc:7233",
    "LABS_TEMPORAL_NAMESPACE": "labs-prod",
    "LABS_MONGODB_URI": "mongodb://m1:27017,m2:27017,m3:27017/labs?replicaSet=rs0",
    "LABS_RUN_TEMPORAL_UI": "true",
    "LABS_ENVIRONMENT": '{"OS_PASSWORD_CLOUD_B": "p@ss word: \\"quoted\\""}',
    "LABS_CATALOG": SCALED_CATALOG,
    "LABS_XBLOCK_SETTINGS": '{"TIMEOUT": 20}',
}


#: Tutor's view of a project, through its Python API: the full configuration and the plugin's
#: init tasks rendered with it (what `tutor local do init` would run).
LOAD_PROJECT = """
import json, sys
from tutor import config as tutor_config, env as tutor_env, hooks
hooks.Actions.CORE_READY.do()
hooks.Actions.PROJECT_ROOT_READY.do(sys.argv[1])
config = tutor_config.load(sys.argv[1])
tasks = hooks.Filters.CLI_DO_INIT_TASKS.iterate_from_context(hooks.Contexts.app("labs").name)
print(json.dumps({
    "config": config,
    "tasks": [[service, tutor_env.render_str(config, task)] for service, task in tasks],
}, default=str))
"""


class Project:
    """One Tutor project root and readers of what `tutor config save` rendered into it."""

    def __init__(self, root: Path):
        self.root = root
        self._loaded: Optional[Dict[str, Any]] = None

    def tutor(self, *args: str) -> str:
        env = {
            **os.environ,
            "TUTOR_ROOT": str(self.root),
            "TUTOR_PLUGINS_ROOT": str(self.root / "_plugins"),
        }
        done = subprocess.run(
            [str(TUTOR), *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise AssertionError(
                f"tutor {' '.join(args)} exited with {done.returncode}:\n"
                f"{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def saved_config(self) -> Dict[str, Any]:
        """config.yml: what the operator set and the secrets generated once."""
        return yaml.safe_load((self.root / "config.yml").read_text())

    def config(self) -> Dict[str, Any]:
        """The whole configuration, defaults included, as Tutor renders templates with it."""
        return self.loaded()["config"]

    def init_tasks(self) -> List[List[str]]:
        """The plugin's init tasks as `tutor ... do init` runs them: [service, script]."""
        return self.loaded()["tasks"]

    def loaded(self) -> Dict[str, Any]:
        if self._loaded is None:
            done = subprocess.run(
                [sys.executable, "-c", LOAD_PROJECT, str(self.root)],
                cwd=self.root,
                env={
                    "PATH": os.environ["PATH"],
                    "TUTOR_ROOT": str(self.root),
                    "TUTOR_PLUGINS_ROOT": str(self.root / "_plugins"),
                },
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            self._loaded = json.loads(done.stdout.strip().splitlines()[-1])
        return self._loaded

    def path(self, *parts: str) -> Path:
        return self.root.joinpath("env", *parts)

    def text(self, *parts: str) -> str:
        return self.path(*parts).read_text()

    def yaml(self, *parts: str) -> Any:
        return yaml.safe_load(self.text(*parts))

    def manifests(self, name: str) -> List[Dict[str, Any]]:
        return [doc for doc in yaml.safe_load_all(self.text("k8s", name)) if doc]

    def compose(self) -> Dict[str, Any]:
        return self.yaml("local", "docker-compose.yml")["services"]

    def compose_jobs(self) -> Dict[str, Any]:
        return self.yaml("local", "docker-compose.jobs.yml")["services"]

    def deployments(self) -> Dict[str, Dict[str, Any]]:
        return {
            d["metadata"]["name"]: d for d in self.manifests("deployments.yml") if d["kind"] == "Deployment"
        }

    def xblock_settings(self, service: str, variant: str) -> Dict[str, Any]:
        """XBLOCK_SETTINGS["LabXBlock"] as assigned in a rendered LMS/CMS settings file."""
        source = self.text("apps", "openedx", "settings", service, f"{variant}.py")
        found = []
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "XBLOCK_SETTINGS"
                    and isinstance(target.slice, ast.Constant)
                    and target.slice.value == "LabXBlock"
                ):
                    found.append(ast.literal_eval(node.value))
        assert len(found) == 1, f"{service}/{variant}.py assigns XBLOCK_SETTINGS['LabXBlock'] {len(found)} times"
        return found[0]


def compose_env(service: Dict[str, Any]) -> Dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return env


def container_env(deployment: Dict[str, Any]) -> Dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value") for item in container.get("env", [])}


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = Project(tmp_path_factory.mktemp("tutor-default"))
    project.tutor("plugins", "enable", "labs")
    project.tutor("config", "save")
    return project


@pytest.fixture(scope="session")
def scaled_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = Project(tmp_path_factory.mktemp("tutor-scaled"))
    templates = project.root / "labs" / "heat-templates"
    templates.mkdir(parents=True)
    (templates / "k8s-cluster.yaml").write_text(OPERATOR_TEMPLATE)
    project.tutor("plugins", "enable", "labs")
    args = []
    for key, value in SCALED_SETTINGS.items():
        args += ["--set", f"{key}={value}"]
    project.tutor("config", "save", *args)
    return project


@pytest.fixture(scope="session", params=["default", "scaled"])
def project(request: pytest.FixtureRequest) -> Project:
    return request.getfixturevalue(f"{request.param}_project")
