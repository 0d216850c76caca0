"""docker-compose.yml, the Dockerfile and .dockerignore agree with the code.

The compose file is parsed with PyYAML (`safe_load` resolves the `x-` anchors and merge keys) and
compared with what the code reads: setting names, entry points, task names, the instance folder.
Nothing here needs Docker.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from sqlalchemy.engine import make_url

from intake import config as cfg

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
WORKERS = {"worker-text": "text", "worker-media": "media"}  # service -> the queue it works
APP_SERVICES = ("web", *WORKERS, "beat")
ALL_SERVICES = (*APP_SERVICES, "db", "redis")
ONE_SHOT = "migrate"
# Environment variable -> the Flask setting the app makes of it (intake.config.from_environment).
SETTINGS = {
    "INTAKE_DATABASE_URL": "DATABASE_URL",
    "INTAKE_BROKER_URL": "BROKER_URL",
    "INTAKE_SECRET_KEY": "SECRET_KEY",
    "INTAKE_RATELIMIT_STORAGE_URI": "RATELIMIT_STORAGE_URI",
}
INSTANCE_VARIABLE = "INTAKE_INSTANCE_PATH"
INTERPOLATION = re.compile(r"\$\{[^}]*\}")


# ---- helpers -------------------------------------------------------------------------------------


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, from either compose syntax."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    """A service's command as an argument list, from either compose syntax."""
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def option(cmd: list[str], name: str) -> str:
    """The value following option `name` in `cmd`."""
    assert name in cmd, f"{name} missing from {cmd}"
    return cmd[cmd.index(name) + 1]


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """A service's mounts as {target path: source}, from either compose syntax."""
    result = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        result[target] = source
    return result


def resolved(value: str) -> str:
    """`value` with every `${...}` interpolation replaced by a placeholder, for URL parsing."""
    return INTERPOLATION.sub("placeholder", value)


def normalised(name: str) -> str:
    """A distribution name in PEP 503 form."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture
def flask_app(tmp_path: Path) -> Iterator[Any]:
    from intake import create_app
    from intake.extensions import db

    app = create_app({"TESTING": True, "SECRET_KEY": "x" * 40, "DATABASE_URL": "sqlite://",
                      "BROKER_URL": "filesystem://", "INSTANCE_PATH": str(tmp_path / "instance")})
    yield app
    db.dispose()


# ---- services ------------------------------------------------------------------------------------


def test_services_exist(services: dict[str, Any]) -> None:
    """web, the text and media workers, beat, db, redis and the one-shot migrate are defined."""
    assert set(ALL_SERVICES) | {ONE_SHOT} <= set(services)


def test_app_services_share_one_image(services: dict[str, Any]) -> None:
    """web, the workers, beat and migrate are built from the same Dockerfile into the same image."""
    builds = {name: (repr(services[name].get("build")), services[name].get("image"))
              for name in (*APP_SERVICES, ONE_SHOT)}
    assert len(set(builds.values())) == 1, builds
    build = services["web"]["build"]
    context, dockerfile = (build, "Dockerfile") if isinstance(build, str) else (
        build.get("context", "."), build.get("dockerfile", "Dockerfile"))
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE


def test_data_services_use_pinned_images(services: dict[str, Any]) -> None:
    """PostgreSQL 15 or 16 and Redis come from official images; only the app services build."""
    assert re.fullmatch(r"postgres:1[56](\.\d+)?(-\w+)?", services["db"]["image"])
    assert services["redis"]["image"].startswith("redis:")
    assert "build" not in services["db"] and "build" not in services["redis"]


def test_only_web_publishes_ports(services: dict[str, Any]) -> None:
    """The web port is the only one published; db and redis publish none."""
    publishing = {name for name, service in services.items() if service.get("ports")}
    assert publishing == {"web"}


def test_web_port_matches_gunicorn_and_dockerfile(services: dict[str, Any]) -> None:
    """The published container port is gunicorn's bind port and the image's EXPOSE."""
    web = services["web"]
    bind_port = int(option(command(web), "--bind").rsplit(":", 1)[1])
    targets = set()
    for port in web["ports"]:
        targets.add(int(port["target"]) if isinstance(port, dict) else int(str(port).rsplit(":", 1)[1]))
    assert targets == {bind_port}
    exposed = {int(port.split("/")[0]) for instruction, args in dockerfile_instructions()
               if instruction == "EXPOSE" for port in args.split()}
    assert bind_port in exposed


def test_every_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    """Every long-running service has a health check; only the one-shot job may disable it."""
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if check.get("disable"):
            assert name == ONE_SHOT and service.get("restart") == "no", f"{name} disables its healthcheck"
            continue
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name


def test_web_healthcheck_reaches_healthz_without_needing_the_worker(
    services: dict[str, Any], flask_app: Any
) -> None:
    """The web check fetches /healthz on gunicorn's port and accepts 503 (worker down) as alive."""
    script = " ".join(services["web"]["healthcheck"]["test"][1:])
    port = option(command(services["web"]), "--bind").rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}/healthz" in script
    assert "503" in script
    assert "/healthz" in {rule.rule for rule in flask_app.url_map.iter_rules()}


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_worker_healthcheck_pings_the_worker_app(services: dict[str, Any], name: str) -> None:
    """Each worker's check pings its own node (<queue>@<container>) through the same Celery app."""
    check = " ".join(services[name]["healthcheck"]["test"][1:])
    assert "celery -A workers.worker inspect ping" in check
    assert f'--destination "{WORKERS[name]}@$$HOSTNAME"' in check  # `$$`: expanded by the container's shell
    assert option(command(services[name]), "--hostname") == f"{WORKERS[name]}@%h"


