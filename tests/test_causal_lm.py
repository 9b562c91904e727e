import pytest
import torch
from transformers import AutoModelForCausalLM

from mu import MuForCausalLM

from .conftest import random_ids, tiny_config, tiny_model

MAX_NEW = 10


def tiny_twin(seed: int = 0, **overrides) -> MuForCausalLM:
    return tiny_model(seed, MuForCausalLM, **overrides)


@pytest.fixture
def twin() -> MuForCausalLM:
    return tiny_twin()


def test_twin_stacks_encoder_and_decoder_layers_with_the_same_blocks():
    config = tiny_config(encoder_layers=3, decoder_layers=2)
    twin = AutoModelForCausalLM.from_config(config)
    assert isinstance(twin, MuForCausalLM)
    assert len(twin.model.layers) == 5 and twin.config.num_hidden_layers == 5
    assert not twin.config.is_encoder_decoder and config.is_encoder_decoder, "the caller's config is left alone"
    layer = twin.model.layers[0]
    assert layer.self_attn.is_causal
    assert layer.self_attn.q_proj.weight.shape == (config.attention_hidden_size, config.hidden_size)
    assert layer.self_attn.k_proj.weight.shape == (config.num_key_value_heads * config.head_dim, config.hidden_size)
    assert layer.mlp.fc1.weight.shape == (config.intermediate_size, config.hidden_size)


def test_twin_is_causal(twin):
    ids = random_ids(1, 10)
    changed = ids.clone()
    changed[0, 7] = (ids[0, 7] + 1 - 3) % 96 + 3
    with torch.no_grad():
        logits, changed_logits = twin(ids).logits, twin(changed).logits
    torch.testing.assert_close(logits[:, :7], changed_logits[:, :7])
    assert not torch.allclose(logits[:, 7:], changed_logits[:, 7:])


def test_twin_generate_with_and_without_cache_agree(twin):
    inputs = random_ids(3, 9)
    cached = twin.generate(inputs, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False)
    uncached = twin.generate(inputs, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False, use_cache=False)
    static = twin.generate(
        inputs, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False, cache_implementation="static"
    )
    assert cached.shape == (3, 9 + MAX_NEW)
    assert len(set(cached[0, 9:].tolist())) > 2, "the tiny model should not repeat one token"
    assert torch.equal(cached, uncached)
    assert torch.equal(cached, static)


def test_twin_left_padded_batch_matches_single_prompts(twin):
    long, short = random_ids(1, 9, seed=1), random_ids(1, 5, seed=2)
    batch = torch.cat([long, torch.cat([torch.zeros(1, 4, dtype=torch.long), short], dim=1)])
    mask = (batch != 0).long()
    kwargs = dict(max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False, pad_token_id=0)
    batched = twin.generate(batch, attention_mask=mask, **kwargs)
    assert torch.equal(batched[0], twin.generate(long, **kwargs)[0])
    assert torch.equal(batched[1, 9:], twin.generate(short, **kwargs)[0, 5:])


def test_twin_loss_is_next_token_cross_entropy(twin):
    ids = random_ids(2, 8)
    labels = ids.clone()
    labels[0, :3] = -100
    output = twin(ids, labels=labels)
    expected = torch.nn.functional.cross_entropy(
        output.logits[:, :-1].reshape(-1, output.logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    torch.testing.assert_close(output.loss, expected)


def test_twin_save_load_round_trip(twin, tmp_path):
    twin.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert len(reloaded.model.layers) == len(twin.model.layers)
    ids = random_ids(2, 6)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, twin(ids).logits)


def test_twin_refuses_out_of_vocabulary_ids(twin):
    with pytest.raises(ValueError, match="token id 500, outside the vocabulary"):
        twin(torch.tensor([[3, 500]]))


def test_twin_resize_token_embeddings_keeps_the_head_tied():
    twin = tiny_twin(tie_word_embeddings=True)
    twin.resize_token_embeddings(120)
    assert twin.config.vocab_size == 120
    assert twin.get_input_embeddings() is twin.model.embed_tokens
    assert twin.get_output_embeddings() is twin.lm_head
    assert twin.lm_head.weight is twin.model.embed_tokens.weight
    assert twin(input_ids=random_ids(1, 5, high=120)).logits.shape[-1] == 120
