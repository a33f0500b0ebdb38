"""Reads through a faulty network (the test bed's fault proxy, ``testbed/fault_proxy.py``):
5xx answers, resets before and after the server saw the request, and answers cut
mid-body are retried and succeed; a fault that lasts ends in our connection error,
naming method and route; a call's deadline holds within its timeout plus 1 s, also for
an answer that trickles in a byte at a time. Sync and async clients.

The proxy counts what reached the server (``sent``) and what the client sent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.errors import APIConnectionError, APITimeoutError, ServerError
from testbed import tiny_models as tm
from testbed.fault_proxy import FaultProxy
from tests.integration._faults import (
    INSTALL,
    MODELS,
    Clock,
    Rule,
    direct,
    install_tiny,
    jobs_for,
    proxy,
)

__all__ = ["direct", "proxy"]  # fixtures

pytestmark = pytest.mark.integration

MakeClient = Callable[..., Any]
LIST = r"^/api/v2/models/$"
TIMEOUT = 2.0  # the clients' timeout in the deadline tests
SLACK = 1.0  # the bound: the configured timeout plus 1 s


def _get_model(client: Any, key: str) -> Any:
    return client.dnn_model_repo.get_model_by_key(key)


# Each read route, with a call of it (given a model key).
READS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "list_models": (LIST, lambda client, key: client.dnn_model_repo.list_models()),
    "get_model_by_key": (r"^/api/v2/models/i/", _get_model),
    "list_install_jobs": (INSTALL, lambda client, key: client.dnn_model_repo.list_install_jobs()),
}
FAULTS: dict[str, dict[str, Any]] = {
    "502": {"action": "status", "status": 502},
    "504": {"action": "status", "status": 504},
    "reset-before": {"action": "reset"},
    "reset-after": {"action": "reset", "after": True},
    "cut": {"action": "cut"},
}
# How many of the three attempts reached the server, per fault.
REACHED = {"502": 1, "504": 1, "reset-before": 1, "reset-after": 3, "cut": 3}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_reads_are_retried_and_succeed(
    fault: str, proxy: FaultProxy, make_client: MakeClient
) -> None:
    proxy.add(Rule(method="GET", path=LIST, nth={1, 2}, **FAULTS[fault]))
    client = make_client(proxy.url, events=False)
    assert isinstance(client.dnn_model_repo.list_models(), list)
    assert proxy.stats.count("GET", LIST, sent=False) == 3  # two faults, then the answer
    assert proxy.stats.count("GET", LIST) == REACHED[fault]


@pytest.mark.parametrize("read", sorted(READS))
def test_each_read_route_is_retried(
    read: str,
    proxy: FaultProxy,
    make_client: MakeClient,
    direct: InvokeAIClient,
    tiny_models_dir: Path,
    installed: list[str],
) -> None:
    needs_key = read == "get_model_by_key"
    key = install_tiny(direct, tiny_models_dir, installed).key if needs_key else ""
    path, call = READS[read]
    proxy.add(Rule("reset", method="GET", path=path, after=True, nth={1}))
    proxy.add(Rule("status", method="GET", path=path, status=503, nth={1}))  # the 2nd
    client = make_client(proxy.url, events=False)
    result = call(client, key)
    if read == "get_model_by_key":
        assert result is not None and result.key == key
    else:
        assert isinstance(result, list)
    assert proxy.stats.count("GET", path, sent=False) == 3
    assert proxy.stats.count("GET", path) == 2  # the reset one, and the answer


@pytest.mark.parametrize("fault", ["reset-before", "reset-after", "cut"])
def test_a_lasting_fault_ends_in_a_connection_error(
    fault: str, proxy: FaultProxy, make_client: MakeClient
) -> None:
    proxy.add(Rule(method="GET", path=LIST, **FAULTS[fault]))
    client = make_client(proxy.url, events=False, max_retries=2)
    with pytest.raises(APIConnectionError) as caught:
        client.dnn_model_repo.list_models()
    err = caught.value
    assert not isinstance(err, APITimeoutError)
    assert (err.method, err.route) == ("GET", MODELS)
    assert str(err).startswith(f"GET {MODELS}: ")
    assert proxy.stats.count("GET", LIST, sent=False) == 3  # the budget: 1 + 2 retries


def test_lasting_5xx_ends_in_the_last_answer(proxy: FaultProxy, make_client: MakeClient) -> None:
    proxy.add(Rule("status", method="GET", path=LIST, status=503))
    client = make_client(proxy.url, events=False, max_retries=2)
    with pytest.raises(ServerError) as caught:
        client.dnn_model_repo.list_models()
    assert caught.value.status_code == 503
    assert proxy.stats.count("GET", LIST, sent=False) == 3
    assert proxy.stats.count("GET", LIST) == 0


def test_no_retries_means_one_attempt(proxy: FaultProxy, make_client: MakeClient) -> None:
    proxy.add(Rule("reset", method="GET", path=LIST, nth={1}))
    client = make_client(proxy.url, events=False, max_retries=0)
    with pytest.raises(APIConnectionError):
        client.dnn_model_repo.list_models()
    assert proxy.stats.count("GET", LIST, sent=False) == 1
    assert client.dnn_model_repo.list_models() is not None  # the next call works


# -- the whole-call deadline -------------------------------------------------------------

SLOW_ANSWERS: dict[str, dict[str, Any]] = {
    "hold": {"action": "hold"},  # no answer at all
    "delay": {"action": "delay", "seconds": 10.0},  # an answer, too late
    "trickle-bytes": {"action": "trickle", "chunk": 1, "seconds": 0.05},  # a byte at a time
    "trickle-chunks": {"action": "trickle", "chunk": 20, "seconds": 0.5},  # head: > 3 s
}


@pytest.mark.parametrize("slow", sorted(SLOW_ANSWERS))
def test_a_read_deadline_holds(slow: str, proxy: FaultProxy, make_client: MakeClient) -> None:
    proxy.add(Rule(method="GET", path=LIST, **SLOW_ANSWERS[slow]))
    client = make_client(proxy.url, events=False, timeout=TIMEOUT)
    clock = Clock()
    with pytest.raises(APITimeoutError) as caught:
        client.dnn_model_repo.list_models()
    assert clock.seconds < TIMEOUT + SLACK, clock.seconds
    assert (caught.value.method, caught.value.route) == ("GET", MODELS)


def test_a_write_deadline_holds_and_the_write_is_not_repeated(
    proxy: FaultProxy,
    make_client: MakeClient,
    direct: InvokeAIClient,
    tiny_models_dir: Path,
    installed: list[str],
) -> None:
    source = tm.write_embedding_sd1(tiny_models_dir)
    proxy.add(Rule("trickle", method="POST", path=INSTALL, chunk=1, seconds=0.05))
    client = make_client(proxy.url, events=False, timeout=TIMEOUT)
    clock = Clock()
    with pytest.raises(APITimeoutError):
        client.dnn_model_repo.install_model(source, inplace=True)
    assert clock.seconds < TIMEOUT + SLACK, clock.seconds
    assert proxy.stats.count("POST", INSTALL, sent=False) == 1
    (job,) = jobs_for(direct, source)  # the server did it, once
    final = direct.dnn_model_repo.get_install_job(job.id)
    assert final is not None
    info = final.wait(timeout=60, poll_interval=0.2)
    assert info.is_success and info.model_key
    installed.append(info.model_key)
