# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Mu: small encoder-decoder language models, native to the Hugging Face stack.

Importing `mu` registers Mu with the transformers Auto classes, and marks its classes so that `save_pretrained`
writes the model code next to the weights (loadable with `trust_remote_code=True` where `mu` is not installed).
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoModelForSeq2SeqLM,
    AutoProcessor,
)

from .configuration_mu import MuConfig
from .modeling_mu import (
    MuDecoder,
    MuDecoderOnlyModel,
    MuEncoder,
    MuForCausalLM,
    MuForConditionalGeneration,
    MuModel,
    MuPreTrainedModel,
)
from .processing_mu import MuProcessor
from .prompts import format_qa_prompt

__version__ = "0.1.0"

AutoConfig.register(MuConfig.model_type, MuConfig)
AutoModel.register(MuConfig, MuModel)
AutoModelForSeq2SeqLM.register(MuConfig, MuForConditionalGeneration)
AutoModelForCausalLM.register(MuConfig, MuForCausalLM)
AutoModelForImageTextToText.register(MuConfig, MuForConditionalGeneration)
AutoProcessor.register(MuConfig, MuProcessor)

MuConfig.register_for_auto_class()
MuModel.register_for_auto_class("AutoModel")
MuForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")
MuForCausalLM.register_for_auto_class("AutoModelForCausalLM")
MuProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "MuConfig",
    "MuPreTrainedModel",
    "MuEncoder",
    "MuDecoder",
    "MuModel",
    "MuForConditionalGeneration",
    "MuDecoderOnlyModel",
    "MuForCausalLM",
    "MuProcessor",
    "format_qa_prompt",
]
