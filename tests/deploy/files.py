"""Readers for the deployment files, so the tests can hold them against the app.

No Docker engine runs here, so these implement the small parts of Docker's and Compose's
semantics that the tests need: Dockerfile instructions and stages, .dockerignore matching, and
Compose's `${VAR:?error}` / `${VAR:-default}` interpolation; and the lock files' layout.
"""

import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
NGINX_CONF = PROJECT_ROOT / "deploy" / "nginx.conf"
README = PROJECT_ROOT / "README.md"


# --- Dockerfile -------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper-cased
    arguments: str  # the rest of the instruction, continuation lines joined

    def exec_form(self) -> list[str]:
        """The JSON-array form of CMD/ENTRYPOINT/RUN (and of HEALTHCHECK's CMD)."""
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.keyword} is not in exec (JSON array) form"
        return [str(item) for item in value]

    def flags_and_rest(self) -> tuple[dict[str, str], str]:
        """`--name=value` flags (COPY --from=…, HEALTHCHECK --interval=…) and what follows."""
        flags: dict[str, str] = {}
        rest = self.arguments
        while match := re.match(r"--([a-z-]+)=(\S+)\s+", rest):
            flags[match.group(1)] = match.group(2)
            rest = rest[match.end() :]
        return flags, rest


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """ENV key=value pairs (values unquoted; `$PATH` left as written)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def healthcheck(stage: Stage) -> tuple[dict[str, str], list[str]]:
    """HEALTHCHECK's options and its exec-form command."""
    flags, rest = stage.last("HEALTHCHECK").flags_and_rest()
    keyword, _, command = rest.partition(" ")
    assert keyword == "CMD", "HEALTHCHECK without CMD"
    return flags, Instruction("CMD", command.strip()).exec_form()


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's build stages, each with its instructions in order."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments (and the syntax directive) may sit inside continued lines too
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"

    stages: list[Stage] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip())
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"{instruction.keyword} before the first FROM"
            stages[-1].instructions.append(instruction)
    return stages


# --- .dockerignore ----------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regular expression."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]"
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def dockerignore_rules(path: Path = DOCKERIGNORE) -> list[tuple[bool, re.Pattern[str], str]]:
    """(excludes, regex, pattern) per line, in order; the last matching rule decides."""
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append((not negated, _pattern_regex(pattern), pattern))
    return rules


def is_ignored(relative: str, rules: list[tuple[bool, re.Pattern[str], str]]) -> bool:
    """Docker's rule: a pattern matches a path when it matches the path or one of its parents."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for excludes, regex, _pattern in rules:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = excludes
    return ignored


def build_context(destination: Path, source: Path = PROJECT_ROOT) -> list[str]:
    """Copy what `docker build .` would send (the tree less .dockerignore) to `destination`."""
    rules = dockerignore_rules(source / ".dockerignore")
    reincluded = [pattern for excludes, _regex, pattern in rules if not excludes]
    sent: list[str] = []
    for directory, subdirectories, files in os.walk(source):
        relative_dir = os.path.relpath(directory, source)
        prefix = "" if relative_dir == "." else relative_dir + "/"
        # Skip an ignored directory unless a `!` pattern may reach inside it (as Docker does).
        subdirectories[:] = [
            name
            for name in subdirectories
            if not is_ignored(prefix + name, rules)
            or any(p == prefix + name or p.startswith(prefix + name + "/") for p in reincluded)
        ]
        for name in files:
            relative = prefix + name
            if not is_ignored(relative, rules):
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(directory) / name, target)
                sent.append(relative)
    return sorted(sent)


# --- docker-compose.yml -----------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


class MissingVariableError(ValueError):
    """A `${VAR:?message}` whose variable is unset or empty, as Compose refuses it."""


def interpolate(value: Any, environment: dict[str, str]) -> Any:
    """Compose's variable interpolation, applied to every string in a parsed compose file."""
    if isinstance(value, dict):
        return {key: interpolate(item, environment) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environment) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = environment.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op and op.endswith("?") and unset:
            raise MissingVariableError(f"{name}: {arg}")
        if op and op.endswith("-") and unset:
            return arg
        return current or ""

    return _VARIABLE.sub(substitute, value)


