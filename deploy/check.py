"""The deployment files checked without Docker or a cluster (scripts/deploy-check runs
this in the tests' venv, after hadolint, kubectl kustomize, kubernetes-validate and the
compose-spec schema).

    python deploy/check.py BINARY RENDERED_DIR

BINARY is the `atelier` binary under test; RENDERED_DIR holds `kubectl kustomize`'s
output for each overlay, as NAME.yaml. What is checked:

- the Dockerfile's steps: every COPY source exists and passes .dockerignore, the
  runtime's apt packages exist in Debian bookworm (`apt-cache show`), the `dist`
  profile the build names is in Cargo.toml, the package it builds exists, the base
  images are pinned, the user is not root, and the ENTRYPOINT/CMD and HEALTHCHECK
  subcommands are the binary's (`BINARY SUB --help`);
- the compose files: services, volumes, configs and mounted files named are there,
  every required variable is in deploy/.env.example, and each Atelier service's
  command is a subcommand;
- the rendered manifests: the single-node and scale-out shapes, the Service's 80 to
  8080, the probes, the non-root user matching the image's, the commands;
- the configuration: every ATELIER__ variable the image, compose and the manifests
  set (with the ConfigMap's atelier.toml where it is mounted) is accepted by
  `BINARY config show`, whose output shows each value;
- nginx (when installed): deploy/nginx/atelier.conf's body limits equal the server's,
  `nginx -t`, then nginx runs it (TLS with a throwaway certificate) in front of the
  real server on loopback: the probes, the studio's cache (MISS then HIT), the body
  limits (413 from nginx over them, the server's own answer under them), an event
  stream that arrives before the task ends, a WebSocket upgrade, HTTP to HTTPS.

Prints a line for each check and `deploy-check: N passed, N failed` last.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
MIB = 1024 * 1024

passed = 0
failed: list[str] = []


def check(ok: bool, what: str, detail: str = "") -> bool:
    global passed
    if ok:
        passed += 1
        print(f"ok    {what}")
    else:
        failed.append(what)
        print(f"FAIL  {what}" + (f": {detail}" if detail else ""))
    return ok


def section(title: str) -> None:
    print(f"-- {title}")


# ---------------------------------------------------------------- the binary


class Binary:
    def __init__(self, path: str):
        self.path = path
        self._known: dict[str, bool] = {}

    def clean_env(self, extra: dict[str, str] | None = None, home: str = "/nonexistent") -> dict[str, str]:
        """An environment without the caller's ATELIER variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER") and not k.startswith("AWS_")}
        env["HOME"] = home
        env.update(extra or {})
        return env

    def is_subcommand(self, words: list[str]) -> bool:
        key = " ".join(words)
        if key not in self._known:
            result = subprocess.run(
                [self.path, *words, "--help"], capture_output=True, text=True, env=self.clean_env(), timeout=30
            )
            self._known[key] = result.returncode == 0 and "Usage: atelier " + words[0] in result.stdout
        return self._known[key]

    def config_show(self, env: dict[str, str]) -> tuple[bool, str]:
        result = subprocess.run(
            [self.path, "config", "show"], capture_output=True, text=True, env=self.clean_env(env), timeout=30
        )
        return result.returncode == 0, result.stdout if result.returncode == 0 else result.stderr


def subcommand_of(argv: list[str]) -> list[str]:
    """The subcommand words of an argv running atelier: ['serve'], ['healthcheck']."""
    for index, word in enumerate(argv):
        if word == "atelier" or word.endswith("/atelier"):
            argv = argv[index + 1 :]
            break
    words = []
    for word in argv:
        if word.startswith("-"):
            break
        words.append(word)
        if word not in ("config", "admin", "tasks", "emulate", "places", "webhooks"):
            break
    return words