def test_each_worker_service_works_one_queue_and_together_they_work_every_queue(
        services: dict[str, Any], flask_app: Any) -> None:
    """worker-text runs `-Q text`, worker-media `-Q media`: separate services that scale on their
    own; together they consume every queue the app declares and every queue its routes name, so no
    task is sent where nobody listens."""
    from intake.dispatch import QUEUES

    celery = flask_app.extensions["celery"]
    declared = {queue.name for queue in celery.conf.task_queues}
    routed = {route["queue"] for route in celery.conf.task_routes.values()} | {celery.conf.task_default_queue}
    consumed = {option(command(services[name]), "-Q") for name in WORKERS}
    assert consumed == set(QUEUES) == declared and routed <= consumed
    assert {name: option(command(services[name]), "-Q") for name in WORKERS} == WORKERS
    for name in WORKERS:
        assert "replicas" not in services[name].get("deploy", {}), "scale with --scale, not a fixed count"
        assert services[name]["cpu_shares"] < 1024, "accepting reports comes first"


# ---- settings ------------------------------------------------------------------------------------


def test_app_services_set_the_settings(services: dict[str, Any]) -> None:
    """Each app service (and migrate) sets the database, broker, secret key and instance folder."""
    for name in (*APP_SERVICES, ONE_SHOT):
        assert {*SETTINGS, INSTANCE_VARIABLE} <= set(environment(services[name])), name


