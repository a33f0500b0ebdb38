# Copyright (c) 2026 The invokeai-py-client authors
# MIT License (see LICENSE in the collection)
"""The options every invokeai.models module has: where the server is and how to reach it."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  url:
    description:
      - The InvokeAI server's base URL, with any reverse-proxy prefix
        (for example V(http://gpu1.lab:9090) or V(https://host/invoke)).
      - When not given, the value of the E(INVOKEAI_URL) environment variable; one of the two
        is required.
    type: str
  token:
    description:
      - Bearer token for a multi-user InvokeAI server (6.12 and later).
      - When not given, the value of the E(INVOKEAI_TOKEN) environment variable.
      - Never shown in the output, also with C(-vvv). Keep it in Ansible Vault.
    type: str
  timeout:
    description:
      - Seconds one request to the server may take, retries included.
    type: float
    default: 60
  validate_certs:
    description:
      - Verify the server's TLS certificate (HTTPS only).
    type: bool
    default: true
requirements:
  - invokeai-py-client (C(pip install invokeai-py-client)) in the Python that runs the module
notes:
  - >-
    The modules talk HTTP to the server from where they run. Run them on the control node
    (C(connection: local) or C(delegate_to: localhost)) with
    C(ansible_python_interpreter: "{{ ansible_playbook_python }}"), so that they find
    invokeai-py-client there.
  - Every failure is one message with the HTTP method, the route, the status and the
    server's detail. Options are checked before anything is sent.
"""
