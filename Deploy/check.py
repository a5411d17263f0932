"""Validates the deployment artefacts under Deploy/ (run through Deploy/check.sh, which provides the packages).

Prints one line per validated file; on any problem prints every one of them (`FAIL <file>: <why>`) and exits 1.
Needs: PyYAML, kubernetes-validate (Kubernetes OpenAPI schemas, shipped in the package), check-jsonschema (the
vendored compose-spec schema), dockerfile-parse, and `systemd-analyze` on PATH. Works offline.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "Deploy"

# Kubernetes versions the manifests must be valid for: the oldest we support and the newest the package ships.
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
# Partitions of topic `clicks` in the shipped examples (compose creates it so): the most ingest replicas that work.
CLICK_PARTITIONS = 6
# After SIGTERM, ingest retries a batch in flight for 15 s (shutdownGracePeriod): every stop timeout must exceed it.
INGEST_DRAIN_SECONDS = 15
# Placeholders allowed where an example shows a secret.
PLACEHOLDER = re.compile(r"change-me|<password>", re.IGNORECASE)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|DATABASE_URL|SASL_PASSWORD|SSL_KEY", re.IGNORECASE)
# Least privilege (Docs/security.md): each long-running component connects as its own login, in its own role, with
# its own credentials in every example; only the one-offs (migrate, retention, bootstrap, tools) use the owner's.
# component: (login user, Kubernetes Secret key, compose .env variable, systemd override file)
COMPONENT_DATABASE = {
    "ingest": ("amc_ingest_login", "database-url-ingest", "INGEST_DB_PASSWORD", "/etc/amc/ingest.env"),
    "learn": ("amc_learner_login", "database-url-learn", "LEARN_DB_PASSWORD", "/etc/amc/learn.env"),
    "serve": ("amc_serve_login", "database-url-serve", "SERVE_DB_PASSWORD", "/etc/amc/serve.env"),
}
OWNER_USER, OWNER_SECRET_KEY, OWNER_PASSWORD_VARIABLE = "amc", "database-url", "POSTGRES_PASSWORD"

failures: list[str] = []
reported: set[Path] = set()
parsed: list[tuple[Path, str]] = []


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def ok(path: Path, what: str) -> None:
    reported.add(path)
    print(f"ok    {rel(path):<48} {what}")


def fail(path: Path, why: str) -> None:
    reported.add(path)
    line = f"FAIL  {rel(path)}: {why}"
    if line not in failures:  # a file that does not parse is met by more than one check
        failures.append(line)
        print(line)


class Problems:
    """Collects the problems of one file; reports ok with a summary when there were none."""

    def __init__(self, path: Path):
        self.path = path
        self.found: list[str] = []

    def add(self, why: str) -> None:
        self.found.append(why)

    def require(self, condition: bool, why: str) -> None:
        if not condition:
            self.add(why)

    def report(self, what: str) -> None:
        if self.found:
            for why in self.found:
                fail(self.path, why)
        else:
            ok(self.path, what)


def load_yaml_documents(path: Path) -> list | None:
    try:
        with path.open(encoding="utf-8") as handle:
            return [doc for doc in yaml.safe_load_all(handle) if doc is not None]
    except yaml.YAMLError as error:
        fail(path, f"YAML does not parse: {error}".replace("\n", " "))
        return None


# ---------------------------------------------------------------------------------------------------------------
# Every YAML and JSON file parses (reported on its own line only for files no other check covers).


def check_parse_all() -> None:
    for path in sorted(DEPLOY.rglob("*")):
        if not path.is_file() or ".amc" in path.parts:
            continue
        if path.suffix in (".yaml", ".yml"):
            docs = load_yaml_documents(path)
            if docs is not None:
                parsed.append((path, f"YAML parses ({len(docs)} document{'s' if len(docs) != 1 else ''})"))
        elif path.suffix == ".json":
            try:
                json.loads(path.read_text(encoding="utf-8"))
                parsed.append((path, "JSON parses"))
            except json.JSONDecodeError as error:
                fail(path, f"JSON does not parse: {error}")


# ---------------------------------------------------------------------------------------------------------------
# Kubernetes: schemas of every supported version, strict (no unknown fields), plus the deployment's own rules.


def container_env_problems(problems: Problems, kind_name: str, container: dict) -> None:
    for env in container.get("env", []) or []:
        name = env.get("name", "")
        if SECRET_NAME.search(name):
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            problems.require(ref is not None and "value" not in env,
                             f"{kind_name}: {name} must come from a secretKeyRef, not a literal value")


def url_user(url: str) -> str:
    """The user of a postgresql:// URL ('' when it names none)."""
    userinfo = url.split("//", 1)[-1].rpartition("@")[0]
    return userinfo.split(":", 1)[0]


