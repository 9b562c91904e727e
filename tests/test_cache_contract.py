"""Each decoding step gets the cache the previous one returned, on either side of transformers' `past_key_values` ->
`cache` rename; a step that would silently lose it is refused."""

import warnings

import pytest
import torch
from transformers import GenerationMixin

from mu import MuForCausalLM
from mu.modeling_mu import CACHE_FIELD, MuGenerationMixin

from .conftest import random_ids, tiny_model

NEW_TOKENS = 6


def _greedy(model, inputs):
    return model.generate(inputs, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False)


@pytest.fixture(params=["seq2seq", "decoder-only"])
def any_model(request):
    return tiny_model() if request.param == "seq2seq" else tiny_model(model_class=MuForCausalLM)


def test_outputs_carry_the_cache_under_the_installed_field_name(model):
    outputs = model(input_ids=random_ids(1, 5), decoder_input_ids=random_ids(1, 2), use_cache=True)
    assert CACHE_FIELD in outputs.keys()
    assert getattr(outputs, CACHE_FIELD).get_seq_length() == 2


def test_the_step_hook_fires_on_every_step(monkeypatch, any_model):
    calls = []
    hook = MuGenerationMixin._update_model_kwargs_for_generation

    def counting(self, *args, **kwargs):
        calls.append(1)
        return hook(self, *args, **kwargs)

    monkeypatch.setattr(MuGenerationMixin, "_update_model_kwargs_for_generation", counting)
    _greedy(any_model, random_ids(2, 5))
    assert len(calls) >= NEW_TOKENS - 1


def test_a_cache_lost_between_steps_is_an_error(monkeypatch, any_model):
    """generate() reading the returned cache under another name (a future rename) never gives it back to the model."""
    update = GenerationMixin._update_model_kwargs_for_generation

    def losing_the_cache(self, outputs, model_kwargs, *args, **kwargs):
        model_kwargs = update(self, outputs, model_kwargs, *args, **kwargs)
        for name in ("cache", "past_key_values"):
            model_kwargs.pop(name, None)
        return model_kwargs

    monkeypatch.setattr(GenerationMixin, "_update_model_kwargs_for_generation", losing_the_cache)
    with pytest.raises(RuntimeError, match="did not carry the cache"):
        _greedy(any_model, random_ids(2, 5))


def test_a_cache_passed_under_a_name_mu_does_not_read_is_an_error(any_model):
    """The transformers 5.24 failure: generate() passed the cache as `cache` to a model that read only
    `past_key_values`; each step then started from an empty cache and decoded wrong tokens."""
    forward = any_model.forward

    def renaming_the_cache(*args, **kwargs):
        for name in ("cache", "past_key_values"):
            if name in kwargs:
                kwargs["kv_state"] = kwargs.pop(name)
        return forward(*args, **kwargs)

    any_model.forward = renaming_the_cache
    with pytest.raises(ValueError, match="received its cache as `kv_state`"):
        _greedy(any_model, random_ids(2, 5))


def test_past_key_values_is_still_accepted(model):
    inputs, decoder_ids = random_ids(2, 7), random_ids(2, 5, seed=1)
    with torch.no_grad():
        prefix = model(input_ids=inputs, decoder_input_ids=decoder_ids[:, :4], use_cache=True)
        encoder_outputs = (prefix.encoder_last_hidden_state,)
        cache = getattr(prefix, CACHE_FIELD)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # deprecated after the rename
            old_name = model(
                encoder_outputs=encoder_outputs, decoder_input_ids=decoder_ids[:, 4:], past_key_values=cache
            )
        full = model(input_ids=inputs, decoder_input_ids=decoder_ids).logits
    torch.testing.assert_close(old_name.logits[:, 0], full[:, 4], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="past_key_values"):
        model(
            encoder_outputs=encoder_outputs, decoder_input_ids=decoder_ids[:, 4:], cache=cache, past_key_values=cache
        )