def compose_raw() -> dict[str, Any]:
    """The compose file as YAML (anchors and `<<` merges resolved), not interpolated."""
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def compose(environment: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose file as Compose would see it, with these variables (.env) set."""
    resolved = interpolate(compose_raw(), environment or {})
    assert isinstance(resolved, dict)
    return resolved


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment`, in either the mapping or the `KEY=value` list form."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {str(key): "" if value is None else str(value) for key, value in environment.items()}


SECRETS_MOUNT = "/run/secrets/"
"""Where Compose mounts a service's secrets: /run/secrets/<name>."""


def with_secrets(service: dict[str, Any], root: Path) -> dict[str, str]:
    """A service's environment with each /run/secrets/<name> replaced by the file Compose
    would mount there: the top-level secret's `file`, relative to `root` (where
    deploy/first-run.sh made secrets/). A secret the service does not list is an error, as
    it would be missing in the container."""
    declared = compose()["secrets"]
    mounted = service.get("secrets", [])
    assert all(isinstance(name, str) for name in mounted), "short secret syntax expected"
    environment = service_environment(service)
    for variable, value in environment.items():
        if value.startswith(SECRETS_MOUNT):
            name = value.removeprefix(SECRETS_MOUNT)
            assert name in mounted, f"{variable} reads secret {name!r}, not mounted there"
            environment[variable] = str(root / declared[name]["file"])
    return environment


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


# --- nginx.conf -------------------------------------------------------------------------------


def nginx_upstreams(text: str | None = None) -> dict[str, list[str]]:
    """`upstream NAME { server ADDRESS ...; }` blocks: each upstream's server lines."""
    text = NGINX_CONF.read_text() if text is None else text
    text = re.sub(r"#.*", "", text)
    upstreams: dict[str, list[str]] = {}
    for match in re.finditer(r"\bupstream\s+(\S+)\s*\{(.*?)\}", text, flags=re.DOTALL):
        servers = re.findall(r"^\s*server\s+([^;]+);", match.group(2), flags=re.MULTILINE)
        upstreams[match.group(1)] = [server.strip() for server in servers]
    return upstreams


def nginx_directives(name: str, text: str | None = None) -> list[str]:
    """The arguments of every `name ...;` directive, wherever it sits."""
    text = NGINX_CONF.read_text() if text is None else text
    text = re.sub(r"#.*", "", text)
    return [m.strip() for m in re.findall(rf"(?:^|[{{;\s]){name}\s+([^;{{]+);", text)]


# --- requirements/*.txt: the lock files -------------------------------------------------------

LOCKS = PROJECT_ROOT / "requirements"
PROJECT_INPUT = "entropy-budget (pyproject.toml)"
"""How uv's `# via` annotation names pyproject.toml's own requirements."""


@dataclass(frozen=True)
class Pin:
    """One locked package: `name==version [; marker]`, its hashes and uv's `# via` reasons."""

    name: str  # canonical (PEP 503)
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]
    via: tuple[str, ...]

    def applies_here(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def lock_pins(path: Path) -> list[Pin]:
    """The pins of a lock written by `uv pip compile --generate-hashes` (its annotations on).

    uv's output is a regular subset of the requirements format: a requirement line, then
    indented `--hash=` lines and `# via` comment lines; the requirement itself is parsed by
    `packaging`, and only the layout around it here."""
    pins: list[Pin] = []
    current: dict[str, Any] | None = None

    def close() -> None:
        if current is not None:
            pins.append(Pin(**{**current, "hashes": tuple(current["hashes"])}))

    for raw in path.read_text().splitlines():
        line = raw.rstrip(" \\")
        stripped = line.strip()
        if not stripped or (not line.startswith(" ") and stripped.startswith("#")):
            continue  # the header
        if not line.startswith(" "):
            close()
            requirement = Requirement(stripped)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{path.name}: {stripped} is not an exact pin"
            current = {
                "name": canonicalize_name(requirement.name),
                "version": specifier.version,
                "marker": requirement.marker,
                "hashes": [],
                "via": (),
            }
            continue
        assert current is not None, f"{path.name}: {raw!r} before the first requirement"
        if stripped.startswith("--hash="):
            current["hashes"].append(stripped.removeprefix("--hash="))
        elif stripped.startswith("# via "):
            current["via"] = (stripped.removeprefix("# via ").strip(),)
        elif stripped.startswith("#   "):
            current["via"] = (*current["via"], stripped.removeprefix("#   ").strip())
        elif stripped != "# via":
            raise AssertionError(f"{path.name}: unexpected line {raw!r}")
    close()
    return pins