def database_url_key(container: dict) -> str | None:
    """The amc-secrets key a container's AMC_DATABASE_URL comes from (None when it has none or is not from it)."""
    for env in container.get("env", []) or []:
        if env.get("name") == "AMC_DATABASE_URL":
            ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
            return ref.get("key") if ref.get("name") == "amc-secrets" else None
    return None


def check_kubernetes() -> None:
    import kubernetes_validate
    from kubernetes_validate import utils as kv_utils

    directory = DEPLOY / "kubernetes"
    kustomization_path = directory / "kustomization.yaml"
    kustomization = (load_yaml_documents(kustomization_path) or [{}])[0]
    listed = kustomization.get("resources", []) or []
    problems = Problems(kustomization_path)
    manifests = sorted(p.name for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")
    for name in listed:
        problems.require((directory / name).is_file(), f"resource {name} does not exist")
    for name in manifests:
        if name.endswith(".example.yaml"):
            problems.require(name not in listed, f"{name} is an example applied by hand, not a resource")
        else:
            problems.require(name in listed, f"{name} is not listed in resources")
    problems.require(kustomization.get("kind") == "Kustomization", "kind must be Kustomization")
    problems.report(f"kustomization: {len(listed)} resources, all present")

    config_json = json.loads((ROOT / "Config/amc.json").read_text(encoding="utf-8"))
    for name in manifests:
        path = directory / name
        docs = load_yaml_documents(path)
        if docs is None:
            continue
        problems = Problems(path)
        kinds = []
        for doc in docs:
            kind, meta = doc.get("kind", "?"), doc.get("metadata", {}) or {}
            kind_name = f"{kind} {meta.get('name', '?')}"
            kinds.append(kind_name)
            problems.require("namespace" not in meta, f"{kind_name}: manifests are namespace-agnostic (no namespace)")
            for version in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, version, True)
                except kv_utils.ValidationError as error:
                    where = ".".join(str(p) for p in error.path)
                    problems.add(f"{kind_name}: Kubernetes {version} schema: {where}: {error.message}")
                except (kv_utils.SchemaNotFoundError, kv_utils.InvalidSchemaError) as error:
                    problems.add(f"{kind_name}: no Kubernetes {version} schema: {error}")
            check_kubernetes_rules(problems, path, doc, kind_name, config_json)
        problems.report(f"Kubernetes {'/'.join(v.rsplit('.', 1)[0] for v in KUBERNETES_VERSIONS)} schemas "
                        f"(strict) and rules: {', '.join(kinds)}")


