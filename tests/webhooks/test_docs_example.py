"""docs/webhooks.md's example, run as written: its receiver, in a process of its own, gets and
verifies the events of a low reading, prints each once, and refuses an unsigned request."""

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from app.core.settings import Settings
from tests.support import PROJECT_ROOT, eventually, free_port
from tests.webhooks.conftest import create_endpoint, create_pattern, delivering_app

pytestmark = pytest.mark.e2e

DOC = PROJECT_ROOT / "docs" / "webhooks.md"


def receiver_source() -> str:
    blocks = re.findall(r"```python[^\n]*\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    [receiver] = [block for block in blocks if "class Receiver" in block]
    return str(receiver)


def test_the_documented_receiver_prints_the_verified_events_of_a_low_reading(
    fast_settings: Settings, tmp_path: Path
) -> None:
    script = tmp_path / "receiver.py"
    script.write_text(receiver_source())
    assert len(script.read_text().strip().splitlines()) <= 30
    port = free_port()
    lines: list[str] = []

    with delivering_app(fast_settings) as client:
        _, secret = create_endpoint(client, f"http://127.0.0.1:{port}/hooks")
        process = subprocess.Popen(
            [sys.executable, str(script)],
            env={**os.environ, "WEBHOOK_SECRET": secret, "PORT": str(port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
        reader.start()
        try:
            eventually(lambda: _listening(port))
            unsigned = httpx.post(f"http://127.0.0.1:{port}/hooks", json={"type": "forged"})
            create_pattern(client, "decompose-first")
            reading = client.post("/v1/jobs/job-42/entropy-readings", json={"entropy": 0.12})
            eventually(lambda: len(lines) >= 2)
        finally:
            process.terminate()
            process.wait(timeout=10)
            reader.join(timeout=10)
            if process.stdout is not None:
                process.stdout.close()

    assert unsigned.status_code == 400
    response_id = reading.json()["response"]["id"]
    assert sorted(line.split(" ", 1)[0] for line in lines) == [
        "entropy_response.triggered",
        "pattern.status_changed",
    ]
    assert all(response_id in line for line in lines)
    changed = next(line for line in lines if line.startswith("pattern."))
    assert "'new_status': 'pending'" in changed


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True
