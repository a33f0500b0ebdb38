"""``delete_orphaned_models`` deletes only what the server lists as orphaned.

The server's ``DELETE /sync/orphaned`` removes any existing path under the models
directory, orphaned or not (``"."`` is the whole directory): the library must not pass
such a path on.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client.errors import InvalidArgumentError
from testbed import tiny_models as tm
from testbed.server import InvokeAIServer

pytestmark = pytest.mark.integration


def test_only_listed_orphans_are_deleted(
    client: Any,
    invokeai_server: InvokeAIServer | None,
    server_version: tuple[int, ...],
    install_and_wait: Any,
    tiny_models_dir: Path,
) -> None:
    if server_version < (6, 12):
        pytest.skip("orphaned folders need InvokeAI 6.12+")
    if invokeai_server is None:
        pytest.skip("INVOKE_AI_ENDPOINT is set: this test writes into the server's models dir")
    repo = client.dnn_model_repo
    _, info = install_and_wait(tm.write_lora_sd1(tiny_models_dir), inplace=False)
    record = repo.get_model_by_key(info.model_key)
    assert record is not None and record.path
    in_use = Path(record.path).parts[0]  # a folder under the models dir that a record uses
    orphan = invokeai_server.models_dir / ("orphan-" + uuid.uuid4().hex[:12])
    tm.write_embedding_sd1(orphan, "orphan.safetensors")
    try:
        for bad in (["."], [in_use], [orphan.name, "."], ["no-such-folder"]):
            # "." is refused before the orphan list is read; the others once it is
            refused = "must name a model's path" if "." in bad else "nothing was deleted"
            with pytest.raises(InvalidArgumentError, match=refused):
                repo.delete_orphaned_models(bad)
        assert (invokeai_server.models_dir / record.path).exists()
        assert orphan.exists()
        assert repo.get_model_by_key(info.model_key) is not None

        result = repo.delete_orphaned_models([str(orphan)])
        assert result.deleted == [orphan.name]
        assert not orphan.exists()
        assert (invokeai_server.models_dir / record.path).exists()
    finally:
        shutil.rmtree(orphan, ignore_errors=True)
