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

    # Aliases in the words of the original design and of invokeai-py-client 1.1.
    StableDiffusion1 = "sd-1"
    StableDiffusion2 = "sd-2"
    StableDiffusion3 = "sd-3"
    StableDiffusionXL = "sdxl"
    StableDiffusionXLRefiner = "sdxl-refiner"
    Flux = "flux"
    Any = "any"
    CogView4 = "cogview4"
    Imagen3 = "imagen3"
    Imagen4 = "imagen4"
    ChatGPT4o = "chatgpt-4o"
    FluxKontext = "flux-kontext"


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

    # Aliases in the words of the original design and of invokeai-py-client 1.1.
    Main = "main"
    LoRA = "lora"
    ControlLoRa = "control_lora"
    ControlNet = "controlnet"
    Embedding = "embedding"
    TextualInversion = "embedding"
    IPAdapter = "ip_adapter"
    CLIPVision = "clip_vision"
    CLIPEmbed = "clip_embed"
    T2IAdapter = "t2i_adapter"
    T5Encoder = "t5_encoder"
    SpandrelImageToImage = "spandrel_image_to_image"
    SigLIP = "siglip"
    FluxRedux = "flux_redux"
    LlavaOnevision = "llava_onevision"


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

    # Aliases in the words of invokeai-py-client 1.1.
    Diffusers = "diffusers"
    Checkpoint = "checkpoint"
    LyCORIS = "lycoris"
    Olive = "olive"
    EmbeddingFile = "embedding_file"
    EmbeddingFolder = "embedding_folder"
    InvokeAI = "invokeai"
    T5Encoder = "t5_encoder"
    BnbQuantizedLlmInt8b = "bnb_quantized_int8b"
    BnbQuantizednf4b = "bnb_quantized_nf4b"
    GGUFQuantized = "gguf_quantized"
    Api = "api"


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

    # -- helpers of invokeai-py-client 1.1 ---------------------------------------------

    @classmethod
    def from_api_response(cls, data: dict[str, Any]) -> DnnModel:
        """A record from the server's JSON (``model_validate``)."""
        return cls.model_validate(data)

    def get_category(self) -> str:
        """A human label of the model's type, e.g. ``"LoRA (Low-Rank Adaptation)"``."""
        return _CATEGORIES.get(self.type.value, f"Unknown ({self.type.value})")

    def format_file_size(self) -> str:
        """The file size in human units (``"2.00 GB"``), or ``"Unknown"``."""
        if self.file_size is None:
            return "Unknown"
        size = float(self.file_size)
        for unit in ("B", "KB", "MB", "GB", "TB"):
            if size < 1024.0:
                return f"{size:.2f} {unit}"
            size /= 1024.0
        return f"{size:.2f} PB"

    def is_compatible_with_base(self, base_model: BaseDnnModelType | str) -> bool:
        """Whether the model works with ``base_model`` (its own base, or any)."""
        return self.base == BaseDnnModelType.ANY or self.base == base_model

    def to_dict(self) -> dict[str, Any]:
        """The record as a dict, fields that are None left out (extras included)."""
        return self.model_dump(exclude_none=True)


_CATEGORIES = {
    "main": "Primary Diffusion Model",
    "controlnet": "ControlNet (Guided Generation)",
    "vae": "Variational Auto-Encoder",
    "clip_vision": "CLIP Vision Encoder",
    "clip_embed": "CLIP Text Encoder",
    "ip_adapter": "IP-Adapter (Image Prompting)",
    "t5_encoder": "T5 Text Encoder",
    "lora": "LoRA (Low-Rank Adaptation)",
    "control_lora": "Control LoRA",
    "embedding": "Textual Inversion (Embedding)",
    "t2i_adapter": "T2I-Adapter",
    "spandrel_image_to_image": "Spandrel Image-to-Image",
    "siglip": "SigLIP",
    "flux_redux": "FLUX Redux",
    "llava_onevision": "LLaVA OneVision",
    "onnx": "ONNX Model",
}
