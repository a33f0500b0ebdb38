# Copyright (c) 2026 The invokeai-py-client authors
# MIT License (see LICENSE in the collection)
"""invokeai.models.model: one model on one InvokeAI server."""

from __future__ import annotations

DOCUMENTATION = r"""
module: model
short_description: One model on an InvokeAI server
version_added: 2.0.0
description:
  - Makes sure one model is installed on an InvokeAI server (6.0 to 6.14.x) with the settings
    given, or that it is not there.
  - The model is named by O(name), O(type) and O(base), or by O(key), or by the O(source) the
    server recorded when it installed it (a path on the server, a URL or a Hugging Face repo
    id). The rules are those of invokeai-py-client's manifests, whose planner decides
    what to change; this module sends what it decided.
  - A model already there with the same settings is left alone (C(changed=false), no write).
    Settings that differ are updated in one request. A model that is not there is installed
    from O(source).
extends_documentation_fragment:
  - invokeai.models.common
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  action_group:
    membership: [invokeai.models.invokeai]
  check_mode:
    support: full
    details: Lists the model once, and sends no write.
  diff_mode:
    support: full
    details: The fields that would change, before and after.
  platform:
    platforms: posix
author:
  - The invokeai-py-client authors (@CodeGandee)
options:
  state:
    description:
      - V(present) installs the model when it is not there and updates settings that differ.
      - V(absent) deletes the model (its record, and its files under the server's models
        directory) when it is there.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The model's name. With O(type) and O(base) it names a model installed by any source.
      - With O(state=present) it is also a setting, given at install and kept.
    type: str
  type:
    description:
      - The model's type as the server spells it (V(main), V(lora), V(embedding), V(vae), ...).
      - Used to find the model, with O(name) and O(base); never sent.
    type: str
  base:
    description:
      - The model's base as the server spells it (V(sd-1), V(sdxl), V(flux), ...).
      - Used to find the model, with O(name) and O(type); never sent.
    type: str
  key:
    description:
      - The server's key of the model (a UUID). Names the model instead of O(source) or
        O(name), O(type) and O(base).
      - With O(state=present), a key the server does not have is a failure; the server makes
        the keys of the models it installs.
    type: str
  source:
    description:
      - Where to install the model from - an absolute path on the server's machine, a URL,
        or a Hugging Face repo id (V(owner/repo), V(owner/repo:variant),
        V(owner/repo:variant:subfolder)).
      - A model whose recorded source is this one is this model.
      - C(${VAR}) in it is replaced by the environment variable's value (set one with the
        task's C(environment)).
      - Required with O(state=present) unless O(key) is given.
    type: str
  access_token:
    description:
      - Token for the URL or the Hugging Face repo of O(source). Never shown in the output.
      - The server receives it in the install request's query string.
    type: str
  inplace:
    description:
      - For a path - V(true) installs the file where it is; V(false) moves it into the server's
        models directory. Not given, the server decides (it moves).
    type: bool
  config:
    description:
      - Settings of the model - C(description), C(trigger_phrases), C(default_settings) and
        every other field of invokeai-py-client's C(ModelInstallConfig) (C(variant),
        C(prediction_type), C(upcast_attention), C(cpu_only), C(config_path), ...).
      - Given at install and kept in sync afterwards; settings not given are left alone.
        C(default_settings) are merged key by key into the model's.
      - Fields other than C(description), C(trigger_phrases) and C(default_settings) are
        set right after the install when the server did not take them.
      - The name is the O(name) option, the hash the O(hash) option.
    type: dict
  hash:
    description:
      - The model's content hash, as a lock file pins it (V(blake3:...)).
      - A model on the server with another hash, or an install that gives other bytes, fails
        with both hashes named; nothing else is changed (a model just installed stays).
    type: str
  wait:
    description:
      - Wait for an install to end. With V(false) the module returns the started job; the
        O(hash) is then not checked and O(config) fields beyond the settings are not set.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for an install. When they run out, the module fails; the job goes
        on on the server.
    type: float
    default: 600
seealso:
  - module: invokeai.models.manifest
  - module: invokeai.models.model_info
"""

