"""The request funnel: URLs, retries, error mapping, JSON checks, tokens, secrets."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from invokeai_py_client import InvokeAIClient
from invokeai_py_client._core.calls import normalize_base_url, path_segment
from invokeai_py_client._core.retry import is_retryable_method, retry_delay
from invokeai_py_client._redact import redact_url
from invokeai_py_client.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FailedDependencyError,
    InvalidArgumentError,
    InvokeAIError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    UnexpectedResponseError,
    UnprocessableEntityError,
    UnsupportedByServerError,
    UnsupportedMediaTypeError,
)

BASE = "http://invoke.test:9090"
MODELS = f"{BASE}/api/v2/models/"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("invokeai_py_client._sync.backend.time.sleep", slept.append)
    return slept


@pytest.fixture
def client() -> InvokeAIClient:
    return InvokeAIClient.from_url(BASE)


# -- URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h:9090", "http://h:9090"),
        ("http://h:9090/", "http://h:9090"),
        ("http://h:9090/api/v1", "http://h:9090"),
        ("http://h:9090/api/v2/", "http://h:9090"),
        ("https://h/invoke", "https://h/invoke"),
        ("https://h/invoke/api/v1", "https://h/invoke"),
    ],
)
def test_normalize_base_url(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


@pytest.mark.parametrize("bad", ["", "   ", "ftp://h", "h:9090", "http://"])
def test_normalize_base_url_rejects(bad: str) -> None:
    with pytest.raises(InvalidArgumentError):
        normalize_base_url(bad)


def test_redact_url_masks_userinfo_and_tokens() -> None:
    url = "http://user:pw@h/api/v2/models/install?source=x&access_token=sekrit&inplace=true"
    redacted = redact_url(url)
    assert "sekrit" not in redacted and "pw" not in redacted
    assert "source=x" in redacted and "access_token=***" in redacted


def test_path_segment_encodes_and_refuses_slashes() -> None:
    assert path_segment("a b%", "key") == "a%20b%25"
    assert path_segment(7, "id") == "7"
    for bad in ["", " ", "../install", "a/b", "a\\b", ".", ".."]:
        with pytest.raises(InvalidArgumentError):
            path_segment(bad, "key")


@respx.mock
def test_path_prefix_is_kept_for_v1_and_v2() -> None:
    v1 = respx.get("https://proxy.test/invoke/api/v1/app/version").respond(
        json={"version": "6.14.2"}
    )
    v2 = respx.get("https://proxy.test/invoke/api/v2/models/").respond(json={"models": []})
    client = InvokeAIClient.from_url("https://proxy.test/invoke/api/v1")
    assert client.server_version() == "6.14.2"
    assert client.dnn_model_repo.list_models() == []
    assert v1.call_count == 1 and v2.call_count == 1


# -- retries -------------------------------------------------------------------


def test_retry_policy_pure_functions() -> None:
    assert is_retryable_method("get") and not is_retryable_method("POST")
    assert not any(is_retryable_method(m) for m in ["PUT", "PATCH", "DELETE"])
    assert retry_delay(0, "3") == 3.0
    assert 0.375 <= retry_delay(0) <= 0.5
    assert 6.0 <= retry_delay(10) <= 8.0
    assert retry_delay(0, "3600") == 30.0  # capped
    assert 0.375 <= retry_delay(0, "soon") <= 0.5  # unreadable: the usual backoff


@respx.mock
def test_get_is_retried_on_503_then_succeeds(client: InvokeAIClient, no_sleep: list[float]) -> None:
    route = respx.get(MODELS).mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "1"}),
            httpx.Response(200, json={"models": []}),
        ]
    )
    assert client.dnn_model_repo.list_models() == []
    assert route.call_count == 2
    assert no_sleep == [1.0]


@respx.mock
def test_get_gives_up_after_max_retries(no_sleep: list[float]) -> None:
    route = respx.get(MODELS).mock(side_effect=httpx.ConnectError("refused"))
    client = InvokeAIClient.from_url(BASE, max_retries=3)
    with pytest.raises(APIConnectionError) as caught:
        client.dnn_model_repo.list_models()
    assert route.call_count == 4
    assert len(no_sleep) == 3
    assert caught.value.method == "GET" and caught.value.route == "/api/v2/models/"


@respx.mock
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_are_never_retried(client: InvokeAIClient, method: str) -> None:
    route = respx.route(method=method, url=f"{BASE}/api/v2/models/x").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={})]
    )
    with pytest.raises(ServerError):
        client._make_request_v2(method, "/models/x")
    assert route.call_count == 1


@respx.mock
def test_write_connection_error_is_not_retried(client: InvokeAIClient) -> None:
    route = respx.post(f"{BASE}/api/v2/models/empty_model_cache").mock(
        side_effect=httpx.ConnectError("refused")
    )
    with pytest.raises(APIConnectionError):
        client.dnn_model_repo.empty_model_cache()
    assert route.call_count == 1


@respx.mock
def test_timeout_maps_to_api_timeout_error(client: InvokeAIClient) -> None:
    respx.get(MODELS).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError) as caught:
        client.dnn_model_repo.list_models()
    assert isinstance(caught.value, APIConnectionError)
    assert "GET /api/v2/models/" in str(caught.value)


# -- error mapping -------------------------------------------------------------


@respx.mock
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (415, UnsupportedMediaTypeError),
        (422, UnprocessableEntityError),
        (424, FailedDependencyError),
        (500, ServerError),
        (502, ServerError),
        (418, APIError),
    ],
)
def test_status_maps_to_error_class(
    client: InvokeAIClient, status: int, error: type[APIError]
) -> None:
    respx.patch(f"{BASE}/api/v2/models/i/k1").respond(status, json={"detail": "why not"})
    with pytest.raises(error) as caught:
        client.dnn_model_repo.update_model("k1", {"name": "x"})
    exc = caught.value
    assert type(exc) is error
    assert (exc.method, exc.route, exc.status_code, exc.detail) == (
        "PATCH",
        "/api/v2/models/i/k1",
        status,
        "why not",
    )
    assert str(exc) == f"PATCH /api/v2/models/i/k1 -> {status}: why not"
    assert isinstance(exc, InvokeAIError)


@respx.mock
def test_validation_detail_is_summarised(client: InvokeAIClient) -> None:
    detail = [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
    respx.post(f"{BASE}/api/v2/models/install").respond(422, json={"detail": detail})
    with pytest.raises(APIError) as caught:
        client._make_request_v2("POST", "/models/install", params={"source": "x"})
    assert str(caught.value) == "POST /api/v2/models/install -> 422: body: Field required"
    assert caught.value.body == {"detail": detail}


@respx.mock
def test_plain_text_error_body_becomes_detail(client: InvokeAIClient) -> None:
    respx.get(f"{BASE}/api/v2/models/hugging_face").respond(500, text="Internal Server Error")
    with pytest.raises(ServerError) as caught:
        client.dnn_model_repo.list_huggingface_files("owner/repo")
    assert caught.value.detail == "Internal Server Error"


@respx.mock
def test_query_string_never_in_error_message(client: InvokeAIClient) -> None:
    respx.post(f"{BASE}/api/v2/models/install").respond(409, json={"detail": "no"})
    with pytest.raises(APIError) as caught:
        client.dnn_model_repo.install_model("http://h/m.safetensors", access_token="sekrit-1")
    assert "sekrit-1" not in str(caught.value)
    assert caught.value.route == "/api/v2/models/install"


@respx.mock
def test_empty_error_body_says_no_detail(client: InvokeAIClient) -> None:
    respx.get(MODELS).respond(400, content=b"")
    with pytest.raises(BadRequestError) as caught:
        client.dnn_model_repo.list_models()
    assert str(caught.value) == "GET /api/v2/models/ -> 400: (no detail)"


@respx.mock
def test_own_http_client_is_kept_after_server_error() -> None:
    own = httpx.Client()
    client = InvokeAIClient(BASE, http_client=own)
    respx.get(MODELS).respond(503)
    with pytest.raises(ServerError):
        client.dnn_model_repo.list_models()
    pool = client._transport.session.pool
    assert pool.acquire() is own and not own.is_closed


@respx.mock
def test_html_answer_on_json_route_is_unexpected(client: InvokeAIClient) -> None:
    respx.get(f"{BASE}/api/v2/models/i/x").respond(200, html="<!doctype html><html>web ui</html>")
    with pytest.raises(UnexpectedResponseError) as caught:
        client.dnn_model_repo.get_model_by_key("x")
    assert "text/html" in str(caught.value)
    assert caught.value.status_code == 200


@respx.mock
def test_broken_json_is_unexpected(client: InvokeAIClient) -> None:
    respx.get(MODELS).respond(
        200, content=b"{not json", headers={"content-type": "application/json"}
    )
    with pytest.raises(UnexpectedResponseError, match="broken JSON"):
        client.dnn_model_repo.list_models()


@respx.mock
def test_wrong_shape_is_unexpected_not_pydantic(client: InvokeAIClient) -> None:
    respx.get(f"{BASE}/api/v2/models/i/k1").respond(json={"key": 1})
    with pytest.raises(UnexpectedResponseError, match="does not fit"):
        client.dnn_model_repo.get_model_by_key("k1")
    respx.get(MODELS).respond(json={"models": ["not a record"]})
    with pytest.raises(UnexpectedResponseError, match="not a DnnModel record"):
        client.dnn_model_repo.list_models()


# -- headers, tokens, secrets ----------------------------------------------------


@respx.mock
def test_delete_asks_for_identity_encoding(client: InvokeAIClient) -> None:
    delete = respx.delete(f"{BASE}/api/v2/models/i/k1").respond(204)
    get = respx.get(MODELS).respond(json={"models": []})
    assert client.dnn_model_repo.delete_model("k1") is True
    client.dnn_model_repo.list_models()
    assert delete.calls.last.request.headers["accept-encoding"] == "identity"
    assert get.calls.last.request.headers["accept-encoding"] != "identity"


@respx.mock
def test_token_is_sent_and_refreshed_but_never_shown() -> None:
    route = respx.post(f"{BASE}/api/v2/models/empty_model_cache").respond(
        200, json=None, headers={"X-Refreshed-Token": "tok-2"}
    )
    respx.get(MODELS).respond(json={"models": []})
    client = InvokeAIClient.from_url(BASE, token="tok-1")
    client.dnn_model_repo.empty_model_cache()
    assert route.calls.last.request.headers["authorization"] == "Bearer tok-1"
    assert client.token == "tok-2"
    client.dnn_model_repo.list_models()
    assert respx.calls.last.request.headers["authorization"] == "Bearer tok-2"
    assert "tok-" not in repr(client) and "token=***" in repr(client)


@respx.mock
def test_login_keeps_token_and_hides_password(client: InvokeAIClient) -> None:
    respx.get(f"{BASE}/api/v1/app/version").respond(json={"version": "6.14.2"})
    respx.post(f"{BASE}/api/v1/auth/login").respond(
        json={"token": "jwt-abc", "user": {"email": "a@b.c", "is_admin": True}, "expires_in": 60}
    )
    user = client.login("a@b.c", "pass-w0rd")
    assert user["is_admin"] is True
    assert client.token == "jwt-abc"
    assert "jwt-abc" not in repr(client)


@respx.mock
def test_wrong_login_raises_authentication_error(client: InvokeAIClient) -> None:
    respx.get(f"{BASE}/api/v1/app/version").respond(json={"version": "6.14.2"})
    respx.post(f"{BASE}/api/v1/auth/login").respond(
        401, json={"detail": "Incorrect email or password"}
    )
    with pytest.raises(AuthenticationError) as caught:
        client.login("a@b.c", "pass-w0rd")
    assert "pass-w0rd" not in str(caught.value)
    assert client.token is None


@respx.mock
def test_login_needs_a_multiuser_capable_server(client: InvokeAIClient) -> None:
    respx.get(f"{BASE}/api/v1/app/version").respond(json={"version": "6.8.1", "highlights": None})
    login = respx.post(f"{BASE}/api/v1/auth/login").respond(json={"token": "t"})
    with pytest.raises(UnsupportedByServerError, match=r"login\(\) needs InvokeAI 6.12"):
        client.login("a@b.c", "pw")
    assert login.call_count == 0


def test_login_refuses_empty_credentials(client: InvokeAIClient) -> None:
    with respx.mock(assert_all_called=False) as mock:  # a server that would accept them
        mock.get(f"{BASE}/api/v1/app/version").respond(json={"version": "6.14.2"})
        mock.post(f"{BASE}/api/v1/auth/login").respond(json={"token": "t", "user": {}})
        for email, password in [("", "x"), ("a@b.c", ""), ("", "")]:
            with pytest.raises(InvalidArgumentError):
                client.login(email, password)
        assert mock.calls.call_count == 0  # refused before anything was sent
    assert client.token is None


@respx.mock
def test_httpx_log_lines_do_not_carry_access_tokens(
    client: InvokeAIClient, caplog: pytest.LogCaptureFixture
) -> None:
    respx.post(f"{BASE}/api/v2/models/install").respond(
        201,
        json={
            "id": 3,
            "status": "waiting",
            "source": {"url": "http://h/m", "type": "url"},
            "local_path": "/tmp/x",
        },
    )
    with caplog.at_level(logging.DEBUG):
        client.dnn_model_repo.install_model("http://h/m", access_token="sekrit-42")
    messages = [record.getMessage() for record in caplog.records]
    assert any("/api/v2/models/install" in m for m in messages)
    assert not any("sekrit-42" in m for m in messages)


def test_repr_hides_userinfo() -> None:
    client = InvokeAIClient.from_url("http://admin:hunter2@h:9090")
    assert "hunter2" not in repr(client)


# -- server version ---------------------------------------------------------------


@respx.mock
def test_server_version_is_cached(client: InvokeAIClient) -> None:
    route = respx.get(f"{BASE}/api/v1/app/version").respond(json={"version": "6.12.0"})
    assert client.server_version() == "6.12.0"
    assert client.server_version() == "6.12.0"
    assert route.call_count == 1


@respx.mock
def test_version_gate_names_call_and_versions(client: InvokeAIClient) -> None:
    respx.get(f"{BASE}/api/v1/app/version").respond(json={"version": "6.8.1"})
    missing = respx.get(f"{BASE}/api/v2/models/missing").respond(json={"models": []})
    with pytest.raises(UnsupportedByServerError) as caught:
        client.dnn_model_repo.list_missing_models()
    assert str(caught.value) == (
        "list_missing_models() needs InvokeAI 6.12 or newer; the server runs 6.8.1"
    )
    assert missing.call_count == 0


@respx.mock
def test_version_answer_without_version_is_unexpected(client: InvokeAIClient) -> None:
    respx.get(f"{BASE}/api/v1/app/version").respond(json={"nope": 1})
    with pytest.raises(UnexpectedResponseError):
        client.server_version()


def test_context_manager_closes() -> None:
    with InvokeAIClient.from_url(BASE) as client:
        assert client.base_url == BASE
    assert client._transport.session.pool.is_closed
