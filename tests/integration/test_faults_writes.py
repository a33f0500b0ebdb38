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


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_update_is_sent_once(
    fault: str,
    proxy: FaultProxy,
    make_client: MakeClient,
    direct: InvokeAIClient,
    tiny_models_dir: Path,
    installed: list[str],
) -> None:
    rule, error = FAULTS[fault]
    model = install_tiny(direct, tiny_models_dir, installed)
    proxy.add(Rule(method="PATCH", path=RECORD, **rule))
    client = make_client(proxy.url, events=False)
    with pytest.raises(error) as caught:
        client.dnn_model_repo.update_model(model.key, {"name": f"renamed-{fault}"})
    assert caught.value.details["method"] == "PATCH"
    assert proxy.stats.count("PATCH", sent=False) == 1
    assert proxy.stats.count("PATCH") == 1
    after = direct.dnn_model_repo.get_model_by_key(model.key)
    assert after is not None and after.name == f"renamed-{fault}"  # the server did it


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_delete_is_sent_once(
    fault: str,
    proxy: FaultProxy,
    make_client: MakeClient,
    direct: InvokeAIClient,
    tiny_models_dir: Path,
    installed: list[str],
) -> None:
    rule, error = FAULTS[fault]
    model = install_tiny(direct, tiny_models_dir, installed)
    proxy.add(Rule(method="DELETE", path=RECORD, **rule))
    client = make_client(proxy.url, events=False)
    with pytest.raises(error) as caught:
        client.dnn_model_repo.delete_model(model.key)
    assert caught.value.details["method"] == "DELETE"
    assert proxy.stats.count("DELETE", sent=False) == 1
    assert proxy.stats.count("DELETE") == 1
    assert direct.dnn_model_repo.get_model_by_key(model.key) is None  # the server did it