EXAMPLES = r"""
- name: A LoRA from a file on the server, in place, with its settings
  invokeai.models.model:
    url: "{{ invokeai_url }}"
    source: /srv/models/detail-lora.safetensors
    inplace: true
    name: Detail LoRA
    config:
      description: Adds detail
      trigger_phrases: [detailed]
      default_settings: {weight: 0.75}
  delegate_to: localhost

- name: A repo id, with a token from Ansible Vault
  invokeai.models.model:
    url: "{{ invokeai_url }}"
    token: "{{ vault_invokeai_token }}"
    source: stabilityai/sd-vae-ft-mse:fp16
    access_token: "{{ vault_hf_token }}"
    wait_timeout: 3600
  delegate_to: localhost

- name: A pinned download - other bytes are a failure
  invokeai.models.model:
    url: "{{ invokeai_url }}"
    source: https://example.com/models/style.safetensors
    hash: blake3:6a8a00ea3b1f0c4a3d8e51c2b46fb3c6d6a4f2e6a1a9b3c7d8e9f0a1b2c3d4e5
  delegate_to: localhost

- name: No such model
  invokeai.models.model:
    url: "{{ invokeai_url }}"
    name: Old LoRA
    type: lora
    base: sd-1
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
action:
  description: What was decided - V(install), V(update), V(keep), V(delete), V(absent) (there was
    nothing to delete) or V(hash_mismatch).
  returned: always
  type: str
  sample: update
changes:
  description: The settings an update sends (V({}) for any other action).
  returned: always
  type: dict
  sample: {description: Adds detail}
model:
  description:
    - The model's record as the server gives it (tokens masked), after the change.
    - For O(state=absent), the record that was deleted. Not returned when there is no record
      (an install in check mode, or with O(wait=false)).
  returned: when there is a record
  type: dict
  sample: {key: 3b1c4f0e-8a2d-4c55-9f6e-0d1e2f3a4b5c, name: Detail LoRA, type: lora, base: sd-1,
           format: lycoris, hash: "blake3:6a8a00ea...", source: /srv/models/detail-lora.safetensors,
           description: Adds detail, trigger_phrases: [detailed], default_settings: {weight: 0.75}}
job:
  description: The install job (no access token), when the module started an install.
  returned: when it installed
  type: dict
  sample: {id: 0, status: completed, source: /srv/models/detail-lora.safetensors,
           model_key: 3b1c...}
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.invokeai.models.plugins.module_utils import invokeai  # noqa: E402

# config keys that are options of their own
OWN_OPTIONS = {"name": "name", "hash": "hash", "key": "key", "source": "source"}


def argument_spec() -> dict[str, Any]:
    return {
        **invokeai.COMMON_ARGUMENTS,
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "name": {"type": "str"},
        "type": {"type": "str"},
        "base": {"type": "str"},
        "key": {"type": "str", "no_log": False},
        "source": {"type": "str"},
        "access_token": {"type": "str", "no_log": True},
        "inplace": {"type": "bool"},
        "config": {"type": "dict"},
        "hash": {"type": "str"},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "float", "default": 600.0},
    }


def wanted(module: Any) -> tuple[Any, Any, Any]:
    """The model as a manifest entry (and its one-entry manifest when it has a source), and
    the config fields a manifest entry does not hold; checked before anything is sent."""
    p = module.params
    config = dict(p["config"] or {})
    clash = sorted(set(config) & set(OWN_OPTIONS))
    if clash:
        raise invokeai.InvalidArgumentError(
            f"config.{clash[0]}: give it as the {OWN_OPTIONS[clash[0]]} option"
        )
    if p["name"] is not None:
        config["name"] = p["name"]
    invokeai.optional_text(p["access_token"], "access_token")
    invokeai.check_wait_timeout(p["wait_timeout"])
    invokeai.ModelInstallConfig.model_validate(config)  # names an unknown or bad field
    settings = {k: config.pop(k) for k in invokeai.MANIFEST_SETTINGS if k in config}
    extra = invokeai.ModelInstallConfig.model_validate(config) if config else None
    fields = {"type": p["type"], "base": p["base"], "hash": p["hash"], **settings}
    fields = {k: v for k, v in fields.items() if v is not None}
    if p["source"] is None:  # named by key (or name, type and base): compared by settings
        return invokeai.ManifestModel.model_construct(source="", **fields), None, extra
    if p["source"].lstrip().startswith(("./", "../")):  # the library takes it from the cwd
        raise invokeai.InvalidArgumentError(
            f"source: a path on the server is absolute, not {p['source']!r:.80}"
        )
    entry = {"source": p["source"], "inplace": p["inplace"], **fields}
    if p["access_token"]:
        entry["access_token"] = invokeai.private_token(module, p["access_token"])
    manifest = invokeai.ModelManifest.from_dict(
        {"models": [{k: v for k, v in entry.items() if v is not None}]}, origin="options"
    )
    return manifest.models[0], manifest, extra


def find(module: Any, repo: Any, entry: Any, manifest: Any) -> Any:
    """The planned change for the model the options name (one request)."""
    p = module.params
    if p["key"] is not None:
        model = repo.get_model_by_key(p["key"])
        if model is not None:
            return invokeai.plan_record(entry, model)
        if p["state"] == "present":
            module.fail_json(
                msg=f"the server has no model with key {p['key']}; to install one, name it by "
                "source (the server makes the key)"
            )
        return invokeai.PlannedChange(invokeai.PlanAction.INSTALL, entry)
    if p["source"] is None:  # absent, by name, type and base
        model = repo.get_model_by_attrs(p["name"], p["type"], p["base"])
        action = invokeai.PlanAction.INSTALL if model is None else invokeai.PlanAction.KEEP
        return invokeai.PlannedChange(action, entry, model)
    return repo.plan_manifest(manifest).changes[0]


def install_now(module: Any, repo: Any, change: Any, extra: Any) -> dict[str, Any]:
    """Start the install and return its job without waiting (``wait: false``)."""
    entry = change.entry
    config = {**entry.settings(), **(extra.to_record_changes() if extra else {})}
    token = module.params["access_token"] or None
    job = repo.install_model(
        invokeai.expand_env(entry.install_source), config, entry.inplace, token
    )
    return {"changed": True, "job": invokeai.job_data(job.info)}


def carry_out(module: Any, repo: Any, change: Any, extra: Any) -> dict[str, Any]:
    """Send what the plan says, through the library's ``apply_manifest``."""
    p = module.params
    if change.action is invokeai.PlanAction.INSTALL and not p["wait"]:
        return install_now(module, repo, change, extra)
    report = repo.apply_manifest(invokeai.ManifestPlan([change]), timeout=p["wait_timeout"])
    done = report.results[0]
    result: dict[str, Any] = {"changed": done.outcome == "done" or done.job is not None}
    if done.job is not None:
        result["job"] = invokeai.job_data(done.job)
    if done.model is not None:
        result["model"] = invokeai.record_data(done.model)
    if done.outcome == "failed":
        result["msg"] = done.error
        return result
    if change.action is invokeai.PlanAction.INSTALL and done.model is not None:
        follow_up = invokeai.with_config(invokeai.plan_record(change.entry, done.model), extra)
        if follow_up.changes:  # config fields the install request could not carry
            result["model"] = invokeai.record_data(
                repo.update_model(done.model.key, follow_up.changes)
            )
    return result


