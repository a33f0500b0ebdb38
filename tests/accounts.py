"""The accounts of a multi-user test-bed server (InvokeAI 6.12+): an admin and a user."""

from __future__ import annotations

import httpx

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Adm1n-Secret-Pass"
USER_EMAIL = "user@example.com"
USER_PASSWORD = "Us3r-Secret-Pass"


def login(http: httpx.Client, email: str, password: str) -> str:
    """A bearer token for ``email``."""
    answer = http.post(
        "/api/v1/auth/login", json={"email": email, "password": password, "remember_me": False}
    )
    token: str = answer.raise_for_status().json()["token"]
    return token


def create_accounts(url: str) -> None:
    """Set the admin up on a new multi-user server and add the (non-admin) user."""
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        status = http.get("/api/v1/auth/status").raise_for_status().json()
        assert status.get("multiuser_enabled") is True, status
        admin = {"email": ADMIN_EMAIL, "display_name": "Admin", "password": ADMIN_PASSWORD}
        answer = http.post("/api/v1/auth/setup", json=admin)
        assert answer.status_code == 200, answer.text
        user = {"email": USER_EMAIL, "display_name": "User", "password": USER_PASSWORD}
        answer = http.post(
            "/api/v1/auth/users",
            headers={"Authorization": f"Bearer {login(http, ADMIN_EMAIL, ADMIN_PASSWORD)}"},
            json={**user, "is_admin": False},
        )
        assert answer.status_code == 201, answer.text