def check_kubernetes_rules(problems: Problems, path: Path, doc: dict, kind_name: str, config_json: dict) -> None:
    kind = doc.get("kind")
    name = (doc.get("metadata") or {}).get("name", "")
    if kind == "ConfigMap" and name == "amc-config":
        try:
            embedded = json.loads((doc.get("data") or {}).get("amc.json", ""))
            problems.require(embedded == config_json, f"{kind_name}: amc.json differs from Config/amc.json")
        except json.JSONDecodeError as error:
            problems.add(f"{kind_name}: amc.json is not JSON: {error}")
    if kind == "ConfigMap":
        for key in (doc.get("data") or {}):
            problems.require(not SECRET_NAME.search(key), f"{kind_name}: {key} is a secret; use the Secret")
    if kind == "Secret":
        for key, value in {**(doc.get("stringData") or {}), **(doc.get("data") or {})}.items():
            problems.require(bool(PLACEHOLDER.search(str(value))), f"{kind_name}: {key} is not an obvious placeholder")
        if name == "amc-secrets":
            string_data = doc.get("stringData") or {}
            problems.require(url_user(str(string_data.get(OWNER_SECRET_KEY, ""))) == OWNER_USER,
                             f"{kind_name}: {OWNER_SECRET_KEY} must be the owner's URL (user {OWNER_USER})")
            for component, (login, key, _, _) in COMPONENT_DATABASE.items():
                problems.require(url_user(str(string_data.get(key, ""))) == login,
                                 f"{kind_name}: {key} must be {component}'s URL (user {login})")
    if kind == "CronJob":
        # The only CronJob is retention: partition maintenance needs ownership, so the owner's URL.
        job_pod = (((doc.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template", {})
        for container in (job_pod.get("spec") or {}).get("containers", []):
            problems.require(database_url_key(container) == OWNER_SECRET_KEY,
                             f"{kind_name} container {container.get('name')}: AMC_DATABASE_URL from "
                             f"amc-secrets key {OWNER_SECRET_KEY} (the owner's)")
    if kind not in ("Deployment", "Job"):
        return

    spec = doc["spec"]
    pod = spec["template"]["spec"]
    security = pod.get("securityContext") or {}
    problems.require(security.get("runAsNonRoot") is True, f"{kind_name}: pod securityContext.runAsNonRoot")
    problems.require(pod.get("automountServiceAccountToken") is not True, f"{kind_name}: no service account token")
    for container in pod.get("containers", []):
        cname = f"{kind_name} container {container.get('name')}"
        csec = container.get("securityContext") or {}
        problems.require(csec.get("readOnlyRootFilesystem") is True, f"{cname}: readOnlyRootFilesystem")
        problems.require(csec.get("allowPrivilegeEscalation") is False, f"{cname}: allowPrivilegeEscalation false")
        resources = container.get("resources") or {}
        problems.require(bool(resources.get("requests")) and bool(resources.get("limits")),
                         f"{cname}: resource requests and limits")
        problems.require(container.get("image", "").startswith("amc-stream"), f"{cname}: image amc-stream")
        container_env_problems(problems, cname, container)
        args = container.get("args") or []
        role = args[0] if args else None
        ports = {p.get("containerPort") for p in container.get("ports", []) or []}
        annotations = (spec["template"].get("metadata") or {}).get("annotations") or {}
        url_key = database_url_key(container)
        if kind == "Job":
            problems.require(args in (["migrate"], ["learn", "--bootstrap"]),
                             f"{kind_name}: a Job runs amc migrate or amc learn --bootstrap")
            problems.require(url_key == OWNER_SECRET_KEY,
                             f"{cname}: AMC_DATABASE_URL from amc-secrets key {OWNER_SECRET_KEY} (the owner's)")
            continue
        if role in COMPONENT_DATABASE:
            expected = COMPONENT_DATABASE[role][1]
            problems.require(url_key == expected,
                             f"{cname}: AMC_DATABASE_URL from amc-secrets key {expected} (its own login), "
                             f"not {url_key} (least privilege; never the owner's {OWNER_SECRET_KEY})")
        else:
            problems.add(f"{cname}: a Deployment runs amc ingest, learn or serve")
        if role in ("ingest", "learn"):
            problems.require("--metrics-port" in args and 9464 in ports, f"{cname}: --metrics-port 9464 and its port")
            problems.require(annotations.get("prometheus.io/port") == "9464", f"{kind_name}: prometheus.io/port 9464")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if role == "ingest":
            problems.require(1 <= spec.get("replicas", 1) <= CLICK_PARTITIONS,
                             f"{kind_name}: replicas must be between 1 and the partition count ({CLICK_PARTITIONS})")
            problems.require(grace > INGEST_DRAIN_SECONDS, f"{kind_name}: terminationGracePeriodSeconds > drain")
        if role == "learn":
            problems.require(spec.get("replicas") == 2, f"{kind_name}: 2 replicas (leader and standby)")
            problems.require("--follow" in args, f"{cname}: learn --follow")
        if role == "serve":
            problems.require(spec.get("replicas", 1) >= 2, f"{kind_name}: at least 2 replicas")
            readiness = ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("path")
            liveness = ((container.get("livenessProbe") or {}).get("httpGet") or {}).get("path")
            problems.require(readiness == "/readyz", f"{cname}: readinessProbe GET /readyz")
            problems.require(liveness == "/healthz", f"{cname}: livenessProbe GET /healthz")
            pre_stop = (((container.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command")
            sleep = int(pre_stop[1]) if pre_stop and pre_stop[0] == "sleep" else 0
            problems.require(sleep > 0, f"{cname}: preStop sleep so endpoints deregister first")
            problems.require(grace > sleep + 10, f"{kind_name}: terminationGracePeriodSeconds > preStop sleep + drain")
            problems.require("--host" in args and "0.0.0.0" in args, f"{cname}: serve --host 0.0.0.0")


# ---------------------------------------------------------------------------------------------------------------
# Compose: the compose-spec JSON schema (vendored by check-jsonschema), plus the setup's own rules.


def check_compose() -> dict:
    path = DEPLOY / "compose" / "compose.yaml"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         "--output-format", "text", str(path)],
        capture_output=True, text=True,
    )
    problems = Problems(path)
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        problems.add("compose-spec schema: " + " | ".join(lines[:6]))
    docs = load_yaml_documents(path) or [{}]
    compose = docs[0]
    services = compose.get("services") or {}

    def command_of(service: dict) -> list:
        command = service.get("command") or []
        return command.split() if isinstance(command, str) else list(command)

    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            problems.require(dependency in services, f"{name} depends on unknown service {dependency}")
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("."):
                problems.require((path.parent / source).exists(), f"{name}: volume source {source} does not exist")
        build = service.get("build")
        if build:
            context = path.parent / build["context"]
            problems.require((context / build["dockerfile"]).is_file(), f"{name}: Dockerfile {build['dockerfile']}")
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                problems.require("${" in str(value), f"{name}: {key} must be interpolated from .env, not literal")
        amc_role = command_of(service)[:1] if "amc-stream" in str(service.get("image", "")) else []
        if amc_role and amc_role[0] != "migrate" and name != "tools":
            condition = ((service.get("depends_on") or {}).get("migrate") or {}).get("condition")
            problems.require(condition == "service_completed_successfully",
                             f"{name}: must depend on migrate (service_completed_successfully)")
        if amc_role:
            # Least privilege: ingest, learn and serve connect as their own login with their own password variable,
            # after db-users created it; migrate and tools as the owner.
            url = str((service.get("environment") or {}).get("AMC_DATABASE_URL", ""))
            user, variables = url_user(url), set(re.findall(r"\$\{(\w+)", url))
            if amc_role[0] in COMPONENT_DATABASE and name != "tools":
                login, _, variable, _ = COMPONENT_DATABASE[amc_role[0]]
                problems.require(user == login and variables == {variable},
                                 f"{name}: AMC_DATABASE_URL must be {login} with ${{{variable}}}, not {user or url!r} "
                                 f"with {sorted(variables)} (its own login, never the owner's)")
                condition = ((service.get("depends_on") or {}).get("db-users") or {}).get("condition")
                problems.require(condition == "service_completed_successfully",
                                 f"{name}: must depend on db-users (service_completed_successfully)")
            else:
                problems.require(user == OWNER_USER and variables == {OWNER_PASSWORD_VARIABLE},
                                 f"{name}: AMC_DATABASE_URL must be the owner's ({OWNER_USER}, "
                                 f"${{{OWNER_PASSWORD_VARIABLE}}})")
        for port in service.get("ports") or []:
            problems.require(str(port).startswith("127.0.0.1:"), f"{name}: publish {port} on 127.0.0.1 only")

    roles = {name: command_of(s) for name, s in services.items() if "amc-stream" in str(s.get("image", ""))}
    count = lambda role: sum(1 for c in roles.values() if c[:1] == [role])  # noqa: E731
    problems.require(count("migrate") == 1, "one migrate one-shot")
    problems.require(count("ingest") >= 2, "at least 2 ingest services")
    problems.require(sum(1 for c in roles.values() if c[:2] == ["learn", "--follow"]) == 2,
                     "2 learn --follow services (leader and standby)")
    serve = [n for n, c in roles.items() if c[:1] == ["serve"]]
    problems.require(len(serve) >= 2, "at least 2 serve services")
    for name in serve:
        test = " ".join((services[name].get("healthcheck") or {}).get("test") or [])
        problems.require("/readyz" in test, f"{name}: healthcheck on /readyz")
    for name, command in roles.items():
        if command[:1] in (["ingest"], ["learn"]):
            problems.require("--metrics-port" in command, f"{name}: --metrics-port")
    users = services.get("db-users") or {}
    problems.require(bool(users), "a db-users one-shot creates the login users")
    if users:
        condition = ((users.get("depends_on") or {}).get("migrate") or {}).get("condition")
        problems.require(condition == "service_completed_successfully",
                         "db-users must run after migrate (service_completed_successfully): it creates the roles")
        problems.require(str(users.get("restart", "no")) == "no", "db-users is a one-shot (restart: \"no\")")
        environment = users.get("environment") or {}
        script = " ".join(command_of(users))
        sql_path = path.parent / "db-users.sql"
        sql = sql_path.read_text(encoding="utf-8") if sql_path.is_file() else ""
        problems.require(bool(sql), "db-users.sql (the login users' SQL) exists")
        for component, (login, _, variable, _) in COMPONENT_DATABASE.items():
            problems.require(f"${{{variable}" in str(environment.get(variable, "")),
                             f"db-users: {variable} must be interpolated from .env into its environment")
            problems.require(f"$${variable}" in script, f"db-users: passes ${variable} to psql (--set)")
            problems.require(login in sql, f"db-users.sql: creates {login}")
    topics = " ".join(command_of(services.get("kafka-topics") or {}))
    problems.require(f"--topic clicks --partitions {CLICK_PARTITIONS}" in topics,
                     f"kafka-topics creates clicks with {CLICK_PARTITIONS} partitions")
    problems.require("KRaft" in path.read_text() and "KAFKA_PROCESS_ROLES" in str(services.get("kafka")),
                     "kafka runs in KRaft mode")
    problems.report(f"compose-spec schema and rules: {len(services)} services")
    return services


def check_env_examples() -> None:
    compose_text = (DEPLOY / "compose" / "compose.yaml").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+):\?", compose_text))
    for path in [DEPLOY / "compose" / "env.example", DEPLOY / "systemd" / "amc.env.example"]:
        problems = Problems(path)
        if path.parent.name == "compose":
            listed = {line.split("=", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()
                      if "=" in line and not line.lstrip().startswith("#")}
            for variable in sorted(required - listed):
                problems.add(f"{variable} is required by compose.yaml (${{{variable}:?…}}) but not set here")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.lstrip("#").strip()
            if "=" not in line or " " in line.split("=", 1)[0]:
                continue
            key, value = line.split("=", 1)
            if SECRET_NAME.search(key):
                # A URL without a password in it holds no secret; otherwise the secret must be a placeholder.
                userinfo = value.split("//", 1)[-1].split("@", 1)[0] if "@" in value else value
                if key.upper().endswith("DATABASE_URL") and ":" not in userinfo:
                    continue
                problems.require(bool(PLACEHOLDER.search(value)) or "${" in value,
                                 f"line {number}: {key} holds a value that is not an obvious placeholder")
        if path.parent.name == "systemd":
            text = path.read_text(encoding="utf-8")
            for component, (login, _, _, override) in COMPONENT_DATABASE.items():
                problems.require(override in text and f"postgresql://{login}:" in text,
                                 f"documents {override} with {component}'s own URL (user {login})")
        problems.report("only placeholder secrets")


# ---------------------------------------------------------------------------------------------------------------
# Prometheus: parses, and scrapes every amc service of the compose setup on its metrics port.


def check_prometheus(services: dict) -> None:
    path = DEPLOY / "prometheus" / "prometheus.yml"
    config = (load_yaml_documents(path) or [{}])[0]
    problems = Problems(path)
    jobs = config.get("scrape_configs") or []
    names = [job.get("job_name") for job in jobs]
    problems.require(len(names) == len(set(names)), "job_name values must be unique")
    scraped = set()
    for job in jobs:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = target.rpartition(":")
                problems.require(host and port.isdigit(), f"{job.get('job_name')}: target {target} is not host:port")
                scraped.add(target)
    for name, service in services.items():
        command = service.get("command") or []
        if "amc-stream" not in str(service.get("image", "")) or name == "tools":
            continue
        if command[:1] in (["ingest"], ["learn"]):
            port = command[command.index("--metrics-port") + 1] if "--metrics-port" in command else "?"
            problems.require(f"{name}:{port}" in scraped, f"compose service {name} is not scraped at {name}:{port}")
        if command[:1] == ["serve"]:
            port = command[command.index("--port") + 1] if "--port" in command else "8080"
            problems.require(f"{name}:{port}" in scraped, f"compose service {name} is not scraped at {name}:{port}")
    for target in scraped:
        host = target.rpartition(":")[0]
        problems.require(host == "localhost" or host in services, f"target {target}: no compose service {host}")
    problems.report(f"{len(jobs)} scrape jobs covering every amc compose service")


# ---------------------------------------------------------------------------------------------------------------
# Grafana: dashboard structure, and every metric a query names is in the contract (Deploy/grafana/metrics.txt).

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    "inf", "nan",
}
BUILTIN_METRICS = {"up"}


def contract_metrics() -> dict[str, str]:
    metrics = {}
    for line in (DEPLOY / "grafana" / "metrics.txt").read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            metrics[fields[0]] = fields[1]
    return metrics


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (labels, functions, keywords and variables removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # string literals
    text = re.sub(r"\$\{?\w+\}?", "", text)                  # Grafana variables ($__rate_interval, ${x})
    text = re.sub(r"\{[^}]*\}", "", text)                    # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                   # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def check_grafana() -> None:
    path = DEPLOY / "grafana" / "amc-dashboard.json"
    problems = Problems(path)
    try:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        fail(path, f"JSON does not parse: {error}")
        return
    metrics = contract_metrics()
    allowed = set(BUILTIN_METRICS)
    for name, kind in metrics.items():
        allowed.add(name)
        if kind == "histogram":
            allowed.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    problems.require(isinstance(dashboard.get("schemaVersion"), int) and dashboard["schemaVersion"] >= 36,
                     "schemaVersion must be an integer ≥ 36")
    problems.require(bool(dashboard.get("uid")) and bool(dashboard.get("title")), "uid and title")
    panels = list(dashboard.get("panels") or [])
    for panel in list(panels):
        panels.extend(panel.get("panels") or [])
    ids = [panel.get("id") for panel in panels]
    problems.require(len(ids) == len(set(ids)), "panel ids must be unique")
    used: set[str] = set()
    queries = 0
    for panel in panels:
        if panel.get("type") == "row":
            continue
        title = panel.get("title", "?")
        problems.require(bool(panel.get("gridPos")), f"panel {title!r}: gridPos")
        targets = panel.get("targets") or []
        problems.require(bool(targets), f"panel {title!r}: no query")
        for target in targets:
            expr = target.get("expr", "")
            problems.require(bool(expr.strip()), f"panel {title!r}: empty query {target.get('refId')}")
            if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
                problems.add(f"panel {title!r}: unbalanced brackets in {expr!r}")
            names = metric_names(expr)
            problems.require(bool(names), f"panel {title!r}: query names no metric: {expr!r}")
            for name in sorted(names - allowed):
                problems.add(f"panel {title!r}: metric {name} is not in Deploy/grafana/metrics.txt")
            used |= names
            queries += 1
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        query = variable.get("query")
        expr = query.get("query", "") if isinstance(query, dict) else ""
        match = re.match(r"label_values\((.*),\s*\w+\)$", expr)
        if match:
            for name in sorted(metric_names(match.group(1)) - allowed):
                problems.add(f"variable {variable.get('name')}: metric {name} is not in metrics.txt")
    problems.report(f"schemaVersion {dashboard.get('schemaVersion')}, {queries} queries over "
                    f"{len(used - BUILTIN_METRICS)} metrics, all in the contract")

    provisioning = DEPLOY / "compose" / "grafana" / "provisioning"
    for sub in ("datasources", "dashboards"):
        problems = Problems(provisioning / sub)
        problems.require(any((provisioning / sub).glob("*.yaml")), f"no {sub} provisioning file")
        problems.report(f"Grafana {sub} provisioning present")


# ---------------------------------------------------------------------------------------------------------------
# Dockerfile: parses, known instructions, multi-stage, non-root, and every file it copies exists in the repo.

DOCKER_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
    "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "COMMENT",
}


def tracked_files() -> set[str] | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True)
        return set(out.stdout.splitlines())
    except (OSError, subprocess.CalledProcessError):
        return None


def check_dockerfile() -> None:
    from dockerfile_parse import DockerfileParser

    path = DEPLOY / "Dockerfile"
    problems = Problems(path)
    parser = DockerfileParser(path=str(path), cache_content=True)
    structure = parser.structure
    ignore_path = path.with_name("Dockerfile.dockerignore")
    ignored = [line.strip() for line in ignore_path.read_text().splitlines()
               if line.strip() and not line.startswith("#")] if ignore_path.exists() else []
    tracked = tracked_files()
    stages: list[str] = []
    final_user = None
    for item in structure:
        instruction, value, line = item["instruction"], item["value"], item["startline"] + 1
        if instruction not in DOCKER_INSTRUCTIONS:
            problems.add(f"line {line}: unknown instruction {instruction}")
            continue
        if instruction == "FROM":
            parts = value.split()
            stages.append(parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages)))
            final_user = None
        elif instruction == "USER":
            final_user = value.split(":")[0]
        elif instruction in ("COPY", "ADD"):
            words = value.split()
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            problems.require(len(paths) >= 2, f"line {line}: {instruction} needs a source and a destination")
            from_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if from_stage is not None:
                problems.require(from_stage in stages[:-1], f"line {line}: --from={from_stage} is no earlier stage")
                continue
            for source in paths[:-1]:
                source = source.rstrip("/")
                target = ROOT / source
                if not target.exists():
                    problems.add(f"line {line}: {instruction} source {source} does not exist in the repository")
                elif tracked is not None and target.is_file() and source not in tracked:
                    problems.add(f"line {line}: {instruction} source {source} is not versioned (absent in a clone)")
                if any(fnmatch.fnmatch(source, pattern) or source.split("/")[0] == pattern for pattern in ignored):
                    problems.add(f"line {line}: {instruction} source {source} is excluded by Dockerfile.dockerignore")
        elif instruction == "ENV" or instruction == "ARG":
            for name in re.findall(r"(\w+)=", value) or value.split()[:1]:
                problems.require(not SECRET_NAME.search(name), f"line {line}: no secrets in the image ({name})")
    problems.require(len(stages) >= 2, "multi-stage build (builder and runtime)")
    problems.require(final_user not in (None, "root", "0"), "the runtime stage must run as a non-root USER")
    problems.require(any(i["instruction"] == "ENTRYPOINT" for i in structure), "an ENTRYPOINT")
    for needed in ("librdkafka-dev", "libpq-dev", "librdkafka1", "libpq5", "swift build -c release"):
        problems.require(needed in parser.content, f"missing {needed}")
    instructions = [i for i in structure if i["instruction"] != "COMMENT"]
    problems.report(f"parses; {len(instructions)} instructions in {len(stages)} stages; copied sources exist; "
                    f"runs as {final_user}")


