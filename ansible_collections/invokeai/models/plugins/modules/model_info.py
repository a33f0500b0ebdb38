# Copyright (c) 2026 The invokeai-py-client authors
# MIT License (see LICENSE in the collection)
"""invokeai.models.model_info: the models an InvokeAI server has."""

from __future__ import annotations

DOCUMENTATION = r"""
module: model_info
short_description: The models an InvokeAI server has
version_added: 2.0.0
description:
  - Lists the model records of an InvokeAI server (6.0 to 6.14.x), filtered on the server by
    name, type, base and format. One request; never changes anything.
extends_documentation_fragment:
  - invokeai.models.common
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  action_group:
    membership: [invokeai.models.invokeai]
  check_mode:
    support: full
    details: It never changes anything.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - The invokeai-py-client authors (@CodeGandee)
options:
  name:
    description:
      - Only the models with exactly this name.
    type: str
  type:
    description:
      - Only the models of this type (V(main), V(lora), V(embedding), V(vae), ...). A type the
        server does not know is a failure with the server's detail.
    type: str
  base:
    description:
      - Only the models of these bases (V(sd-1), V(sdxl), ...); one or several.
    type: list
    elements: str
  format:
    description:
      - Only the models of this format (V(checkpoint), V(diffusers), V(lycoris), ...).
    type: str
seealso:
  - module: invokeai.models.model
  - module: invokeai.models.manifest
"""

EXAMPLES = r"""
- name: The LoRAs of every server
  invokeai.models.model_info:
    url: "{{ invokeai_url }}"
    type: lora
  delegate_to: localhost
  register: loras

- name: Their names
  ansible.builtin.debug:
    msg: "{{ loras.models | map(attribute='name') | list }}"
"""

RETURN = r"""
models:
  description: The model records as the server gives them (tokens masked), in its order.
  returned: always
  type: list
  elements: dict
  sample: [{key: 3b1c4f0e-8a2d-4c55-9f6e-0d1e2f3a4b5c, name: Detail LoRA, type: lora,
            base: sd-1, format: lycoris, hash: "blake3:6a8a00ea...",
            source: /srv/models/detail-lora.safetensors, path: /srv/models/detail-lora.safetensors,
            description: null, trigger_phrases: [detailed]}]
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.invokeai.models.plugins.module_utils import invokeai  # noqa: E402


def argument_spec() -> dict[str, Any]:
    return {
        **invokeai.COMMON_ARGUMENTS,
        "name": {"type": "str"},
        "type": {"type": "str"},
        "base": {"type": "list", "elements": "str"},
        "format": {"type": "str"},
    }


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    invokeai.require_library(module)
    invokeai.check_text_options(module)
    p = module.params
    with invokeai.failures(module, changed=False) as result:
        with invokeai.connect(module) as client:
            models = client.dnn_model_repo.list_models(
                base=p["base"], type=p["type"], name=p["name"], format=p["format"]
            )
        result["models"] = [invokeai.record_data(m) for m in models]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