def check_config_env(binary: Binary, where: str, env: dict[str, str]) -> None:
    """`config show` accepts every ATELIER__ variable of `env` and shows its value."""
    ours = {k: v for k, v in env.items() if k.startswith("ATELIER__")}
    ok, output = binary.config_show(env)
    if not check(ok, f"{where}: `atelier config show` accepts {len(ours)} ATELIER__ variables", output.strip()[-400:]):
        return
    shown = tomllib.loads(output)
    wrong = []
    for name, value in sorted(ours.items()):
        node = shown
        for part in name.removeprefix("ATELIER__").lower().split("__"):
            node = node.get(part) if isinstance(node, dict) else None
        if not reflects(node, value):
            wrong.append(f"{name}={value!r} shows {node!r}")
    check(not wrong, f"{where}: `config show` reflects each of them", "; ".join(wrong))
    config_file = env.get("ATELIER_CONFIG")
    if config_file:
        file_values = tomllib.loads(Path(config_file).read_text())
        wrong = []
        for section_name, table in file_values.items():
            for key, value in table.items():
                name = f"ATELIER__{section_name.upper()}__{key.upper()}"
                if name not in ours and shown.get(section_name, {}).get(key) != value:
                    wrong.append(f"{section_name}.{key}")
        check(not wrong, f"{where}: `config show` reflects the mounted atelier.toml", ", ".join(wrong))


def reflects(shown: object, value: str) -> bool:
    if shown is None:
        return False
    if isinstance(shown, bool):
        return str(shown).lower() == value.strip().lower()
    if isinstance(shown, (int, float)):
        try:
            return float(value) == float(shown)
        except ValueError:
            return False
    text = str(shown)
    # Secrets are shown redacted (a URL's password, a key).
    return text == value or ("REDACTED" in text and value != "")


# ---------------------------------------------------------------- the Dockerfile


def dockerfile_instructions(path: Path) -> list[tuple[str, str, int]]:
    """(INSTRUCTION, arguments, stage index), continuation lines joined and comments
    (which may sit inside a continued RUN) left out."""
    instructions, current, stage = [], "", -1
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        current = f"{current} {line}" if current else line
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        keyword, _, args = current.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append((keyword, args.strip(), stage))
        current = ""
    return instructions


def exec_form(args: str) -> list[str]:
    args = args.strip()
    if args.startswith("["):
        return json.loads(args)
    return ["/bin/sh", "-c", args]


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        patterns.append((negate, re.compile(regex + r"\Z")))
    return patterns


