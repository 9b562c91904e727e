import pytest
import torch
from transformers import Qwen3ForCausalLM, T5ForConditionalGeneration

from mu import MuForCausalLM, MuForConditionalGeneration
from mu.benchmark.contenders import mu_config, qwen3_config, t5_config
from mu.benchmark.flops import TransformerShape, counted_flops, decode_step_flops, generation_flops, prefill_flops

from .conftest import random_ids

MODELS = {
    "mu": (MuForConditionalGeneration, mu_config),
    "mu-decoder-only": (MuForCausalLM, mu_config),
    "t5": (T5ForConditionalGeneration, t5_config),
    "qwen3": (Qwen3ForCausalLM, qwen3_config),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_analytic_flops_match_the_flop_counter(name):
    model_class, config = MODELS[name]
    torch.manual_seed(0)
    model = model_class(config("tiny")).eval()
    shape = TransformerShape.from_config(model.config)
    inputs = random_ids(2, 37, high=500)
    counted = counted_flops(model, inputs)
    assert counted["prefill"] == pytest.approx(prefill_flops(shape, 37, batch_size=2), rel=0.02)
    assert counted["decode_step"] == pytest.approx(decode_step_flops(shape, 37, 0, batch_size=2), rel=0.02)


def test_mu_330m_shape_and_decode_weights():
    shape = TransformerShape.from_config(mu_config("330m"))
    assert (shape.encoder_layers, shape.decoder_layers, shape.query_width, shape.key_value_width) == (20, 10, 384, 192)
    # a decoding step reads the decoder without its cross-attention keys/values, and the head
    per_layer = 2 * 1024 * 384 + 2 * 1024 * 192 + 2 * 1024 * 384 + 2 * 1024 * 4096
    assert shape.decoder_step_weights == 10 * per_layer + 1024 * 32128
    twin = TransformerShape.from_config(mu_config("330m").decoder_only())
    assert (twin.encoder_layers, twin.decoder_layers) == (0, 30)


def test_decoding_without_cache_costs_more_with_every_token():
    shape = TransformerShape.from_config(mu_config("330m"))
    cached = [decode_step_flops(shape, 1024, step) for step in (0, 100)]
    uncached = [decode_step_flops(shape, 1024, step, use_cache=False) for step in (0, 100)]
    assert uncached[0] > cached[0] and uncached[1] > 50 * cached[1]
    totals = generation_flops(shape, 1024, 128), generation_flops(shape, 1024, 128, use_cache=False)
    assert totals[0]["prefill"] == totals[1]["prefill"]
    assert totals[1]["decode"] > 20 * totals[0]["decode"]
