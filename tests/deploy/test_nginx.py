"""deploy/nginx.conf: what it promises, `nginx -t`, and a real nginx in front of real servers.

Debian's nginx (1.22) is older than the image's (1.27): it does not know the upstream `resolve`
flag (open source since 1.27.3), and without it nginx would resolve `api` at startup, which only
Docker's DNS can. So on an older nginx the tests run a copy whose upstream `server` line names
loopback servers instead; every other line is the file's own. The real-process test also
listens on a free loopback port and keeps its temporary files in a temporary directory.
"""

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import HTTPException
from fastapi.testclient import TestClient

from app.core.settings import Settings
from app.main import create_app
from tests.deploy.files import NGINX_CONF, nginx_directives
from tests.support import free_port, uvicorn_server

RESOLVE_SINCE = (1, 27, 3)
UPSTREAM_LINE = re.compile(r"^(\s*)server\s+api:8000\s+resolve;", flags=re.MULTILINE)
ONE_MIB = 1024 * 1024


def _nginx() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


def _nginx_version(nginx: str) -> tuple[int, ...]:
    output = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=True).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", output)
    assert match, output
    return tuple(int(part) for part in match.groups())


@pytest.fixture(scope="module")
def nginx() -> str:
    binary = _nginx()
    if binary is None:
        reason = "nginx is not installed (.ci/run installs Debian's nginx)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return binary


def runnable_copy(upstream_servers: list[str], extra_http: str = "", listen: str = "") -> str:
    """The config with its upstream pointed at loopback servers (and optional extras)."""
    text = NGINX_CONF.read_text()
    assert UPSTREAM_LINE.search(text), "the upstream server line changed; update this test"
    text = UPSTREAM_LINE.sub(
        lambda m: "\n".join(f"{m.group(1)}server {server};" for server in upstream_servers),
        text,
        count=1,
    )
    if listen:
        text, replaced = re.subn(r"listen\s+8080;", f"listen {listen};", text)
        assert replaced == 1
    return text.replace("http {", "http {\n" + extra_http, 1)


def test_limits_and_headers_agree_with_the_service() -> None:
    assert nginx_directives("client_max_body_size") == ["1m"]  # the service's 1 MiB
    assert nginx_directives("proxy_pass") == ["http://api"]
    assert nginx_directives("resolver")[0].split()[0] == "127.0.0.11"  # Docker's DNS
    assert nginx_directives("zone") == ["api 64k"]  # `resolve` needs shared memory
    assert nginx_directives("keepalive") == ["32"]
    assert nginx_directives("proxy_http_version") == ["1.1"]
    headers = dict(h.split(None, 1) for h in nginx_directives("proxy_set_header"))
    assert headers["Connection"] == '""'  # keep upstream connections open
    assert {"Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP"} <= set(headers)
    # nginx must drop an idle upstream connection before uvicorn does, or it may send a request
    # into a connection uvicorn is closing (a 502 that nginx does not retry for a POST).
    (timeout,) = nginx_directives("keepalive_timeout")
    uvicorn_keep_alive = uvicorn.Config("app.main:create_app").timeout_keep_alive
    assert int(timeout.removesuffix("s")) < uvicorn_keep_alive


def test_nginx_413_is_the_services_problem_document(settings: Settings) -> None:
    """nginx's own 413 body has the type and title the service gives a 413."""
    app = create_app(settings)

    @app.post("/too-large")
    def too_large() -> None:
        raise HTTPException(status_code=413, detail="too large")

    with TestClient(app) as client:
        service = client.post("/too-large").json()
    (body,) = re.findall(r"return 413 '([^']+)';", NGINX_CONF.read_text())
    document = json.loads(body)
    assert (document["type"], document["title"], document["status"]) == (
        service["type"],
        service["title"],
        413,
    )


def test_nginx_accepts_the_config(nginx: str, tmp_path: Path) -> None:
    version = _nginx_version(nginx)
    if version >= RESOLVE_SINCE:
        config = NGINX_CONF
    else:
        print(
            f"nginx {'.'.join(map(str, version))} predates `resolve` in upstreams: "
            "checking the config with its upstream server pointed at 127.0.0.1:8000"
        )
        config = tmp_path / "nginx.conf"
        config.write_text(runnable_copy(["127.0.0.1:8000"]))
    result = subprocess.run(
        [nginx, "-t", "-q", "-c", str(config), "-p", str(tmp_path), "-e", "stderr"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@contextmanager
def running_nginx(nginx: str, config_text: str, port: int) -> Iterator[str]:
    # Worker processes run as an unprivileged user when started by root: give them a
    # directory they can reach for request bodies and proxy buffers.
    with tempfile.TemporaryDirectory(prefix="eb-nginx-") as directory:
        Path(directory).chmod(0o755)
        config = Path(directory) / "nginx.conf"
        config.write_text(
            config_text.replace(
                "http {",
                f"http {{\n    client_body_temp_path {directory}/body;\n"
                f"    proxy_temp_path {directory}/proxy;\n",
                1,
            )
        )
        log = Path(directory) / "nginx.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    nginx,
                    "-c",
                    str(config),
                    "-p",
                    directory,
                    "-e",
                    "stderr",
                    "-g",
                    f"daemon off; pid {directory}/nginx.pid;",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 15
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"nginx exited:\n{log.read_text()}")
                try:
                    httpx.get(f"{base_url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"nginx did not answer:\n{log.read_text()}") from None
                    time.sleep(0.1)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=15)


@pytest.mark.e2e
def test_real_nginx_in_front_of_two_servers_and_a_dead_one(
    nginx: str, database_url: str, log_dir: Path
) -> None:
    dead = free_port()  # nothing listens there: a replica that went away
    with ExitStack() as stack:
        servers = [stack.enter_context(uvicorn_server(database_url, log_dir)) for _ in range(2)]
        upstreams = [s.base_url.removeprefix("http://") for s in servers] + [f"127.0.0.1:{dead}"]
        port = free_port()
        config = runnable_copy(upstreams, listen=f"127.0.0.1:{port}")
        base_url = stack.enter_context(running_nginx(nginx, config, port))
        http = stack.enter_context(httpx.Client(base_url=base_url, timeout=10))

        # Every request is answered although one upstream refuses connections.
        assert [http.get("/healthz").status_code for _ in range(12)] == [200] * 12

        # Writes go through, and the Location the service sets comes back unchanged.
        body = {"job_hash": "via-nginx", "current_entropy": 0.2}
        created = http.post("/v1/budget/adjustments", json=body)
        assert created.status_code == 201, created.text
        assert http.get(created.headers["location"]).json() == created.json()

        # Over 1 MiB: nginx answers 413 itself, as a problem document.
        too_large = http.post(
            "/v1/budget/adjustments",
            content=b"x" * (ONE_MIB + 1),
            headers={"content-type": "application/json"},
        )
        assert too_large.status_code == 413
        assert too_large.headers["content-type"] == "application/problem+json"
        assert too_large.json()["status"] == 413

        # Exactly 1 MiB is not nginx's business: it reaches the service (which refuses the
        # unknown field with a 422, not nginx with a 413).
        padding = ONE_MIB - len(json.dumps({**body, "padding": ""}))
        exact = json.dumps({**body, "padding": "p" * padding}).encode()
        assert len(exact) == ONE_MIB
        at_limit = http.post(
            "/v1/budget/adjustments", content=exact, headers={"content-type": "application/json"}
        )
        assert at_limit.status_code == 422, at_limit.text