def in_context(relative: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether a file reaches the build context: the last pattern matching the file or
    a folder above it decides (a `!` brings it back)."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negate, regex in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            included = negate
    return included


def tracked_files(source: str) -> list[str]:
    result = subprocess.run(["git", "ls-files", "--", source], cwd=ROOT, capture_output=True, text=True)
    files = result.stdout.split() if result.returncode == 0 else []
    if not files:
        path = ROOT / source
        files = [str(p.relative_to(ROOT)) for p in path.rglob("*") if p.is_file()] if path.is_dir() else [source]
    return files


def apt_package_exists(name: str) -> bool:
    result = subprocess.run(["apt-cache", "show", "--no-all-versions", name], capture_output=True, text=True)
    return result.returncode == 0 and f"Package: {name}" in result.stdout


def check_dockerfile(binary: Binary) -> dict[str, str]:
    section("Dockerfile")
    instructions = dockerfile_instructions(ROOT / "Dockerfile")
    stages = [args for keyword, args, _ in instructions if keyword == "FROM"]
    last = len(stages) - 1
    for stage in stages:
        image = stage.split()[0]
        name, _, tag = image.partition(":")
        check(bool(tag) and tag != "latest", f"base image {image} is pinned by tag")

    patterns = dockerignore_patterns()
    for keyword, args, stage in instructions:
        if keyword not in ("COPY", "ADD"):
            continue
        words = shlex.split(args)
        if any(word.startswith("--from") for word in words):
            continue
        sources = [word for word in words if not word.startswith("--")][:-1]
        for source in sources:
            exists = (ROOT / source).exists()
            files = tracked_files(source) if exists else []
            left_out = [f for f in files if not in_context(f, patterns)]
            check(
                exists and files and not left_out,
                f"COPY {source}: exists, {len(files)} files in the build context",
                "missing" if not exists else f"left out by .dockerignore: {left_out[:5]}",
            )
    # The one file the build reads from outside the copied crates.
    check(in_context("config/example.toml", patterns), "config/example.toml (include_str!) is in the build context")
    check(not in_context(".git/HEAD", patterns) and not in_context("target/debug/atelier", patterns),
          ".git and target/ stay out of the build context")

    runs = [(args, stage) for keyword, args, stage in instructions if keyword == "RUN"]
    build = [args for args, _ in runs if "cargo build" in args]
    check(len(build) == 1, "one `cargo build` step")
    profile = re.search(r"--profile\s+(\S+)", build[0]).group(1) if build else ""
    package = re.search(r"-p\s+(\S+)", build[0]).group(1) if build else ""
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    dist = cargo.get("profile", {}).get(profile, {})
    check(dist.get("inherits") == "release" and dist.get("strip") is True and dist.get("debug") is False,
          f"[profile.{profile}] in Cargo.toml: inherits release, stripped, no debug info (lto = {json.dumps(dist.get('lto'))})")
    check("--locked" in build[0] if build else False, "the build is --locked (Cargo.lock as committed)")
    server = tomllib.loads((ROOT / "crates/server/Cargo.toml").read_text())
    check(server["package"]["name"] == package and any(b["name"] == "atelier" for b in server.get("bin", [])),
          f"-p {package} is the package of the `atelier` binary")
    check(f"target/{profile}/atelier" in build[0], f"the binary is taken from target/{profile}/")

    packages: list[str] = []
    for args, stage in runs:
        if stage != last or "apt-get install" not in args:
            continue
        command = args.split("apt-get install", 1)[1].split("&&")[0]
        packages += [word for word in command.split() if not word.startswith("-")]
    missing = [name for name in packages if not apt_package_exists(name)]
    check(packages and not missing, f"the runtime's apt packages are Debian's: {' '.join(packages)}", f"not found: {missing}")
    for needed in ("ffmpeg", "espeak-ng", "fonts-noto-cjk", "ca-certificates"):
        check(needed in packages, f"the runtime installs {needed}")

    final = [(keyword, args) for keyword, args, stage in instructions if stage == last]
    values = {keyword: args for keyword, args in final}
    user = values.get("USER", "0").split(":")[0]
    check(user.isdigit() and int(user) != 0, f"USER {values.get('USER')} is numeric and not root")
    check("/data" in values.get("VOLUME", ""), "VOLUME /data")
    check(values.get("EXPOSE", "").split()[0:1] == ["8080"], "EXPOSE 8080")
    env: dict[str, str] = {}
    for keyword, args in final:
        if keyword == "ENV":
            for word in shlex.split(args):
                key, _, value = word.partition("=")
                env[key] = value
    check(env.get("ATELIER__SERVER__LISTEN") == "0.0.0.0:8080", "the server listens on 0.0.0.0:8080")
    check(env.get("ATELIER__DATA__DIR") == "/data", "the data dir is the volume")
    entrypoint = exec_form(values.get("ENTRYPOINT", "[]"))
    cmd = exec_form(values.get("CMD", "[]"))
    words = subcommand_of(entrypoint + cmd)
    check(bool(words) and binary.is_subcommand(words), f"ENTRYPOINT + CMD run `atelier {' '.join(words)}`")
    healthcheck = values.get("HEALTHCHECK", "")
    health_argv = exec_form(healthcheck.split("CMD", 1)[1]) if "CMD" in healthcheck else []
    words = subcommand_of(health_argv)
    check(words == ["healthcheck"] and binary.is_subcommand(words), "HEALTHCHECK runs `atelier healthcheck`")
    check_config_env(binary, "the image's ENV", env)
    return env


# ---------------------------------------------------------------- compose


VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}")


