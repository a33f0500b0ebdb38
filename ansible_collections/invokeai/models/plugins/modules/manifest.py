# Copyright (c) 2026 The invokeai-py-client authors
# MIT License (see LICENSE in the collection)
"""invokeai.models.manifest: a whole manifest (models as code) on one InvokeAI server."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manifest
short_description: Make an InvokeAI server have the models of a manifest
version_added: 2.0.0
description:
  - Applies an invokeai-py-client manifest (models as code) to one InvokeAI server
    (6.0 to 6.14.x) - installs the models it lists that the server lacks, updates the
    settings that differ, and with O(prune) deletes the models it does not list.
  - The library's manifest planner decides; the module reports its plan and what became of
    each step. With nothing to change it sends one list request and no write.
  - Every install is started first (O(concurrency) requests at a time; the server queues the
    jobs), then all are followed until they end. One failure does not stop the others; the
    task then fails, naming each failure.
  - How a model in the manifest is matched to a model on the server (by recorded source, by
    pinned hash, by name, type and base) is described in the project's docs/manifests.md.
  - The manifest's C(servers) are not used; the O(url) option says where to apply it.
extends_documentation_fragment:
  - invokeai.models.common
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  action_group:
    membership: [invokeai.models.invokeai]
  check_mode:
    support: full
    details: Returns the plan; sends one list request and no write.
  diff_mode:
    support: full
    details: One diff per model to install, update or delete - the fields before and after.
  platform:
    platforms: posix
author:
  - The invokeai-py-client authors (@CodeGandee)
options:
  src:
    description:
      - A manifest file (YAML, or JSON by a C(.json) name) where the module runs, the control
        node. C(./) sources in it are relative to the file.
      - Tokens in it are C(${VAR}) references, read from the module's environment (the task's
        C(environment)).
    type: path
  content:
    description:
      - The manifest as data in the playbook (C(version), C(models)), with Ansible variables
        and vault values in it.
      - An C(access_token) given as a value (a vault variable) is passed to the library as a
        reference to the module's own environment and kept out of every output.
      - Give paths as absolute paths.
    type: dict
  prune:
    description:
      - Also delete the models the manifest does not list. In check mode, lists them.
    type: bool
    default: false
  concurrency:
    description:
      - Install requests sent at a time (not jobs running - the server runs its queue itself).
    type: int
    default: 4
  wait_timeout:
    description:
      - Seconds for all installs to end. Installs not yet started then are not started; jobs
        still running are reported as failed (they go on on the server).
    type: float
    default: 3600
seealso:
  - module: invokeai.models.model
  - module: invokeai.models.model_info
"""

EXAMPLES = r"""
- name: Every server has the models of models.yaml
  invokeai.models.manifest:
    url: "{{ invokeai_url }}"
    token: "{{ vault_invokeai_token | default(omit) }}"
    src: "{{ playbook_dir }}/models.yaml"
  environment:
    HF_TOKEN: "{{ vault_hf_token }}"   # the file says access_token: ${HF_TOKEN}
  delegate_to: localhost

- name: The manifest written in the playbook
  invokeai.models.manifest:
    url: "{{ invokeai_url }}"
    content:
      version: 1
      models:
        - source: "{{ models_dir }}/detail-lora.safetensors"
          name: Detail LoRA
          trigger_phrases: [detailed]
          inplace: true
        - source: stabilityai/sd-vae-ft-mse
          variant: fp16
          access_token: "{{ vault_hf_token }}"
  delegate_to: localhost

- name: Only these models, nothing else (check mode first - ansible-playbook --check --diff)
  invokeai.models.manifest:
    url: "{{ invokeai_url }}"
    src: models.lock.yaml
    prune: true
  delegate_to: localhost
"""

RETURN = r"""
plan:
  description: What the planner decided, as C(invokeai-models plan --json) gives it for a server.
  returned: when the server was reached
  type: dict
  contains:
    drift:
      description: Whether the server differs from the manifest.
      type: bool
    counts:
      description: How many changes per action (C(install), C(update), C(keep), C(delete),
        C(hash_mismatch)).
      type: dict
    changes:
      description: One item per model - C(action), C(source), C(key), C(name), C(matched_by),
        C(changes) (the settings an update sends), and C(hash) for a C(hash_mismatch).
      type: list
      elements: dict
  sample: {drift: true, counts: {install: 1, update: 0, keep: 2, delete: 0, hash_mismatch: 0},
           changes: [{action: install, source: /srv/models/a.safetensors, key: null, name: A,
                      matched_by: null, changes: {}}]}
results:
  description: What became of each change - the plan's fields with C(outcome) (C(done),
    C(skipped) for a keep, C(failed)), C(key), C(job_id) and C(error).
  returned: unless in check mode
  type: list
  elements: dict
  sample: [{action: install, source: /srv/models/a.safetensors, key: 3b1c..., name: A,
            outcome: done, job_id: 0, error: null}]
"""