def absent(module: Any, repo: Any, change: Any) -> dict[str, Any]:
    if change.model is None:
        return {"changed": False, "action": "absent"}
    result = {"action": "delete", "model": invokeai.record_data(change.model)}
    if module._diff:
        result["diff"] = invokeai.change_diff(
            invokeai.PlannedChange(invokeai.PlanAction.DELETE, model=change.model)
        )
    if module.check_mode:
        return {**result, "changed": True}
    return {**result, "changed": repo.delete_model(change.model.key)}


def present(module: Any, repo: Any, change: Any, extra: Any) -> dict[str, Any]:
    change = invokeai.with_config(change, extra)
    action = change.action
    result: dict[str, Any] = {"action": action.value, "changes": change.changes}
    if change.model is not None:
        result["model"] = invokeai.record_data(change.model)
    if module._diff:
        result["diff"] = invokeai.change_diff(change)
    if action is invokeai.PlanAction.HASH_MISMATCH:
        result["msg"] = (
            f"hash mismatch: the model {change.model.key} on the server has "
            f"{change.model.hash}, the hash option pins {change.entry.hash}; nothing was changed"
        )
        return {**result, "changed": False}
    if action is invokeai.PlanAction.KEEP or module.check_mode:
        return {**result, "changed": action is not invokeai.PlanAction.KEEP}
    return {**result, **carry_out(module, repo, change, extra)}


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[
            ("state", "present", ("source", "key"), True),
            ("state", "absent", ("source", "key", "name"), True),
        ],
    )
    invokeai.require_library(module)
    invokeai.check_text_options(module)
    p = module.params
    if p["key"] is None and p["source"] is None:  # required_if counts an option given as null
        if p["state"] == "present":
            module.fail_json(msg="state is present but source and key are both missing")
        if not (p["type"] and p["base"]):
            module.fail_json(msg="state=absent by name needs type and base too (or key, or source)")
    with invokeai.failures(module) as result:
        entry, manifest, extra = wanted(module)
        with invokeai.connect(module) as client:
            change = find(module, client.dnn_model_repo, entry, manifest)
            if p["state"] == "absent":
                result.update(absent(module, client.dnn_model_repo, change))
            else:
                result.update(present(module, client.dnn_model_repo, change, extra))
    if "msg" in result:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
