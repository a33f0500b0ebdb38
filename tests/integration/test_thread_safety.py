"""One client shared by many threads (or asyncio tasks) against a real server, while
another thread (task) on the same client keeps provoking HTTP 500 answers.

After a 5xx the server may drop the connection, and the client then retires its
connection pool; requests of the other threads must not notice: no update is lost,
and nothing but ``InvokeAIError``s is ever raised.

The 500: ``GET /api/v2/models/i/{key}/image`` for a model without a cover image
(InvokeAI 6.8.1 and 6.14.2 both answer 500 ``Internal Server Error``).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client.dnn_model import DnnModel, InstallJobStatus
from invokeai_py_client.errors import InvokeAIError, ServerError
from testbed import tiny_models as tm

pytestmark = pytest.mark.integration

WORKERS = 8
DURATION = 3.0  # seconds each worker keeps updating ...
MAX_UPDATES = 40  # ... or until it has made this many updates
MIN_UPDATES = 5  # but at least this many, however slow the server is
POLL = 0.1
TIMEOUT = 60.0


@dataclass
class Outcome:
    """What the workers and the 5xx provoker saw."""

    # worker index -> names it set, in order, each confirmed by the returned record
    names: dict[int, list[str]] = field(default_factory=dict)
    # (who, exception) for every failed update, and every exception of the provoker
    # that is not a ServerError
    failures: list[tuple[str, BaseException]] = field(default_factory=list)
    server_errors: list[ServerError] = field(default_factory=list)
    provoker_answers: int = 0  # 5xx route answered without an error (should not happen)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, who: str, err: BaseException) -> None:
        with self.lock:
            self.failures.append((who, err))


def _install_models(url: str, directory: Path, installed: list[str], count: int) -> list[str]:
    """Install ``count`` tiny embeddings in place; return their keys (cleaned up later)."""
    keys: list[str] = []
    with InvokeAIClient.from_url(url) as c:
        handles = [
            c.dnn_model_repo.install_model(tm.write_embedding_sd1(directory), inplace=True)
            for _ in range(count)
        ]
        for handle in handles:
            info = handle.wait(timeout=TIMEOUT, poll_interval=POLL)
            if info.model_key:
                installed.append(info.model_key)
            assert info.status == InstallJobStatus.COMPLETED, info.describe()
            assert info.model_key
            keys.append(info.model_key)
        for key in keys:
            record = c.dnn_model_repo.get_model_by_key(key)
            assert record is not None and not record.cover_image, record
    return keys


def _check_update(updated: DnnModel, key: str, name: str, description: str) -> None:
    assert isinstance(updated, DnnModel), updated
    assert updated.key == key, (updated.key, key)
    assert updated.name == name, (updated.name, name)
    assert updated.description == description, (updated.description, description)


def _image_route(key: str) -> str:
    return f"/models/i/{key}/image"


def _assert_outcome(
    outcome: Outcome, keys: list[str], final: dict[str, DnnModel | None], run: str
) -> None:
    bad = [f"{who}: {err!r}" for who, err in outcome.failures if not isinstance(err, InvokeAIError)]
    if bad:
        pytest.fail("exceptions that are not InvokeAIErrors:\n" + "\n".join(bad))
    if outcome.failures:
        lines = [f"{who}: {err!r}" for who, err in outcome.failures]
        pytest.fail(f"{len(lines)} calls failed (writes lost):\n" + "\n".join(lines))
    for index, key in enumerate(keys):
        names = outcome.names.get(index, [])
        assert len(names) >= MIN_UPDATES, (index, names)
        expected = [f"ts-{run}-{index}-{n}" for n in range(len(names))]
        assert names == expected, "updates lost or out of order"
        record = final[key]
        assert record is not None, f"model {key} is gone"
        assert record.name == names[-1], (record.name, names[-1])
        assert record.description == f"update {len(names) - 1} of worker {index}"
    assert outcome.server_errors, "the provoker never got a ServerError: no 5xx was provoked"
    assert all(err.status_code >= 500 for err in outcome.server_errors)
    assert outcome.provoker_answers == 0


def _worker_done(count: int, deadline: float) -> bool:
    if count >= MAX_UPDATES:
        return True
    return count >= MIN_UPDATES and time.monotonic() >= deadline


# -- threads -------------------------------------------------------------------------------


def test_threads_share_one_client_through_5xx(
    invokeai_url: str, tiny_models_dir: Path, installed: list[str]
) -> None:
    keys = _install_models(invokeai_url, tiny_models_dir, installed, WORKERS)
    (imageless,) = _install_models(invokeai_url, tiny_models_dir / "5xx", installed, 1)
    run = uuid.uuid4().hex[:8]
    outcome = Outcome()
    stop = threading.Event()
    start = threading.Barrier(WORKERS + 1)

    with InvokeAIClient.from_url(invokeai_url) as client:
        repo = client.dnn_model_repo

        def update(index: int) -> None:
            who = f"worker {index}"
            key = keys[index]
            names: list[str] = []
            outcome.names[index] = names
            try:
                start.wait(10)
                deadline = time.monotonic() + DURATION
                while not _worker_done(len(names), deadline):
                    n = len(names)
                    name = f"ts-{run}-{index}-{n}"
                    description = f"update {n} of worker {index}"
                    updated = repo.update_model(key, {"name": name, "description": description})
                    _check_update(updated, key, name, description)
                    names.append(name)
            except BaseException as err:
                outcome.fail(who, err)

        def provoke() -> None:
            try:
                start.wait(10)
            except BaseException as err:
                outcome.fail("provoker", err)
                return
            while not stop.is_set():
                try:
                    client._make_request_v2("GET", _image_route(imageless), expect="bytes")
                    outcome.provoker_answers += 1
                except ServerError as err:
                    outcome.server_errors.append(err)
                except BaseException as err:
                    outcome.fail("provoker", err)
                    return

        workers = [
            threading.Thread(target=update, args=(i,), name=f"update-{i}", daemon=True)
            for i in range(WORKERS)
        ]
        provoker = threading.Thread(target=provoke, name="provoke-5xx", daemon=True)
        provoker.start()
        for t in workers:
            t.start()
        for t in workers:
            t.join(TIMEOUT * 2)
        stop.set()
        provoker.join(TIMEOUT)
        assert not any(t.is_alive() for t in [*workers, provoker]), "a thread hung"

        final = {key: repo.get_model_by_key(key) for key in keys}

    _assert_outcome(outcome, keys, final, run)


# -- asyncio tasks -------------------------------------------------------------------------


def test_tasks_share_one_async_client_through_5xx(
    invokeai_url: str, tiny_models_dir: Path, installed: list[str]
) -> None:
    keys = _install_models(invokeai_url, tiny_models_dir, installed, WORKERS)
    (imageless,) = _install_models(invokeai_url, tiny_models_dir / "5xx", installed, 1)
    run = uuid.uuid4().hex[:8]
    outcome = Outcome()

    async def main() -> dict[str, DnnModel | None]:
        async with AsyncInvokeAIClient.from_url(invokeai_url) as client:
            repo = client.dnn_model_repo
            stop = asyncio.Event()

            async def update(index: int) -> None:
                who = f"task {index}"
                key = keys[index]
                names: list[str] = []
                outcome.names[index] = names
                try:
                    deadline = time.monotonic() + DURATION
                    while not _worker_done(len(names), deadline):
                        n = len(names)
                        name = f"ts-{run}-{index}-{n}"
                        description = f"update {n} of worker {index}"
                        updated = await repo.update_model(
                            key, {"name": name, "description": description}
                        )
                        _check_update(updated, key, name, description)
                        names.append(name)
                except BaseException as err:
                    outcome.fail(who, err)

            async def provoke() -> None:
                while not stop.is_set():
                    try:
                        await client._make_request_v2(
                            "GET", _image_route(imageless), expect="bytes"
                        )
                        outcome.provoker_answers += 1
                    except ServerError as err:
                        outcome.server_errors.append(err)
                    except BaseException as err:
                        outcome.fail("provoker", err)
                        return

            provoker = asyncio.create_task(provoke())
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(update(i) for i in range(WORKERS))), TIMEOUT * 2
                )
            finally:
                stop.set()
                await asyncio.wait_for(provoker, TIMEOUT)
            return {key: await repo.get_model_by_key(key) for key in keys}

    final = asyncio.run(main())
    _assert_outcome(outcome, keys, final, run)