def interpolate(value: object, example: dict[str, str]) -> object:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?message} with deploy/.env.example's values."""
    if isinstance(value, str):
        def one(match: re.Match[str]) -> str:
            name, rest = match.group(1), match.group(2) or ""
            if name in example:
                return example[name]
            return rest[2:] if rest.startswith(":-") else ""
        return VARIABLE.sub(one, value.replace("$$", "\0")).replace("\0", "$")
    if isinstance(value, list):
        return [interpolate(item, example) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, example) for key, item in value.items()}
    return value


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def check_compose(binary: Binary, image_env: dict[str, str]) -> None:
    example = env_file(DEPLOY / ".env.example")
    for name in ("compose.yaml", "compose.single.yaml"):
        section(f"deploy/{name}")
        path = DEPLOY / name
        raw = path.read_text()
        required = {m.group(1) for m in VARIABLE.finditer(raw) if (m.group(2) or "").startswith(":?")}
        check(required <= set(example), f"its required variables are in deploy/.env.example: {sorted(required)}",
              f"missing {sorted(required - set(example))}")
        spec = interpolate(yaml.safe_load(raw), example)
        services = spec["services"]
        volumes = set((spec.get("volumes") or {}).keys())
        configs = set((spec.get("configs") or {}).keys())
        for service_name, service in services.items():
            where = f"{name} {service_name}"
            image = service.get("image", "")
            check(":" in image and not image.endswith(":latest"), f"{where}: image {image} is pinned")
            for target in service.get("depends_on") or {}:
                check(target in services, f"{where}: depends on the service {target}")
            for mount in service.get("volumes") or []:
                source = mount.split(":")[0] if isinstance(mount, str) else mount.get("source", "")
                if source.startswith((".", "/")):
                    resolved = (path.parent / source).resolve()
                    # A folder Docker makes at run time (certs) need not be here; a file must.
                    check(resolved.exists() or not Path(source).suffix,
                          f"{where}: bind mount {source} " + ("exists" if resolved.exists() else "is made at run time"))
                else:
                    check(source in volumes, f"{where}: volume {source} is declared")
            for config in service.get("configs") or []:
                source = config if isinstance(config, str) else config.get("source")
                check(source in configs, f"{where}: config {source} is declared")
            build = service.get("build")
            if build:
                context = (path.parent / build.get("context", ".")).resolve()
                check((context / build.get("dockerfile", "Dockerfile")).is_file() and context == ROOT,
                      f"{where}: builds the repository's Dockerfile")
            if not image.startswith("atelier"):
                continue
            command = service.get("command") or ["serve"]
            words = subcommand_of(["atelier", *command])
            check(bool(words) and binary.is_subcommand(words), f"{where}: runs `atelier {' '.join(words)}`")
            if words != ["serve"]:
                check((service.get("healthcheck") or {}).get("disable") is True,
                      f"{where}: the image's HTTP healthcheck is off (no listener)")
            env = dict(image_env)
            env.update({key: str(value) for key, value in (service.get("environment") or {}).items()})
            check_config_env(binary, where, env)
        app = services["atelier"]
        if name == "compose.yaml":
            check((app.get("deploy") or {}).get("replicas", 1) >= 2, f"{name}: two app nodes or more")
            database = app["environment"].get("ATELIER__DATABASE__URL", "")
            storage = app["environment"].get("ATELIER__STORAGE__URL", "")
            check(database.startswith("postgres://") and "@postgres:" in database, f"{name}: the app nodes share PostgreSQL")
            check(storage.startswith("s3://") and "endpoint=http://s3:" in storage, f"{name}: the app nodes share the S3 store")
            check(bool(app["environment"].get("ATELIER__AUTH__SECRET_KEY")), f"{name}: one server key for every node")
            nginx = services["nginx"]
            mounted = [m for m in nginx["volumes"] if "atelier.conf" in m]
            check(bool(mounted), f"{name}: nginx runs deploy/nginx/atelier.conf")
        else:
            env = app.get("environment") or {}
            check("ATELIER__DATABASE__URL" not in env and "deploy" not in app, f"{name}: one node on SQLite")


# ---------------------------------------------------------------- the manifests


def decoded(document: dict) -> dict[str, str]:
    values = {key: base64.b64decode(value).decode() for key, value in (document.get("data") or {}).items()} \
        if document["kind"] == "Secret" else dict(document.get("data") or {})
    values.update(document.get("stringData") or {})
    return values