# ---------------------------------------------------------------------------------------------------------------
# systemd: `systemd-analyze verify` in a scratch root (the host's unit library, a stub /opt/amc/bin/amc), where
# any diagnostic at all is a failure, plus the hardening and stop rules.

UNIT_INSTANCES = {
    "amc-migrate.service": "amc-migrate.service",
    "amc-ingest@.service": "amc-ingest@9464.service",
    "amc-learn.service": "amc-learn.service",
    "amc-serve@.service": "amc-serve@8080.service",
    "amc-retention.service": "amc-retention.service",
}
# Timers, each verified with the service it starts.
UNIT_TIMERS = ["amc-retention.timer"]
REQUIRED_SERVICE_SETTINGS = {
    "User": "amc", "EnvironmentFile": "/etc/amc/amc.env", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
    "PrivateTmp": "yes", "KillSignal": "SIGTERM",
}


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def check_systemd() -> None:
    directory = DEPLOY / "systemd"
    analyze = shutil.which("systemd-analyze")
    units = sorted(p.name for p in directory.glob("*.service"))
    for name in units:
        if name not in UNIT_INSTANCES:
            fail(directory / name, "unknown unit: add it to UNIT_INSTANCES in Deploy/check.py")
    for name in UNIT_INSTANCES:
        if name not in units:
            fail(directory / name, "missing")
    if analyze is None:
        fail(directory, "systemd-analyze not found: install Debian's systemd (bash Deploy/local/install-deps.sh)")
        return
    host_units = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                       if (p / "sysinit.target").exists()), None)
    if host_units is None:
        fail(directory, "no systemd unit library (sysinit.target) on this host: install Debian's systemd")
        return
    with tempfile.TemporaryDirectory(prefix="amc-systemd-check.") as scratch:
        root = Path(scratch)
        shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
        (root / "etc/systemd/system").mkdir(parents=True)
        (root / "opt/amc/bin").mkdir(parents=True)
        stub = root / "opt/amc/bin/amc"
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
        (root / "etc/amc").mkdir(parents=True)
        (root / "etc/amc/amc.env").write_text("")
        for name in units + UNIT_TIMERS:
            shutil.copy(directory / name, root / "etc/systemd/system" / name)
        for name in UNIT_TIMERS:
            problems = Problems(directory / name)
            result = subprocess.run([analyze, "verify", f"--root={root}", name], capture_output=True, text=True,
                                    cwd=root)
            output = (result.stdout + result.stderr).replace(str(root), "").strip()
            if result.returncode != 0 or output:
                problems.add(f"systemd-analyze verify {name}: " + (" | ".join(output.splitlines())
                                                                   or f"exit {result.returncode}"))
            problems.report(f"systemd-analyze verify ({name}) clean")
        for name in units:
            if name not in UNIT_INSTANCES:
                continue
            path = directory / name
            problems = Problems(path)
            result = subprocess.run([analyze, "verify", f"--root={root}", UNIT_INSTANCES[name]],
                                    capture_output=True, text=True, cwd=root)
            output = (result.stdout + result.stderr).replace(str(root), "").strip()
            if result.returncode != 0 or output:
                problems.add(f"systemd-analyze verify {UNIT_INSTANCES[name]}: "
                             + (" | ".join(output.splitlines()) or f"exit {result.returncode}"))
            settings = unit_settings(path)
            for key, value in REQUIRED_SERVICE_SETTINGS.items():
                problems.require(value in settings.get(key, []), f"{key}={value} is required")
            stop = settings.get("TimeoutStopSec", ["90"])[-1].rstrip("s")
            problems.require(stop.isdigit() and int(stop) > INGEST_DRAIN_SECONDS,
                             f"TimeoutStopSec must exceed the {INGEST_DRAIN_SECONDS} s drain")
            exec_start = " ".join(settings.get("ExecStart", []))
            if name != "amc-migrate.service":
                problems.require("on-failure" in settings.get("Restart", []), "Restart=on-failure")
                problems.require("amc-migrate.service" in " ".join(settings.get("After", [])),
                                 "ordered After=amc-migrate.service")
            # Least privilege: amc.env (shared, with the owner's URL) first, then the component's own optional
            # file, whose AMC_DATABASE_URL overrides it; migrate and retention keep the owner's URL.
            component = next((c for c in COMPONENT_DATABASE if name.startswith(f"amc-{c}")), None)
            expected_files = ["/etc/amc/amc.env"]
            if component:
                expected_files.append("-" + COMPONENT_DATABASE[component][3])
            problems.require(settings.get("EnvironmentFile", []) == expected_files,
                             f"EnvironmentFile= must be exactly {expected_files}, in that order, "
                             f"not {settings.get('EnvironmentFile', [])}")
            if name.startswith("amc-serve@"):
                problems.require("--port %i" in exec_start, "the instance name is the port (--port %i)")
            if name.startswith("amc-ingest@"):
                problems.require("--metrics-port %i" in exec_start, "the instance name is the metrics port")
            problems.report(f"systemd-analyze verify ({UNIT_INSTANCES[name]}) clean; hardening and stop rules")


def main() -> int:
    os.chdir(ROOT)
    check_parse_all()
    check_dockerfile()
    services = check_compose()
    check_env_examples()
    check_prometheus(services)
    check_grafana()
    check_kubernetes()
    check_systemd()
    for path, what in parsed:
        if path not in reported:
            ok(path, what)
    if failures:
        print(f"\nDeploy/check.sh: {len(failures)} problem(s):", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    print("Deploy/check.sh: every deployment artefact is valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
