"""What `tutor config save` renders with the labs plugin, parsed (YAML, Python AST, shell)."""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import subprocess
import textwrap
from importlib.metadata import version

import pytest
import yaml

from conftest import (
    LABS_JOBS,
    LABS_SERVICES,
    OPERATOR_TEMPLATE,
    REPO,
    SCALED_SETTINGS,
    Project,
    compose_env,
    container_env,
)

PLUGIN_VERSION = version("tutor-contrib-labs")
SECRET_KEYS = ("LABS_SERVICE_TOKEN", "LABS_ADMIN_TOKEN", "LABS_SECRETS_KEY", "LABS_TEMPORAL_MYSQL_PASSWORD")


def labs_names(names):
    return {name for name in names if name.startswith("labs-")}


# docker compose (tutor local) #####################################################################


def test_compose_services_have_image_healthcheck_environment_and_no_host_port(project: Project):
    services = project.compose()
    labs = labs_names(services)
    assert {"labs-api", "labs-worker"} <= labs <= LABS_SERVICES
    for name in labs:
        service = services[name]
        assert service.get("image"), f"{name} has no image"
        test = (service.get("healthcheck") or {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
        assert compose_env(service), f"{name} has no environment"
        assert all(isinstance(v, str) for v in compose_env(service).values()), name
        assert "ports" not in service, f"{name} publishes host ports: {service['ports']}"
        assert service.get("restart") == "unless-stopped", name
        assert service.get("network_mode") is None, name


def test_compose_jobs_have_image_environment_and_no_host_port(project: Project):
    jobs = project.compose_jobs()
    assert labs_names(jobs) == LABS_JOBS
    for name in LABS_JOBS:
        job = jobs[name]
        assert job.get("image") and compose_env(job), name
        assert "ports" not in job, name
        # Tutor runs tasks as `sh -e -c`, bypassing the admin-tools entrypoint.
        assert job.get("entrypoint") == [], name


def test_api_and_worker_are_the_product_image_with_its_two_commands(project: Project):
    services = project.compose()
    image = project.config()["LABS_DOCKER_IMAGE"]
    assert image.endswith(f":{PLUGIN_VERSION}"), image
    assert services["labs-api"]["image"] == services["labs-worker"]["image"] == image
    # As the repository's docker-compose.yml starts them.
    repo_compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    assert services["labs-api"]["command"] == repo_compose["api"]["command"]
    assert services["labs-worker"]["command"] == repo_compose["worker"]["command"]
    worker_env = compose_env(services["labs-worker"])
    assert worker_env["LABS_WORKER_HEALTH_FILE"] in services["labs-worker"]["healthcheck"]["test"][1]


def test_api_and_worker_share_config_secrets_and_templates(project: Project):
    services = project.compose()
    api, worker = compose_env(services["labs-api"]), compose_env(services["labs-worker"])
    config = project.config()
    assert api["LABS_SERVICE_TOKENS"] == config["LABS_SERVICE_TOKEN"]
    assert api["LABS_ADMIN_TOKENS"] == config["LABS_ADMIN_TOKEN"]
    for key in ("LABS_CONFIG", "LABS_SECRETS_KEY", "MONGODB_URI"):
        assert api[key] == worker[key], key
    assert api["LABS_SECRETS_KEY"] == config["LABS_SECRETS_KEY"]
    assert api["MONGODB_URI"] == config["LABS_MONGODB_URI"]
    for name in ("labs-api", "labs-worker"):
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert mounts["/app/config/tutor"] == "../plugins/labs/apps/config"
        assert mounts["/app/heat-templates/site"] == "../plugins/labs/apps/heat-templates"
        # Relative to env/local/, where docker-compose.yml is.
        assert (project.path("local") / mounts["/app/config/tutor"]).resolve() == project.path(
            "plugins", "labs", "apps", "config"
        ).resolve()
    assert api["LABS_CONFIG"] == "/app/config/tutor/labs.yaml"


def test_default_runs_its_own_temporal_on_tutors_mysql(default_project: Project):
    services = default_project.compose()
    temporal = services["labs-temporal"]
    env = compose_env(temporal)
    config = default_project.config()
    assert env["DB"] == "mysql8"
    assert env["MYSQL_SEEDS"] == config["MYSQL_HOST"] == "mysql"
    assert env["MYSQL_PWD"] == config["LABS_TEMPORAL_MYSQL_PASSWORD"]
    assert "mysql" in temporal["depends_on"]
    for name in ("labs-api", "labs-worker"):
        assert set(services[name]["depends_on"]) == {"mongodb", "labs-temporal"}
    assert "labs-temporal-ui" not in services
    assert default_project.yaml("plugins", "labs", "apps", "config", "labs.yaml")["temporal"] == {
        "address": "labs-temporal:7233",
        "namespace": "default",
        "taskQueue": "labs",
    }
    # Tutor's MongoDB, database "labs".
    assert config["LABS_MONGODB_URI"] == "mongodb://mongodb:27017/labs"


def test_mongodb_uri_follows_tutors_mongodb_settings(tmp_path):
    project = Project(tmp_path)
    project.tutor("plugins", "enable", "labs")
    project.tutor(
        "config",
        "save",
        "--set",
        "MONGODB_USERNAME=lab user",
        "--set",
        "MONGODB_PASSWORD=p/ss@w:rd",
        "--set",
        "MONGODB_REPLICA_SET=rs0",
        "--set",
        "MONGODB_USE_SSL=true",
    )
    assert project.config()["LABS_MONGODB_URI"] == (
        "mongodb://lab%20user:p%2Fss%40w%3Ard@mongodb:27017/labs?authSource=admin&replicaSet=rs0&tls=true"
    )


def test_scaled_uses_the_given_temporal_and_mongodb(scaled_project: Project):
    services = scaled_project.compose()
    assert "labs-temporal" not in services
    assert "labs-temporal-ui" in services
    for name in ("labs-api", "labs-worker"):
        assert services[name]["depends_on"] == ["mongodb"]
        assert compose_env(services[name])["MONGODB_URI"] == SCALED_SETTINGS["LABS_MONGODB_URI"]
    assert compose_env(services["labs-temporal-ui"])["TEMPORAL_ADDRESS"] == SCALED_SETTINGS["LABS_TEMPORAL_ADDRESS"]
    config_file = scaled_project.yaml("plugins", "labs", "apps", "config", "labs.yaml")
    assert config_file["temporal"]["address"] == SCALED_SETTINGS["LABS_TEMPORAL_ADDRESS"]
    assert config_file["temporal"]["namespace"] == "labs-prod"
    job_env = compose_env(scaled_project.compose_jobs()["labs-temporal-admin-job"])
    assert job_env["TEMPORAL_ADDRESS"] == SCALED_SETTINGS["LABS_TEMPORAL_ADDRESS"]


def test_provider_passwords_reach_api_and_worker(scaled_project: Project):
    services = scaled_project.compose()
    deployments = scaled_project.deployments()
    for name in ("labs-api", "labs-worker"):
        assert compose_env(services[name])["OS_PASSWORD_CLOUD_B"] == 'p@ss word: "quoted"'
        assert container_env(deployments[name])["OS_PASSWORD_CLOUD_B"] == 'p@ss word: "quoted"'


# Secrets ##########################################################################################


def test_secrets_are_generated_once_and_identical_across_saves(default_project: Project):
    before = default_project.saved_config()
    rendered_before = default_project.text("local", "docker-compose.yml")
    default_project.tutor("config", "save")
    after = default_project.saved_config()
    for key in SECRET_KEYS:
        assert before[key] and before[key] == after[key], key
    assert default_project.text("local", "docker-compose.yml") == rendered_before
    assert len({before[key] for key in SECRET_KEYS}) == len(SECRET_KEYS), "two secrets are equal"


def test_secrets_differ_between_projects(default_project: Project, scaled_project: Project):
    for key in SECRET_KEYS:
        assert default_project.config()[key] != scaled_project.config()[key], key


def test_secrets_key_is_in_the_products_format(project: Project):
    value = project.config()["LABS_SECRETS_KEY"]
    # src/config/env.ts, parseSecretsKeys: keyId:base64-of-32-bytes.
    match = re.fullmatch(r"([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/=]+)", value)
    assert match, value
    assert len(base64.b64decode(match.group(2), validate=True)) == 32
    for key in ("LABS_SERVICE_TOKEN", "LABS_ADMIN_TOKEN"):
        assert re.fullmatch(r"[A-Za-z0-9]{40}", project.config()[key]), key


# Open edX #########################################################################################


@pytest.mark.parametrize("service", ["lms", "cms"])
@pytest.mark.parametrize("variant", ["production", "development"])
def test_xblock_settings_hold_the_apis_service_token(project: Project, service: str, variant: str):
    settings = project.xblock_settings(service, variant)
    api_env = compose_env(project.compose()["labs-api"])
    assert settings["SERVICE_TOKEN"] == api_env["LABS_SERVICE_TOKENS"]
    assert settings["SERVICE_TOKEN"] == container_env(project.deployments()["labs-api"])["LABS_SERVICE_TOKENS"]
    # The API inside the cluster: the compose service and the k8s Service, on the API's port.
    assert settings["API_URL"] == "http://labs-api:8080"
    assert project.yaml("plugins", "labs", "apps", "config", "labs.yaml")["api"]["port"] == 8080
    config = project.config()
    scheme = "https" if config["ENABLE_HTTPS"] else "http"
    assert settings["PUBLIC_API_URL"] == f"{scheme}://{config['LABS_HOST']}"


def test_xblock_extra_settings_are_merged(scaled_project: Project):
    assert scaled_project.xblock_settings("lms", "production")["TIMEOUT"] == 20


def test_settings_bucket_is_the_one_the_xblock_reads():
    block = (REPO / "xblock" / "openedx_lab_xblock" / "block.py").read_text()
    assert re.search(r'block_settings_key\s*=\s*"LabXBlock"', block)
    client = (REPO / "xblock" / "openedx_lab_xblock" / "client.py").read_text()
    for key in ("API_URL", "SERVICE_TOKEN", "PUBLIC_API_URL"):
        assert f'"{key}"' in client, key


def test_xblock_is_installed_into_the_openedx_image(project: Project):
    dockerfile = project.text("build", "openedx", "Dockerfile")
    requirement = project.config()["LABS_XBLOCK_REQUIREMENT"]
    assert requirement == f"openedx-lab-xblock=={PLUGIN_VERSION}"
    assert f"$PIP_COMMAND install '{requirement}'" in dockerfile
    xblock_version = re.search(r'^version = "(.+)"', (REPO / "xblock" / "pyproject.toml").read_text(), re.M)
    assert xblock_version and xblock_version.group(1) == PLUGIN_VERSION


def test_cors_lists_the_lms_and_studio_origins(project: Project):
    config = project.config()
    scheme = "https" if config["ENABLE_HTTPS"] else "http"
    origins = project.yaml("plugins", "labs", "apps", "config", "labs.yaml")["api"]["corsOrigins"]
    assert f"{scheme}://{config['LMS_HOST']}" in origins
    assert f"{scheme}://{config['CMS_HOST']}" in origins


# Caddy ############################################################################################


def site_block(caddyfile: str, host: str) -> str:
    start = re.search(rf"^{re.escape(host)}\{{\$default_site_port\}} \{{$", caddyfile, re.M)
    assert start, f"no site block for {host}"
    depth, i = 0, start.end() - 1
    for j in range(i, len(caddyfile)):
        depth += {"{": 1, "}": -1}.get(caddyfile[j], 0)
        if depth == 0 and caddyfile[j] == "}" and (j + 1 == len(caddyfile) or caddyfile[j + 1] == "\n"):
            return caddyfile[i + 1 : j]
    raise AssertionError("unbalanced site block")


def test_caddyfile_routes_the_labs_host_to_the_api_with_websocket_upgrade(project: Project):
    config = project.config()
    assert config["LABS_HOST"] == f"labs.{config['LMS_HOST']}"
    block = site_block(project.text("apps", "caddy", "Caddyfile"), config["LABS_HOST"])
    matcher = re.search(r"@(\w+) \{([^}]*)\}", block)
    assert matcher and "Upgrade" in matcher.group(2) and "websocket" in matcher.group(2)
    assert re.search(rf"reverse_proxy @{matcher.group(1)} labs-api:8080", block)
    assert re.search(r"^\s*reverse_proxy labs-api:8080", block, re.M), "no route for plain requests"


# Kubernetes #######################################################################################


def test_k8s_deployments_have_image_probes_environment_and_no_host_port(project: Project):
    deployments = project.deployments()
    labs = labs_names(deployments)
    assert labs == labs_names(project.compose()), "k8s and compose run different services"
    for name in labs:
        spec = deployments[name]["spec"]["template"]["spec"]
        assert not spec.get("hostNetwork"), name
        for container in spec["containers"]:
            assert container.get("image"), name
            assert container.get("env"), name
            assert container.get("livenessProbe") or container.get("readinessProbe"), name
            assert all("hostPort" not in port for port in container.get("ports", [])), name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
    api = deployments["labs-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_k8s_replicas_follow_the_config(project: Project):
    config = project.config()
    deployments = project.deployments()
    assert deployments["labs-api"]["spec"]["replicas"] == config["LABS_API_REPLICAS"]
    assert deployments["labs-worker"]["spec"]["replicas"] == config["LABS_WORKER_REPLICAS"]


def test_k8s_scaled_replicas(scaled_project: Project, default_project: Project):
    assert scaled_project.deployments()["labs-api"]["spec"]["replicas"] == 3
    assert scaled_project.deployments()["labs-worker"]["spec"]["replicas"] == 4
    assert default_project.deployments()["labs-api"]["spec"]["replicas"] == 1


def test_k8s_environment_matches_compose(project: Project):
    services, deployments = project.compose(), project.deployments()
    for name in labs_names(deployments):
        k8s_env = container_env(deployments[name])
        for key, value in compose_env(services[name]).items():
            assert k8s_env.get(key) == value, f"{name} {key}"


def test_k8s_services_are_cluster_internal(project: Project):
    services = {d["metadata"]["name"]: d for d in project.manifests("services.yml") if d["kind"] == "Service"}
    deployments = project.deployments()
    # Every labs Deployment but the worker (which only polls Temporal) has its Service.
    assert labs_names(services) == labs_names(deployments) - {"labs-worker"}
    for name in labs_names(services):
        spec = services[name]["spec"]
        assert spec["type"] == "ClusterIP", name
        assert all("nodePort" not in port for port in spec["ports"]), name
        assert spec["selector"] == deployments[name]["spec"]["selector"]["matchLabels"], name


def test_k8s_job_runs_tasks_with_sh(project: Project):
    jobs = {d["metadata"]["name"]: d for d in project.manifests("jobs.yml") if d["kind"] == "Job"}
    assert labs_names(jobs) == LABS_JOBS
    container = jobs["labs-temporal-admin-job"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] and container["env"] and container["command"] == []


def test_k8s_configmaps_hold_the_rendered_files(project: Project):
    kustomization = project.yaml("kustomization.yml")
    generators = {g["name"]: g for g in kustomization["configMapGenerator"]}
    for name in ("labs-config", "labs-heat-templates"):
        files = generators[name]["files"]
        assert files, name
        for file in files:
            assert project.path(file).is_file(), file
        keys = [file.rsplit("/", 1)[-1] for file in files]
        assert len(keys) == len(set(keys)), f"{name}: two files with one key"
    deployments = project.deployments()
    for name in ("labs-api", "labs-worker"):
        volumes = {v["name"]: v for v in deployments[name]["spec"]["template"]["spec"]["volumes"]}
        assert volumes["config"]["configMap"]["name"] == "labs-config"
        assert volumes["heat-templates"]["configMap"]["name"] == "labs-heat-templates"


# The orchestrator's configuration and Heat templates ##############################################


def test_config_file_is_the_catalog_with_the_plugins_blocks(project: Project):
    config_file = project.yaml("plugins", "labs", "apps", "config", "labs.yaml")
    assert config_file["providers"] and config_file["labs"]
    assert "mongodb" not in config_file, "MONGODB_URI comes from the environment"
    assert config_file["api"]["host"] == "0.0.0.0"
    catalog = project.config()["LABS_CATALOG"]
    if isinstance(catalog, str):
        catalog = yaml.safe_load(catalog)
    assert config_file["labs"] == catalog["labs"]
    assert config_file["providers"] == catalog["providers"]


def test_scaled_catalog_keeps_its_own_api_settings(scaled_project: Project):
    origins = scaled_project.yaml("plugins", "labs", "apps", "config", "labs.yaml")["api"]["corsOrigins"]
    assert origins[0] == "https://apps.lms.example.org"
    assert "https://lms.example.org" in origins


def test_operator_heat_templates_are_copied_verbatim(scaled_project: Project, default_project: Project):
    copied = scaled_project.path("plugins", "labs", "apps", "heat-templates", "k8s-cluster.yaml")
    assert copied.read_text() == OPERATOR_TEMPLATE
    generator = {g["name"]: g for g in scaled_project.yaml("kustomization.yml")["configMapGenerator"]}
    assert "plugins/labs/apps/heat-templates/k8s-cluster.yaml" in generator["labs-heat-templates"]["files"]
    assert not default_project.path("plugins", "labs", "apps", "heat-templates", "k8s-cluster.yaml").exists()


NODE = shutil.which("node")
TSX = REPO / "node_modules" / "tsx"


def test_the_product_accepts_the_rendered_config_and_secrets_key(default_project: Project):
    """The product's own loader (src/config) reads what the plugin rendered."""
    # Never a skip: a test that passes because it did not run proves nothing.
    assert NODE and TSX.is_dir(), "node and the product's node_modules are needed: run npm ci first"
    env = compose_env(default_project.compose()["labs-worker"])
    script = textwrap.dedent(
        """
        const { loadConfig, parseSecretsKeys } = require('./src/config');
        const problems = [];
        const keys = parseSecretsKeys(process.env.KEY, problems);
        const config = loadConfig(process.env.FILE, { OS_PASSWORD_CLOUD_A: 'x' });
        console.log(JSON.stringify({ problems, keys: keys.length, temporal: config.temporal,
          labs: Object.keys(config.labs), cors: config.api.corsOrigins }));
        """
    )
    done = subprocess.run(
        [NODE, "--import", "tsx", "-e", script],
        cwd=REPO,
        env={
            "PATH": os.environ["PATH"],
            "KEY": env["LABS_SECRETS_KEY"],
            "FILE": str(default_project.path("plugins", "labs", "apps", "config", "labs.yaml")),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["problems"] == [] and result["keys"] == 1
    assert result["temporal"]["address"] == "labs-temporal:7233"
    assert result["labs"] == ["linux-basics"]
    assert "http://local.openedx.io" in result["cors"]


# Init tasks #######################################################################################

def test_init_tasks_are_valid_shell_for_existing_jobs(project: Project):
    tasks = project.init_tasks()
    assert [service for service, _ in tasks] == ["mysql", "labs-temporal-admin", "labs-temporal-admin"]
    jobs = project.compose_jobs()
    k8s_jobs = {d["metadata"]["name"] for d in project.manifests("jobs.yml")}
    for service, script in tasks:
        assert f"{service}-job" in jobs and f"{service}-job" in k8s_jobs, service
        checked = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
        assert checked.returncode == 0, f"{service}: {checked.stderr}\n{script}"


def test_init_tasks_set_up_temporal_on_mysql(default_project: Project):
    (_, mysql), (_, schema), (_, namespace) = default_project.init_tasks()
    config = default_project.config()
    for db in ("labs_temporal", "labs_temporal_visibility"):
        assert f"CREATE DATABASE IF NOT EXISTS \\`{db}\\`" in mysql
    assert config["LABS_TEMPORAL_MYSQL_PASSWORD"] in mysql
    assert "--plugin mysql8" in schema and "/etc/temporal/schema/mysql/v8" in schema
    # Every search attribute the workflows set (workflows/search-attributes.ts) is registered.
    declared = re.findall(
        r"defineSearchAttributeKey\('(\w+)', SearchAttributeType\.KEYWORD\)",
        (REPO / "workflows" / "search-attributes.ts").read_text(),
    )
    assert len(declared) >= 5
    for name in declared:
        assert re.search(rf"\b{name}\b", namespace.split("for name in ")[1].splitlines()[0]), name


def test_init_tasks_skip_mysql_and_schema_for_external_temporal(scaled_project: Project):
    (mysql, schema, namespace) = [script for _, script in scaled_project.init_tasks()]
    assert "CREATE" not in mysql and "temporal-sql-tool" not in schema
    assert "labs-prod" in namespace


# What docker compose, Caddy and kustomize make of the rendered files ##############################

VALIDATORS = os.environ.get("LABS_VALIDATORS")
def needs_validators(test):
    """A test that runs a validator: it fails (never skips) when scripts/test-tutor.sh built none."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        assert VALIDATORS, "no validators built: run scripts/test-tutor.sh (it builds them and sets LABS_VALIDATORS)"
        return test(*args, **kwargs)

    return run


def validate(tool: str, *args: str, env=None) -> str:
    done = subprocess.run(
        [os.path.join(VALIDATORS, tool), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ["PATH"], **(env or {})},
    )
    assert done.returncode == 0, f"{tool} {' '.join(args)}:\n{done.stderr}"
    return done.stdout


@needs_validators
def test_compose_files_load_as_docker_compose_loads_them(project: Project):
    """`tutor local` runs docker compose on these files, jobs on all three: load them likewise."""
    local = project.path("local")
    files = [local / name for name in ("docker-compose.yml", "docker-compose.prod.yml", "docker-compose.jobs.yml")]
    services = json.loads(validate("compose-validate", str(local), *map(str, files)))["services"]
    for name in labs_names(project.compose()) | LABS_JOBS:
        assert services[name]["image"], name
        assert not services[name].get("ports"), name
    for name in labs_names(project.compose()):
        assert services[name]["healthcheck"]["test"], name
        # Bind mounts resolved against env/local/: the rendered files.
        sources = {v["target"]: v["source"] for v in services[name].get("volumes", [])}
        for source in sources.values():
            assert os.path.isdir(source), source


def labs_routes(caddy_json: dict, host: str) -> list:
    for server in caddy_json["apps"]["http"]["servers"].values():
        for route in server["routes"]:
            if any(host in match.get("host", []) for match in route.get("match", [])):
                return route["handle"][0]["routes"]
    raise AssertionError(f"no route for {host}")


@needs_validators
def test_caddy_accepts_the_caddyfile_and_routes_websockets_to_the_api(project: Project):
    config = project.config()
    port = "" if config["ENABLE_HTTPS"] and config["ENABLE_WEB_PROXY"] else ":80"
    adapted = json.loads(
        validate("caddy-validate", str(project.path("apps", "caddy", "Caddyfile")), env={"default_site_port": port})
    )
    routes = labs_routes(adapted, config["LABS_HOST"])
    upgrade = [r for r in routes if "header_regexp" in json.dumps(r.get("match", []))]
    assert len(upgrade) == 1
    matcher = upgrade[0]["match"][0]["header_regexp"]
    assert re.search(matcher["Upgrade"]["pattern"], "WebSocket")
    assert re.search(matcher["Connection"]["pattern"], "keep-alive, Upgrade")
    for route in routes:
        proxy = route["handle"][0]
        assert proxy["handler"] == "reverse_proxy"
        assert proxy["upstreams"] == [{"dial": "labs-api:8080"}]
    assert upgrade[0]["handle"][0]["stream_close_delay"] > 0
    assert not routes[-1].get("match"), "the last route takes every other request"


@needs_validators
def test_kustomize_builds_what_tutor_k8s_applies(project: Project):
    built = [doc for doc in yaml.safe_load_all(validate("kustomize-build", str(project.path()))) if doc]
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in built}
    configmaps = {name for kind, name in names if kind == "ConfigMap"}
    deployments = {doc["metadata"]["name"]: doc for doc in built if doc["kind"] == "Deployment"}
    assert labs_names(deployments) == labs_names(project.deployments())
    for name in ("labs-api", "labs-worker"):
        spec = deployments[name]["spec"]["template"]["spec"]
        for volume in spec["volumes"]:
            # The generated, hash-suffixed ConfigMap: pods roll when the files change.
            assert volume["configMap"]["name"] in configmaps, volume
            assert re.fullmatch(r"labs-(config|heat-templates)-[a-z0-9]{10}", volume["configMap"]["name"])
        assert deployments[name]["metadata"]["namespace"] == project.config()["K8S_NAMESPACE"]
    heat = next(doc for doc in built if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("labs-heat-templates-"))
    assert "README.md" in heat["data"]
