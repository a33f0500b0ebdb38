"""Writes through a faulty network are sent once (InvokeAI has no idempotency keys): a
fault after the server acted (a reset, a 502 in place of its answer, an answer cut
mid-body) raises, and the server holds exactly one job for the install's source, one
update, one delete. A reset before forwarding leaves the server untouched. The server's
view is read directly, not through the proxy. Sync and async clients.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.errors import APIConnectionError, APIRequestError, ServerError
from testbed import tiny_models as tm
from testbed.fault_proxy import FaultProxy
from tests.integration._faults import (
    INSTALL,
    Rule,
    direct,
    install_tiny,
    jobs_for,
    proxy,
    records_for,
)

__all__ = ["direct", "proxy"]  # fixtures

pytestmark = pytest.mark.integration

MakeClient = Callable[..., Any]
RECORD = r"^/api/v2/models/i/[^/]+$"
FAULTS: dict[str, tuple[dict[str, Any], type[APIRequestError]]] = {
    "reset-after": ({"action": "reset", "after": True}, APIConnectionError),
    "502-after": ({"action": "status", "status": 502, "after": True}, ServerError),
    "cut": ({"action": "cut"}, APIConnectionError),
}


def _settled(direct: InvokeAIClient, source: Path, installed: list[str]) -> None:
    """Wait for the one job of ``source`` and check it installed one record."""
    (job,) = jobs_for(direct, source)
    handle = direct.dnn_model_repo.get_install_job(job.id)
    assert handle is not None
    info = handle.wait(timeout=60, poll_interval=0.2)
    assert info.is_success and info.model_key, info.describe()
    installed.append(info.model_key)
    assert len(jobs_for(direct, source)) == 1
    assert [m.key for m in records_for(direct, source)] == [info.model_key]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_install_is_sent_once(
    fault: str,
    proxy: FaultProxy,
    make_client: MakeClient,
    direct: InvokeAIClient,
    tiny_models_dir: Path,
    installed: list[str],
) -> None:
    rule, error = FAULTS[fault]
    source = tm.write_embedding_sd1(tiny_models_dir)
    proxy.add(Rule(method="POST", path=INSTALL, **rule))
    client = make_client(proxy.url, events=False)
    with pytest.raises(error) as caught:
        client.dnn_model_repo.install_model(source, inplace=True)
    assert caught.value.details["method"] == "POST"
    assert caught.value.details["route"] == "/api/v2/models/install"
    assert proxy.stats.count("POST", INSTALL, sent=False) == 1
    assert proxy.stats.count("POST", INSTALL) == 1
    _settled(direct, source, installed)


def test_install_reset_before_reaching_the_server_installs_nothing(
    proxy: FaultProxy,
    make_client: MakeClient,
    direct: InvokeAIClient,
    tiny_models_dir: Path,
    installed: list[str],
) -> None:
    source = tm.write_embedding_sd1(tiny_models_dir)
    proxy.add(Rule("reset", method="POST", path=INSTALL, nth={1}))
    client = make_client(proxy.url, events=False)
    with pytest.raises(APIConnectionError):
        client.dnn_model_repo.install_model(source, inplace=True)
    assert proxy.stats.count("POST", INSTALL) == 0
    assert jobs_for(direct, source) == []
    # so sending it again (what the docs advise after checking) installs it once
    client.dnn_model_repo.install_model(source, inplace=True)
    _settled(direct, source, installed)


def _update(repo: Any, key: str, fault: str) -> None:
    repo.update_model(key, {"name": f"renamed-{fault}"})


def _updated(direct: InvokeAIClient, key: str, fault: str) -> bool:
    after = direct.dnn_model_repo.get_model_by_key(key)
    return after is not None and after.name == f"renamed-{fault}"


def _delete(repo: Any, key: str, fault: str) -> None:
    repo.delete_model(key)


def _deleted(direct: InvokeAIClient, key: str, fault: str) -> bool:
    return direct.dnn_model_repo.get_model_by_key(key) is None


RECORD_WRITES = {"PATCH": (_update, _updated), "DELETE": (_delete, _deleted)}


@pytest.mark.parametrize("method", sorted(RECORD_WRITES))
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_update_and_delete_are_sent_once(
    fault: str,
    method: str,
    proxy: FaultProxy,
    make_client: MakeClient,
    direct: InvokeAIClient,
    tiny_models_dir: Path,
    installed: list[str],
) -> None:
    rule, error = FAULTS[fault]
    write, done = RECORD_WRITES[method]
    model = install_tiny(direct, tiny_models_dir, installed)
    proxy.add(Rule(method=method, path=RECORD, **rule))
    client = make_client(proxy.url, events=False)
    with pytest.raises(error) as caught:
        write(client.dnn_model_repo, model.key, fault)
    assert caught.value.details["method"] == method
    assert proxy.stats.count(method, sent=False) == 1
    assert proxy.stats.count(method) == 1
    assert done(direct, model.key, fault)  # the server did it