def check_manifests(binary: Binary, rendered: Path, image_env: dict[str, str], image_user: int) -> list[str]:
    probe_paths: list[str] = []
    for file in sorted(rendered.glob("*.yaml")):
        overlay = file.stem
        section(f"deploy/k8s/overlays/{overlay} (rendered)")
        documents = [d for d in yaml.safe_load_all(file.read_text()) if d]
        by_kind: dict[str, list[dict]] = {}
        for document in documents:
            by_kind.setdefault(document["kind"], []).append(document)
        named = {(d["kind"], d["metadata"]["name"]): d for d in documents}
        deployment = by_kind["Deployment"][0]
        pod = deployment["spec"]["template"]
        service = by_kind["Service"][0]
        port = service["spec"]["ports"][0]
        container_ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
        target = container_ports.get(port["targetPort"], port["targetPort"])
        check(service["spec"]["type"] == "LoadBalancer" and port["port"] == 80 and target == 8080,
              f"{overlay}: Service LoadBalancer 80 -> 8080")
        selector = service["spec"]["selector"]
        check(all(pod["metadata"]["labels"].get(k) == v for k, v in selector.items()),
              f"{overlay}: the Service selects the pods")
        security = pod["spec"].get("securityContext", {})
        check(security.get("runAsNonRoot") is True and security.get("runAsUser") == image_user,
              f"{overlay}: pods run as the image's user {image_user}, not root")
        container = pod["spec"]["containers"][0]
        for probe in ("livenessProbe", "readinessProbe"):
            path = container.get(probe, {}).get("httpGet", {}).get("path")
            check(bool(path), f"{overlay}: {probe} on {path}")
            if path:
                probe_paths.append(path)
        check(container.get("livenessProbe", {}).get("httpGet", {}).get("path")
              != container.get("readinessProbe", {}).get("httpGet", {}).get("path"),
              f"{overlay}: liveness and readiness are different routes")
        check("requests" in container.get("resources", {}), f"{overlay}: resource requests")
        strategy = deployment["spec"]["strategy"]["type"]
        if overlay == "single-node":
            check(deployment["spec"].get("replicas") == 1 and strategy == "Recreate",
                  f"{overlay}: one replica, Recreate (SQLite has one writer)")
            volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
            data = [m for m in container["volumeMounts"] if m["mountPath"] == "/data"]
            claim = volumes[data[0]["name"]].get("persistentVolumeClaim", {}).get("claimName") if data else None
            check(claim is not None and ("PersistentVolumeClaim", claim) in named, f"{overlay}: /data on the claim {claim}")
        else:
            check(strategy == "RollingUpdate" and "replicas" not in deployment["spec"],
                  f"{overlay}: RollingUpdate, the replica count left to the autoscaler")
            hpa = by_kind.get("HorizontalPodAutoscaler", [{}])[0]
            check(hpa.get("spec", {}).get("scaleTargetRef", {}).get("name") == deployment["metadata"]["name"]
                  and hpa["spec"]["minReplicas"] >= 2, f"{overlay}: the HorizontalPodAutoscaler scales the Deployment from 2")
            pdb = by_kind.get("PodDisruptionBudget", [{}])[0]
            pdb_selector = pdb.get("spec", {}).get("selector", {}).get("matchLabels", {})
            check(bool(pdb_selector) and all(pod["metadata"]["labels"].get(k) == v for k, v in pdb_selector.items()),
                  f"{overlay}: the PodDisruptionBudget covers the pods")
            jobs = by_kind.get("Job", [])
            check(len(jobs) == 1, f"{overlay}: a migrate Job")
        workloads = [(d["metadata"]["name"], d["spec"]["template"]) for d in by_kind.get("Deployment", []) + by_kind.get("Job", [])]
        for name, template in workloads:
            for container in template["spec"]["containers"]:
                where = f"{overlay} {name}/{container['name']}"
                words = subcommand_of(["atelier", *(container.get("args") or ["serve"])])
                check(binary.is_subcommand(words), f"{where}: runs `atelier {' '.join(words)}`")
                env = dict(image_env)
                for source in container.get("envFrom", []):
                    for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                        if key in source:
                            document = named.get((kind, source[key]["name"]))
                            check(document is not None, f"{where}: {kind} {source[key]['name']} is in the overlay")
                            env.update(decoded(document) if document else {})
                for item in container.get("env", []):
                    env[item["name"]] = item.get("value", "")
                with tempfile.TemporaryDirectory() as mounted:
                    volumes = {v["name"]: v for v in template["spec"].get("volumes", [])}
                    for mount in container.get("volumeMounts", []):
                        config_map = volumes.get(mount["name"], {}).get("configMap")
                        if not config_map:
                            continue
                        folder = Path(mounted + mount["mountPath"])
                        folder.mkdir(parents=True, exist_ok=True)
                        for file_name, text in decoded(named[("ConfigMap", config_map["name"])]).items():
                            (folder / file_name).write_text(text)
                        env = {k: v.replace(mount["mountPath"], str(folder), 1) if v.startswith(mount["mountPath"]) else v
                               for k, v in env.items()}
                    if name.endswith("migrate"):
                        check(env.get("ATELIER__DATABASE__URL", "").startswith("postgres://"),
                              f"{where}: migrates the PostgreSQL database")
                    check_config_env(binary, where, env)
    return sorted(set(probe_paths))


