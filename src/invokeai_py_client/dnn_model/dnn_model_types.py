"""Model records (``DnnModel``) and the enums that classify them.

The enums cover every value of InvokeAI 6.8.1 and 6.14.2. A value a newer server
adds still parses: it becomes an unknown member that equals its raw string.
"""

from __future__ import annotations

from typing import Any

from ._base import ApiModel, OpenStrEnum

__all__ = ["BaseDnnModelType", "DnnModel", "DnnModelFormat", "DnnModelType"]


class BaseDnnModelType(OpenStrEnum):
    """The model family a model belongs to (InvokeAI's ``BaseModelType``)."""

    ANY = "any"
    SD_1 = "sd-1"
    SD_2 = "sd-2"
    SD_3 = "sd-3"
    SDXL = "sdxl"
    SDXL_REFINER = "sdxl-refiner"
    FLUX = "flux"
    COGVIEW4 = "cogview4"
    IMAGEN3 = "imagen3"
    IMAGEN4 = "imagen4"
    GEMINI_2_5 = "gemini-2.5"
    CHATGPT_4O = "chatgpt-4o"
    FLUX_KONTEXT = "flux-kontext"
    VEO3 = "veo3"
    RUNWAY = "runway"
    FLUX2 = "flux2"
    Z_IMAGE = "z-image"
    ERNIE_IMAGE = "ernie-image"
    IDEOGRAM_4 = "ideogram-4"
    EXTERNAL = "external"
    QWEN_IMAGE = "qwen-image"
    ANIMA = "anima"
    KREA_2 = "krea-2"
    WAN = "wan"
    UNKNOWN = "unknown"

    # Aliases in the words of the original design.
    StableDiffusion1 = "sd-1"
    StableDiffusion2 = "sd-2"
    StableDiffusion3 = "sd-3"
    StableDiffusionXL = "sdxl"
    StableDiffusionXLRefiner = "sdxl-refiner"
    Flux = "flux"
    Any = "any"


class DnnModelType(OpenStrEnum):
    """What a model is (InvokeAI's ``ModelType``)."""

    ONNX = "onnx"
    MAIN = "main"
    VAE = "vae"
    LORA = "lora"
    CONTROL_LORA = "control_lora"
    CONTROLNET = "controlnet"
    EMBEDDING = "embedding"
    IP_ADAPTER = "ip_adapter"
    CLIP_VISION = "clip_vision"
    CLIP_EMBED = "clip_embed"
    T2I_ADAPTER = "t2i_adapter"
    T5_ENCODER = "t5_encoder"
    SPANDREL_IMAGE_TO_IMAGE = "spandrel_image_to_image"
    SIGLIP = "siglip"
    FLUX_REDUX = "flux_redux"
    LLAVA_ONEVISION = "llava_onevision"
    VIDEO = "video"
    QWEN3_ENCODER = "qwen3_encoder"
    QWEN_VL_ENCODER = "qwen_vl_encoder"
    QWEN3_VL_ENCODER = "qwen3_vl_encoder"
    MISTRAL_ENCODER = "mistral_encoder"
    WAN_T5_ENCODER = "wan_t5_encoder"
    GEMMA2_ENCODER = "gemma2_encoder"
    PROMPT_ENHANCER = "prompt_enhancer"
    TEXT_LLM = "text_llm"
    EXTERNAL_IMAGE_GENERATOR = "external_image_generator"
    PID_DECODER = "pid_decoder"
    UNKNOWN = "unknown"

    # Aliases in the words of the original design.
    Main = "main"
    LoRA = "lora"
    ControlNet = "controlnet"
    Embedding = "embedding"
    IPAdapter = "ip_adapter"


class DnnModelFormat(OpenStrEnum):
    """How a model is stored (InvokeAI's ``ModelFormat``)."""

    OMI = "omi"
    DIFFUSERS = "diffusers"
    CHECKPOINT = "checkpoint"
    LYCORIS = "lycoris"
    ONNX = "onnx"
    OLIVE = "olive"
    EMBEDDING_FILE = "embedding_file"
    EMBEDDING_FOLDER = "embedding_folder"
    INVOKEAI = "invokeai"
    T5_ENCODER = "t5_encoder"
    BNB_QUANTIZED_INT8B = "bnb_quantized_int8b"
    BNB_QUANTIZED_NF4B = "bnb_quantized_nf4b"
    GGUF_QUANTIZED = "gguf_quantized"
    API = "api"
    QWEN3_ENCODER = "qwen3_encoder"
    QWEN_VL_ENCODER = "qwen_vl_encoder"
    QWEN3_VL_ENCODER = "qwen3_vl_encoder"
    MISTRAL_ENCODER = "mistral_encoder"
    WAN_T5_ENCODER = "wan_t5_encoder"
    GEMMA2_ENCODER = "gemma2_encoder"
    EXTERNAL_API = "external_api"
    SDNQ_QUANTIZED = "sdnq_quantized"
    UNKNOWN = "unknown"


class DnnModel(ApiModel):
    """One model record (InvokeAI's ``AnyModelConfig``).

    The fields every record has are declared; per-kind fields are declared where
    common and ``None`` when absent; anything else the server sends is in ``extra``.
    ``path`` is relative to the server's models directory unless the model was
    installed in place.
    """

    key: str
    hash: str | None = None
    path: str | None = None
    file_size: int | None = None
    name: str
    description: str | None = None
    source: str | None = None
    source_type: str | None = None
    source_api_response: str | None = None
    source_url: str | None = None
    cover_image: str | None = None
    type: DnnModelType
    format: DnnModelFormat | None = None
    base: BaseDnnModelType
    trigger_phrases: list[str] | None = None
    default_settings: dict[str, Any] | None = None
    variant: str | None = None
    prediction_type: str | None = None
    repo_variant: str | None = None
    upcast_attention: bool | None = None
    config_path: str | None = None
    cpu_only: bool | None = None
    submodels: dict[str, Any] | None = None
    usage_info: str | None = None
    converted_at: float | None = None