import re  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.invokeai.models.plugins.module_utils import invokeai  # noqa: E402

ENV_REFERENCE = re.compile(r"^\s*\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*$")
SHOWN_FAILURES = 5


def argument_spec() -> dict[str, Any]:
    return {
        **invokeai.COMMON_ARGUMENTS,
        "src": {"type": "path"},
        "content": {"type": "dict"},
        "prune": {"type": "bool", "default": False},
        "concurrency": {"type": "int", "default": 4},
        "wait_timeout": {"type": "float", "default": 3600.0},
    }


def with_token_references(module: Any, content: dict[str, Any]) -> dict[str, Any]:
    """``content`` with each literal ``access_token`` (a vault value) put in the module's
    own environment and replaced by a reference to it."""
    models = content.get("models")
    if not isinstance(models, list):
        return content
    referenced = []
    for i, model in enumerate(models):
        token = model.get("access_token") if isinstance(model, dict) else None
        if isinstance(token, str) and token.strip() and not ENV_REFERENCE.match(token):
            model = {**model, "access_token": invokeai.private_token(module, token, i)}
        referenced.append(model)
    return {**content, "models": referenced}


def load(module: Any) -> Any:
    """The manifest from ``src`` or ``content``; ``ManifestError`` names what is wrong."""
    p = module.params
    if p["src"] is not None:
        manifest = invokeai.ModelManifest.load(p["src"])
    else:
        content = with_token_references(module, p["content"])
        manifest = invokeai.ModelManifest.from_dict(content, origin="content")
    if manifest.servers:
        module.warn("the manifest's servers are not used: the url option says where to apply it")
    return manifest


def failures_of(results: list[Any]) -> str:
    failed = [r for r in results if r.outcome == "failed"]
    shown = "; ".join(f"{r.change.label}: {r.error}" for r in failed[:SHOWN_FAILURES])
    more = f"; and {len(failed) - SHOWN_FAILURES} more" if len(failed) > SHOWN_FAILURES else ""
    return f"{len(failed)} of {len(results)} change(s) failed: {shown}{more}"


def run(module: Any, repo: Any, manifest: Any) -> dict[str, Any]:
    p = module.params
    plan = repo.plan_manifest(manifest, prune=p["prune"])
    result: dict[str, Any] = {"plan": plan.to_dict()}
    if module._diff:
        result["diff"] = [
            invokeai.change_diff(c)
            for c in plan.changes
            if c.action is not invokeai.PlanAction.KEEP
        ]
    if module.check_mode:
        writes = ("install", "update", "delete")
        result["changed"] = any(c.action.value in writes for c in plan.changes)
        mismatches = plan.of(invokeai.PlanAction.HASH_MISMATCH)
        if mismatches:
            named = "; ".join(
                f"{c.entry.install_source}: the server's model {c.model.key} has {c.model.hash}, "
                f"the manifest pins {c.entry.hash}"
                for c in mismatches
            )
            result["msg"] = f"hash mismatch (applying would fail): {named}"
        return result
    report = repo.apply_manifest(plan, concurrency=p["concurrency"], timeout=p["wait_timeout"])
    result["results"] = [r.to_dict() for r in report.results]
    result["changed"] = any(r.outcome == "done" or r.job is not None for r in report.results)
    if not report.ok:
        result["msg"] = failures_of(report.results)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("src", "content")],
        required_one_of=[("src", "content")],
    )
    invokeai.require_library(module)
    invokeai.check_text_options(module)
    p = module.params
    if p["src"] is None and p["content"] is None:  # required_one_of counts one given as null
        module.fail_json(msg="one of the following is required: src, content")
    with invokeai.failures(module, changed=False) as result:
        manifest = load(module)
        invokeai.check_apply_args(p["prune"], p["concurrency"], None, None)
        invokeai.check_wait_timeout(p["wait_timeout"])
        with invokeai.connect(module) as client:
            result.update(run(module, client.dnn_model_repo, manifest))
    if "msg" in result:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
