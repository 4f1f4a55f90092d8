"""XBlock test runtime (ToyRuntime with a user and a settings service) and the fake orchestrator."""

from __future__ import annotations

import json
import socket
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
from webob import Request
from xblock.field_data import DictFieldData
from xblock.fields import ScopeIds
from xblock.reference.user_service import UserService, XBlockUser
from xblock.runtime import DictKeyValueStore, KvsFieldData
from xblock.test.toy_runtime import ToyRuntime

from fake_orchestrator import SERVICE_TOKEN, FakeOrchestrator, start
from openedx_lab_xblock import LabXBlock
from openedx_lab_xblock import throttle

COURSE = "course-v1:OpenCraft+Linux101+2026"


class UsageKey(str):
    """A usage id with the course key, as Open edX's opaque keys have (`context_key`)."""

    context_key = COURSE


class FakeUserService(UserService):
    def __init__(self, anonymous_id: Optional[str]):
        super().__init__()
        self.anonymous_id = anonymous_id

    def get_current_user(self) -> XBlockUser:
        attrs = {"edx-platform.anonymous_user_id": self.anonymous_id} if self.anonymous_id else {}
        user = XBlockUser(is_current_user=True, emails=["learner@example.org"], full_name="A Learner")
        user.opt_attrs = {**attrs, "edx-platform.username": "alearner"}
        return user


class FakeSettingsService:
    def __init__(self, bucket: Optional[Dict[str, Any]]):
        self.bucket = bucket

    def get_settings_bucket(self, block: Any, default: Any = None) -> Any:
        return self.bucket if self.bucket is not None else default


class LabTestRuntime(ToyRuntime):
    """One learner (or author) using the unit: their own user service, shared block storage.

    Events the block publishes (grades) are recorded in `events`, as (user id, type, data).
    """

    def __init__(
        self,
        user_id: str,
        anonymous_id: Optional[str],
        settings: Optional[dict],
        kvs: DictKeyValueStore,
        events: Optional[List[tuple]] = None,
    ):
        super().__init__(user_id=user_id)
        self._services["field-data"] = KvsFieldData(kvs)
        self._services["user"] = FakeUserService(anonymous_id)
        self._services["settings"] = FakeSettingsService(settings)
        self.events = events if events is not None else []

    def publish(self, block: Any, event_type: str, event_data: Any) -> None:
        super().publish(block, event_type, event_data)
        self.events.append((block.scope_ids.user_id, event_type, event_data))


class Unit:
    """One lab unit of a course, as several users see it."""

    def __init__(self, settings: Optional[dict], lab_name: str = "linux-basics"):
        self.settings = settings
        self.kvs = DictKeyValueStore()
        self.lab_name = lab_name
        #: Every event published by the unit's blocks, for any user: (user id, type, data).
        self.events: List[tuple] = []

    def block_for(self, user_id: str, anonymous_id: Optional[str] = None) -> LabXBlock:
        runtime = LabTestRuntime(user_id, anonymous_id, self.settings, self.kvs, self.events)
        ids = ScopeIds(user_id, "openedx_lab", "def-lab-1", UsageKey("block-v1:OpenCraft+Linux101+2026+type@openedx_lab+block@lab1"))
        block = runtime.construct_xblock_from_class(LabXBlock, ids)
        if self.lab_name and not block.lab_name:
            block.lab_name = self.lab_name
            block.save()
        return block


def call(block: LabXBlock, handler: str, data: Any = None, method: str = "POST") -> Any:
    """Calls a handler as the browser would; JSON handlers' answers are decoded."""
    request = Request.blank("/", method=method)
    if data is not None:
        request.body = json.dumps(data).encode()
        request.content_type = "application/json"
    response = block.runtime.handle(block, handler, request)
    if response.content_type == "application/json":
        return response.status_code, response.json
    return response.status_code, response


@pytest.fixture(autouse=True)
def _no_calls_counted() -> Iterator[None]:
    """Each test starts with nobody's calls counted (without Django, they count in this process)."""
    throttle.LOCAL.clear()
    yield


@pytest.fixture(scope="session")
def _server() -> Iterator[FakeOrchestrator]:
    fake = start(FakeOrchestrator())
    yield fake
    assert fake.server is not None
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def orchestrator(_server: FakeOrchestrator) -> FakeOrchestrator:
    """The fake API, with no labs and no requests recorded yet."""
    _server.labs.clear()
    _server.requests.clear()
    _server.faults.clear()
    _server.tokens_issued.clear()
    _server.usage = None
    _server.clear_checks()
    return _server


@pytest.fixture
def settings(orchestrator: FakeOrchestrator) -> dict:
    return {"API_URL": orchestrator.url, "SERVICE_TOKEN": SERVICE_TOKEN, "PUBLIC_API_URL": "https://labs.example.org/"}


@pytest.fixture
def unit(settings: dict) -> Unit:
    return Unit(settings)


@pytest.fixture
def closed_port_url() -> str:
    """A URL where nothing listens: the port was free a moment ago and is closed now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
