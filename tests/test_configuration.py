import pytest
import torch
from transformers import AutoConfig

from mu import MuConfig, MuForConditionalGeneration


def test_defaults_are_the_papers_330m_model():
    config = MuConfig()
    assert (config.vocab_size, config.hidden_size, config.attention_hidden_size) == (32128, 1024, 384)
    assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (6, 3, 64)
    assert (config.encoder_layers, config.decoder_layers, config.intermediate_size) == (20, 10, 4096)
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id, config.decoder_start_token_id) == (
        1,
        32000,
        0,
        1,
    )
    assert config.tie_word_embeddings and not config.lm_head_bias
    assert config.hidden_act == "gelu_pytorch_tanh" and config.rms_norm_eps == 1e-6


def test_default_model_has_332_0m_parameters_counted_on_meta():
    with torch.device("meta"):
        model = MuForConditionalGeneration(MuConfig())
    unique = {id(p): p.numel() for p in model.parameters()}
    assert round(sum(unique.values()) / 1e6, 1) == 332.0


def test_caches_see_the_decoder_layer_count():
    config = MuConfig(encoder_layers=7, decoder_layers=3)
    assert config.num_hidden_layers == 7
    assert config.get_text_config(decoder=True).num_hidden_layers == 3


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"num_attention_heads": 5}, "attention_hidden_size"),
        ({"num_key_value_heads": 4}, "num_key_value_heads"),
        ({"hidden_size": -8}, "hidden_size"),
        ({"decoder_layers": 0}, "decoder_layers"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"rope_ntk_variant": "v3"}, "rope_ntk_variant"),
        ({"rope_scaling_factor": 0.5}, "rope_scaling_factor"),
        ({"attention_hidden_size": 36, "num_attention_heads": 4, "num_key_value_heads": 2}, "head dimension"),
        ({"dropout": 1.5}, "dropout"),
    ],
)
def test_invalid_values_raise_value_error_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        MuConfig(**overrides)


def test_attention_width_defaults_to_hidden_size():
    config = MuConfig(hidden_size=768, attention_hidden_size=None, num_attention_heads=16, num_key_value_heads=8)
    assert config.attention_hidden_size == 768 and config.head_dim == 48


def test_config_round_trips_through_auto_config(tmp_path):
    config = MuConfig(encoder_layers=4, rope_scaling_factor=4.0, rope_ntk_variant="v2", lm_head_bias=True)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, MuConfig)
    assert loaded.to_diff_dict() == config.to_diff_dict()
