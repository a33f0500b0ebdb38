from __future__ import annotations

import pytest

from invokeai_py_client.client import parse_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6.14.2", (6, 14, 2)),
        ("6.8.1", (6, 8, 1)),
        ("6.12", (6, 12, 0)),
        ("6.15.0rc1", (6, 15, 0)),
        ("6.15.0.dev3+g1234", (6, 15, 0)),
        ("7", (7, 0, 0)),
    ],
)
def test_parse_version(text: str, expected: tuple[int, ...]) -> None:
    assert parse_version(text) == expected


def test_versions_order_numerically() -> None:
    assert parse_version("6.8.1") < parse_version("6.9") < parse_version("6.14.2")