# ---------------------------------------------------------------- nginx


def nginx_version() -> tuple[int, ...] | None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not nginx:
        return None
    result = subprocess.run([nginx, "-v"], capture_output=True, text=True)
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stderr)
    return tuple(int(x) for x in match.groups()) if match else None


def nginx_size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", text).groups()
    return int(number) * {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}[unit.lower()]


def check_body_limits(binary: Binary, conf: str) -> None:
    ok, output = binary.config_show({})
    defaults = tomllib.loads(output)
    sizes: dict[str, int] = {}
    location = "server"
    for line in conf.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("server") and line.endswith("{"):
            location = "server"
        if line.startswith("location"):
            location = line.removeprefix("location").strip(" {")
        match = re.match(r"client_max_body_size\s+(\S+);", line)
        if match:
            sizes[location] = nginx_size(match.group(1))
    want = {
        "server": defaults["server"]["max_body_bytes"],
        "= /api/v1/uploads": defaults["server"]["max_upload_bytes"],
        "~ ^/v1/(images/edits|videos)$": defaults["server"]["max_upload_bytes"],
        "~ ^/api/v1/worker/tasks/[^/]+/complete$": defaults["pull"]["max_output_bytes"] + MIB,
    }
    for where, size in want.items():
        check(sizes.get(where) == size, f"nginx client_max_body_size at {where} is the server's {size} bytes",
              f"nginx says {sizes.get(where)}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def local_nginx_conf(conf: str, version: tuple[int, ...], work: Path, app: int, http_port: int, https_port: int) -> str:
    """deploy/nginx/atelier.conf for this machine's nginx on loopback; each change is
    one that must match exactly where it is expected."""
    changes = [
        ("server atelier:8080 resolve;", f"server 127.0.0.1:{app};", 1),
        ("listen 80;", f"listen 127.0.0.1:{http_port};", 1),
        ("listen [::]:80;", "", 1),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;", 1),
        ("listen [::]:443 ssl;", "", 1),
        ("/etc/nginx/certs/", f"{work}/certs/", 2),
        ("/var/cache/nginx/", f"{work}/cache/", 1),
    ]
    if version < (1, 25, 1):
        changes.append(("http2 on;", "", 1))
    for old, new, count in changes:
        found = conf.count(old)
        check(found == count, f"nginx config for loopback: `{old}` -> `{new or '(left out)'}`", f"found {found} times, not {count}")
        conf = conf.replace(old, new)
    return conf


class Https:
    def __init__(self, port: int, cafile: Path):
        self.port = port
        self.context = ssl.create_default_context(cafile=str(cafile))

    def connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("localhost", self.port, context=self.context, timeout=10)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        connection = self.connect()
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response, data

    def headers_only(self, path: str, length: int, headers: dict[str, str] | None = None) -> int:
        """POST announcing a body of `length` bytes and sending none: the status nginx
        (or the server) answers on the headers alone."""
        connection = self.connect()
        connection.putrequest("POST", path)
        for key, value in {"Content-Length": str(length), "Content-Type": "application/octet-stream", **(headers or {})}.items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status


def run_behind_nginx(binary: Binary, conf_text: str, probe_paths: list[str]) -> None:
    version = nginx_version()
    if version is None:
        # scripts/test sets ATELIER_TEST_REQUIRE_TOOLS: there a missing tool fails.
        if os.environ.get("ATELIER_TEST_REQUIRE_TOOLS") == "1":
            check(False, "nginx is installed (scripts/install-test-deps installs nginx-light)")
        else:
            print("skip  nginx is not installed (scripts/install-test-deps installs nginx-light)")
        return
    section(f"deploy/nginx/atelier.conf on nginx {'.'.join(map(str, version))}, in front of the binary")
    if not check(shutil.which("openssl") is not None, "openssl makes the test certificate"):
        return
    work = Path(tempfile.mkdtemp(prefix="atelier-deploy-check."))
    server = nginx = None
    try:
        for folder in ("certs", "cache", "temp", "data"):
            (work / folder).mkdir()
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(work / "certs/privkey.pem"), "-out", str(work / "certs/fullchain.pem")],
            check=True, capture_output=True)
        # The server, workers off: a task stays queued, so its event stream stays open.
        log = open(work / "server.log", "w")
        server = subprocess.Popen(
            [binary.path, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(work / "data")],
            stdout=log, stderr=subprocess.STDOUT,
            env=binary.clean_env({"ATELIER__WORKER__ENABLED": "false", "ATELIER__LOG__LEVEL": "warn"}, str(work)))
        app = None
        for _ in range(300):
            match = re.search(r"Atelier is listening on http://127\.0\.0\.1:(\d+)", (work / "server.log").read_text())
            if match:
                app = int(match.group(1))
                break
            if server.poll() is not None:
                break
            time.sleep(0.1)
        if not check(app is not None, "the server starts", (work / "server.log").read_text()[-1000:]):
            return
        http_port, https_port = free_port(), free_port()
        conf = local_nginx_conf(conf_text, version, work, app, http_port, https_port)
        (work / "atelier.conf").write_text(conf)
        user = "user root root;" if os.geteuid() == 0 else ""
        temp = work / "temp"
        (work / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {work}/atelier.conf;
}}
""")
        nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
        test = subprocess.run([nginx_bin, "-t", "-p", str(work), "-c", str(work / "nginx.conf")], capture_output=True, text=True)
        if not check(test.returncode == 0, "nginx -t", test.stderr.strip()):
            return
        nginx = subprocess.Popen([nginx_bin, "-p", str(work), "-c", str(work / "nginx.conf"), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        https = Https(https_port, work / "certs/fullchain.pem")
        for _ in range(100):
            try:
                https.request("GET", "/api/v1/health/live")
                break
            except OSError:
                time.sleep(0.05)
        key = (work / "data/cli-key").read_text().strip()
        auth = {"Authorization": f"Bearer {key}"}

        response, body = https.request("GET", "/api/v1/health/ready")
        check(response.status == 200 and json.loads(body)["status"] == "ok", "TLS through nginx: GET /api/v1/health/ready 200")
        for path in probe_paths:
            direct = http.client.HTTPConnection("127.0.0.1", app, timeout=10)
            direct.request("GET", path)
            status = direct.getresponse().status
            direct.close()
            proxied, _ = https.request("GET", path)
            check(status == 200 and proxied.status == 200, f"the manifests' probe {path}: 200 from the server and through nginx")

        first, first_body = https.request("GET", "/studio/app.css", headers={"Accept-Encoding": "identity"})
        second, second_body = https.request("GET", "/studio/app.css", headers={"Accept-Encoding": "identity"})
        check(first.status == 200 and first.getheader("X-Cache-Status") == "MISS"
              and second.getheader("X-Cache-Status") == "HIT" and first_body == second_body,
              "the studio's files are cached (MISS, then HIT with the same bytes)",
              f"{first.status} {first.getheader('X-Cache-Status')} then {second.getheader('X-Cache-Status')}")
        etag = first.getheader("ETag")
        revalidated, _ = https.request("GET", "/studio/app.css", headers={"Accept-Encoding": "identity", "If-None-Match": etag or ""})
        check(revalidated.status == 304, "a browser's If-None-Match gets 304 from the cache")
        api, _ = https.request("GET", "/api/v1/system/info", headers=auth)
        check(api.status == 200 and api.getheader("X-Cache-Status") is None, "the API is not cached")

        over = https.headers_only("/api/v1/tasks", 10 * MIB + 1, auth)
        check(over == 413, "nginx refuses a body over 10 MiB on the API (413)", f"got {over}")
        response, body = https.request("POST", "/api/v1/uploads", body=b"\0" * (10 * MIB + 1),
                                       headers={**auth, "Content-Type": "application/octet-stream"})
        check(response.status != 413 and body.startswith(b"{"),
              "an 11 MiB upload passes nginx to the server (its own answer)", f"{response.status} {body[:80]!r}")
        over = https.headers_only("/api/v1/uploads", 50 * MIB + 1, auth)
        check(over == 413, "nginx refuses an upload over 50 MiB (413)", f"got {over}")
        over = https.headers_only("/v1/images/edits", 50 * MIB + 1, auth)
        check(over == 413, "nginx refuses an image edit over 50 MiB (413)", f"got {over}")
        passed_on = https.headers_only("/api/v1/worker/tasks/x/complete", 100 * MIB)
        check(passed_on == 401, "a worker's 100 MiB outputs stream to the server (its 401: no worker key)", f"got {passed_on}")
        over = https.headers_only("/api/v1/worker/tasks/x/complete", 513 * MIB + 1)
        check(over == 413, "nginx refuses a worker's outputs over 513 MiB (413)", f"got {over}")

        response, body = https.request("POST", "/api/v1/tasks", body=json.dumps(
            {"model": "local/placeholder", "input": {"prompt": "deploy-check"}}).encode(),
            headers={**auth, "Content-Type": "application/json"})
        task = json.loads(body).get("task_id") if response.status in (200, 201, 202) else None
        if check(task is not None, "a task is queued through nginx", f"{response.status} {body[:200]!r}"):
            # Workers are off: the task stays queued and its stream open. Buffered,
            # nginx would hold even the headers back until the stream ended.
            connection = https.connect()
            connection.timeout = 5
            connection.request("GET", f"/api/v1/tasks/{task}/events", headers={**auth, "Accept": "text/event-stream"})
            started = time.monotonic()
            status, line = None, b""
            try:
                stream = connection.getresponse()
                status = stream.status
                line = stream.readline()
            except (TimeoutError, socket.timeout):
                pass
            elapsed = time.monotonic() - started
            check(status == 200 and line.startswith((b"event:", b"data:", b"id:")),
                  f"the task's event stream arrives while it is open ({elapsed:.2f} s: not buffered)",
                  f"status {status}, first line {line[:80]!r}")
            connection.close()

        raw = https.context.wrap_socket(socket.create_connection(("127.0.0.1", https_port), timeout=10), server_hostname="localhost")
        raw.sendall((f"GET /api/v1/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
                     f"Authorization: Bearer {key}\r\n\r\n").encode())
        status_line = raw.recv(4096).split(b"\r\n", 1)[0]
        raw.close()
        check(b" 101 " in status_line + b" ", "a WebSocket upgrade passes through nginx (101)", repr(status_line))

        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/studio/app.css")
        redirect = plain.getresponse()
        redirect.read()
        plain.close()
        check(redirect.status == 301 and (redirect.getheader("Location") or "").startswith("https://"),
              "plain HTTP is sent to HTTPS (301)")
    finally:
        for process, stop in ((nginx, signal.SIGQUIT), (server, signal.SIGTERM)):
            if process is not None and process.poll() is None:
                process.send_signal(stop)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    binary = Binary(sys.argv[1])
    rendered = Path(sys.argv[2])
    image_env = check_dockerfile(binary)
    user = next(args for keyword, args, _ in reversed(dockerfile_instructions(ROOT / "Dockerfile")) if keyword == "USER")
    check_compose(binary, image_env)
    probe_paths = check_manifests(binary, rendered, image_env, int(user.split(":")[0]))
    section("deploy/nginx/atelier.conf")
    conf = (DEPLOY / "nginx/atelier.conf").read_text()
    check_body_limits(binary, conf)
    run_behind_nginx(binary, conf, probe_paths)
    print(f"deploy-check: {passed} passed, {len(failed)} failed")
    for what in failed:
        print(f"  failed: {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
