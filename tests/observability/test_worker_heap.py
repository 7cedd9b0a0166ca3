"""A worker moves what it built at startup out of the cyclic collector's walks (gc.freeze),
for as long as it serves: full collections of that heap stalled the event loop under load."""

import gc

from fastapi.testclient import TestClient

from app.core.settings import Settings
from app.main import create_app
from tests.support import ManualClock


def test_a_serving_worker_keeps_its_startup_objects_frozen_and_thaws_them_at_shutdown(
    settings: Settings, clock: ManualClock
) -> None:
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(settings, clock=clock)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 0

    assert gc.get_freeze_count() == 0