def test_variable_names_are_the_ones_the_code_reads(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """from_environment maps the compose variables to the app's settings; the instance path is read apart."""
    env = environment(services["web"])
    settings = cfg.from_environment({name: env[name] for name in SETTINGS})
    assert settings == {setting: env[name] for name, setting in SETTINGS.items()}
    assert cfg.from_environment({INSTANCE_VARIABLE: env[INSTANCE_VARIABLE]}) == {}
    monkeypatch.setenv(INSTANCE_VARIABLE, str(tmp_path))
    assert cfg.default_instance_path() == tmp_path.resolve()


def test_secrets_are_not_hard_coded(services: dict[str, Any]) -> None:
    """The secret key and the database password are required interpolations, never literals."""
    required = r"\$\{%s:\?[^}]+\}"
    for name in (*APP_SERVICES, ONE_SHOT):
        env = environment(services[name])
        assert re.fullmatch(required % "INTAKE_SECRET_KEY", env["INTAKE_SECRET_KEY"]), name
        # Not urlsplit: the `?` of `${VAR:?message}` would end the netloc early.
        password = re.fullmatch(r"[\w+]+://[^:@/]+:(\$\{[^}]*\})@.*", env["INTAKE_DATABASE_URL"])
        assert password and re.fullmatch(required % "POSTGRES_PASSWORD", password.group(1)), name
    assert re.fullmatch(required % "POSTGRES_PASSWORD", environment(services["db"])["POSTGRES_PASSWORD"])


def test_master_key_is_a_mounted_secret_file(compose: dict[str, Any], services: dict[str, Any]) -> None:
    """Every app service (and migrate) reads its master keys from a compose secret, which comes from a
    host file the operator must name: never a literal, never the image, never the database."""
    from intake.crypto import KeySource

    for name in (*APP_SERVICES, ONE_SHOT):
        env = environment(services[name])
        assert env["INTAKE_MASTER_KEY_FILE"] == "/run/secrets/master_key", name
        assert "INTAKE_MASTER_KEY" not in env, name
        assert "master_key" in services[name].get("secrets", []), name
        source = KeySource(cfg.from_environment(env), Path("/var/lib/intake"))
        assert source.path == Path("/run/secrets/master_key")
    assert re.fullmatch(r"\$\{INTAKE_MASTER_KEY_PATH:\?[^}]+\}", compose["secrets"]["master_key"]["file"])


def test_database_url_points_at_the_db_service(services: dict[str, Any], pyproject: dict[str, Any]) -> None:
    """postgresql+psycopg (psycopg 3, as pinned) to the db service, its user and database."""
    url = make_url(resolved(environment(services["web"])["INTAKE_DATABASE_URL"]))
    db_env = environment(services["db"])
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "db" and url.host in services
    assert (url.port or 5432) == 5432
    assert url.username == db_env["POSTGRES_USER"] and url.database == db_env["POSTGRES_DB"]
    assert url.get_dialect().driver == "psycopg"
    pins = {normalised(Requirement(d).name): Requirement(d) for d in pyproject["project"]["dependencies"]}
    assert {spec.version.split(".")[0] for spec in pins["psycopg"].specifier} == {"3"}


def test_broker_url_points_at_the_redis_service(services: dict[str, Any]) -> None:
    """The broker is the redis service."""
    url = urlsplit(resolved(environment(services["web"])["INTAKE_BROKER_URL"]))
    assert url.scheme == "redis"
    assert url.hostname == "redis" and url.hostname in services
    assert (url.port or 6379) == 6379


def test_rate_limits_are_counted_in_redis(services: dict[str, Any], flask_app: Any) -> None:
    """The limiter's storage is the redis service, in another database than the broker's, and the
    app hands the setting to Flask-Limiter (the embedded default counts in memory)."""
    env = environment(services["web"])
    url = urlsplit(resolved(env["INTAKE_RATELIMIT_STORAGE_URI"]))
    broker = urlsplit(resolved(env["INTAKE_BROKER_URL"]))
    assert url.scheme == "redis" and url.hostname == "redis" and url.hostname in services
    assert url.path != broker.path
    assert flask_app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert cfg.from_environment({"INTAKE_RATELIMIT_STORAGE_URI": "redis://redis:6379/1"}) == {
        "RATELIMIT_STORAGE_URI": "redis://redis:6379/1"}


def test_app_services_share_the_environment(services: dict[str, Any]) -> None:
    """web, the workers, beat and migrate get the same values for every shared setting."""
    shared = {*SETTINGS, INSTANCE_VARIABLE}
    values = {name: {k: environment(services[name])[k] for k in shared} for name in (*APP_SERVICES, ONE_SHOT)}
    assert all(v == values["web"] for v in values.values()), values


# ---- commands ------------------------------------------------------------------------------------


def test_web_runs_gunicorn_on_the_wsgi_app(services: dict[str, Any]) -> None:
    """web runs gunicorn on intake.wsgi:app, a module that exists and assigns `app`."""
    cmd = command(services["web"])
    assert cmd[0] == "gunicorn"
    assert cmd[-1] == "intake.wsgi:app"
    module, attribute = cmd[-1].split(":")
    spec = importlib.util.find_spec(module)  # not imported: that would build an app from the environment
    assert spec is not None and spec.origin
    tree = ast.parse(Path(spec.origin).read_text())
    assigned = {target.id for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    assert attribute in assigned


def test_dockerfile_default_command_is_the_web_command(services: dict[str, Any]) -> None:
    """The image's CMD runs the same gunicorn command as the web service."""
    cmd = [args for instruction, args in dockerfile_instructions() if instruction == "CMD"]
    assert len(cmd) == 1
    assert yaml.safe_load(cmd[0]) == command(services["web"])


def test_web_runs_the_options_of_intake_serve(services: dict[str, Any]) -> None:
    """web (and so the image's CMD) runs gunicorn with the options `intake serve` uses, defined once in
    intake.cli: the worker class whose client reads time out, its threads and timeouts."""
    from intake.cli import GUNICORN_WEB_OPTIONS

    cmd = command(services["web"])
    options = list(GUNICORN_WEB_OPTIONS)
    assert any(cmd[i:i + len(options)] == options for i in range(len(cmd))), (cmd, options)
    assert option(cmd, "--worker-class") == "intake.serving.ReadTimeoutWorker"


@pytest.mark.parametrize("name", [*WORKERS, "beat"])
def test_celery_services_use_the_worker_app(services: dict[str, Any], name: str) -> None:
    """The workers and beat run `celery -A workers.worker worker|beat`, and that module exists."""
    cmd = command(services[name])
    assert cmd[:4] == ["celery", "-A", "workers.worker", "beat" if name == "beat" else "worker"]
    spec = importlib.util.find_spec("workers.worker")
    assert spec is not None and spec.origin and Path(spec.origin).is_file()


def test_beat_schedule_lives_in_the_instance_folder(services: dict[str, Any]) -> None:
    """beat keeps its schedule file in the instance folder, on the shared volume."""
    beat = services["beat"]
    schedule = PurePosixPath(option(command(beat), "--schedule"))
    assert schedule.parent == PurePosixPath(environment(beat)[INSTANCE_VARIABLE])


def test_beat_scheduled_tasks_are_registered(flask_app: Any) -> None:
    """Every task the beat schedule sends is a task the workers register."""
    import workers.tasks  # noqa: F401  (registers the tasks)

    celery = flask_app.extensions["celery"]
    scheduled = {entry["task"] for entry in celery.conf.beat_schedule.values()}
    assert "intake.sweep" in scheduled
    assert scheduled <= set(celery.tasks)


def test_migrate_runs_the_upgrade_command(services: dict[str, Any], pyproject: dict[str, Any]) -> None:
    """migrate runs `intake db upgrade`: the console script and its subcommand exist."""
    from intake.cli import main

    cmd = command(services[ONE_SHOT])
    assert cmd == ["intake", "db", "upgrade"]
    assert pyproject["project"]["scripts"]["intake"] == "intake.cli:main"
    assert "upgrade" in main.commands["db"].commands  # type: ignore[attr-defined]


def test_startup_order(services: dict[str, Any]) -> None:
    """App services wait for healthy db and redis and for migrate to finish; migrate waits for db."""
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["db"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends[ONE_SHOT]["condition"] == "service_completed_successfully", name
    assert services[ONE_SHOT]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services[ONE_SHOT]["restart"] == "no"


# ---- volumes and networks ------------------------------------------------------------------------


def test_instance_volume_is_shared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    """web, the workers and beat mount one named volume at INTAKE_INSTANCE_PATH, which holds the uploads."""
    instance = environment(services["web"])[INSTANCE_VARIABLE]
    sources = {name: mounts(services[name]).get(instance) for name in APP_SERVICES}
    assert sources["web"] and len(set(sources.values())) == 1, sources
    assert sources["web"] in compose["volumes"]
    uploads = Path(cfg.defaults(Path(instance))["UPLOAD_PATH"])
    assert uploads.is_relative_to(instance)


def test_data_lives_in_named_volumes(compose: dict[str, Any], services: dict[str, Any]) -> None:
    """PostgreSQL and Redis keep their data in named volumes; Redis appends every write to its log."""
    assert mounts(services["db"]).get("/var/lib/postgresql/data") in compose["volumes"]
    assert mounts(services["redis"]).get("/data") in compose["volumes"]
    assert option(command(services["redis"]), "--appendonly") == "yes"


def test_db_and_redis_are_internal_only(compose: dict[str, Any], services: dict[str, Any]) -> None:
    """db and redis join internal networks only, which the app services share."""
    for name in ("db", "redis"):
        networks = services[name]["networks"]
        assert networks and all(compose["networks"][n].get("internal") is True for n in networks), name
        for app_service in (*APP_SERVICES, ONE_SHOT):
            assert set(networks) & set(services[app_service]["networks"]), (name, app_service)


def test_shared_settings_use_anchors(compose: dict[str, Any]) -> None:
    """Shared settings are written once, in top-level `x-` keys with anchors."""
    assert any(key.startswith("x-") for key in compose)
    assert re.search(r"^x-[\w-]+:\s*&[\w-]+", COMPOSE_FILE.read_text(), re.MULTILINE)


# ---- image ---------------------------------------------------------------------------------------


def test_dockerfile_builds_a_production_image(services: dict[str, Any], pyproject: dict[str, Any]) -> None:
    """python:3.11-slim, editable install from /app without test extras, non-root, the same instance path."""
    instructions = dockerfile_instructions()
    text = DOCKERFILE.read_text()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert pyproject["project"]["requires-python"] == ">=3.11"
    assert ("WORKDIR", "/app") in instructions
    assert "pip install --no-cache-dir -e ." in text
    assert "[test]" not in text and "optional-dependencies" not in text
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    env = " ".join(args for instruction, args in instructions if instruction == "ENV")
    assert f"{INSTANCE_VARIABLE}={environment(services['web'])[INSTANCE_VARIABLE]}" in env
    # The worker cleans videos with ffmpeg; the NER models' numpy must not start a thread per core.
    assert "apt-get install -y --no-install-recommends ffmpeg" in text and "OMP_NUM_THREADS=1" in env


def test_dockerignore_keeps_the_app_and_drops_local_state() -> None:
    """The build context has the packages, templates and pyproject, but no venv, instance data or secrets."""
    from intake.app import ROOT as APP_ROOT

    assert APP_ROOT == ROOT  # templates/ is found next to the intake package
    patterns = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "instance", ".env"} <= patterns
    assert not {"intake", "workers", "templates", "pyproject.toml", "*"} & patterns


def test_pinned_dependencies_cover_the_redis_broker(pyproject: dict[str, Any]) -> None:
    """A clean install of the pinned dependencies has everything kombu's Redis transport imports."""
    pins = [Requirement(d) for d in pyproject["project"]["dependencies"]]
    if any(normalised(p.name) in ("kombu", "celery") and "redis" in p.extras for p in pins):
        return
    needed = {normalised(req.name) for req in map(Requirement, importlib.metadata.requires("kombu") or [])
              if req.marker is not None and req.marker.evaluate({"extra": "redis"})}
    assert needed <= {normalised(p.name) for p in pins}, sorted(needed - {normalised(p.name) for p in pins})
