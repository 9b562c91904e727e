import pytest
import torch
from transformers import TextIteratorStreamer
from transformers.cache_utils import EncoderDecoderCache

from mu import MuModel

from .conftest import random_ids, tiny_config, tiny_model

MAX_NEW = 12


def test_greedy_with_cache_equals_without_cache(model):
    inputs = random_ids(3, 9)
    cached = model.generate(inputs, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False, use_cache=True)
    uncached = model.generate(inputs, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False, use_cache=False)
    assert cached.shape == (3, MAX_NEW + 1)
    assert len(set(cached[0].tolist())) > 2, "the tiny model should not repeat one token"
    assert torch.equal(cached, uncached)


def test_cross_attention_is_projected_once_per_generate_call(model):
    calls = []
    hook = model.model.decoder.layers[0].cross_attn.k_proj.register_forward_hook(lambda *args: calls.append(1))
    model.generate(random_ids(2, 7), max_new_tokens=6, min_new_tokens=6, do_sample=False)
    hook.remove()
    assert len(calls) == 1


def test_cached_step_uses_the_absolute_decoder_position(model):
    inputs = random_ids(2, 7)
    decoder_ids = random_ids(2, 5, seed=1)
    with torch.no_grad():
        full = model(input_ids=inputs, decoder_input_ids=decoder_ids).logits
        prefix = model(input_ids=inputs, decoder_input_ids=decoder_ids[:, :4], use_cache=True)
        assert isinstance(prefix.past_key_values, EncoderDecoderCache)
        step = model(
            encoder_outputs=(prefix.encoder_last_hidden_state,),
            decoder_input_ids=decoder_ids[:, 4:],
            past_key_values=prefix.past_key_values,
        ).logits
    torch.testing.assert_close(step[:, 0], full[:, 4], atol=1e-5, rtol=0)


def test_static_cache_generates_the_same_tokens(model):
    inputs = random_ids(2, 9)
    dynamic = model.generate(inputs, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False)
    static = model.generate(
        inputs, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False, cache_implementation="static"
    )
    assert torch.equal(dynamic, static)


def test_beam_search_returns_sequences_ranked_by_score(model):
    out = model.generate(
        random_ids(2, 8),
        max_new_tokens=8,
        num_beams=3,
        num_return_sequences=3,
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
    )
    assert out.sequences.shape[0] == 6
    scores = out.sequences_scores.view(2, 3)
    assert torch.all(scores[:, :-1] >= scores[:, 1:])
    greedy = model.generate(
        random_ids(2, 8), max_new_tokens=8, do_sample=False, output_scores=True, return_dict_in_generate=True
    )
    # the best beam is at least as likely as the greedy path under length-normalised log-probability
    greedy_logprob = torch.stack(
        [
            torch.log_softmax(s, -1).gather(1, t[:, None])[:, 0]
            for s, t in zip(greedy.scores, greedy.sequences[:, 1:].T)
        ]
    ).sum(0) / len(greedy.scores)
    assert torch.all(scores[:, 0] >= greedy_logprob - 1e-4)


def test_sampling_is_reproducible_with_a_seed_and_varies_without(model):
    inputs = random_ids(1, 8)
    kwargs = dict(do_sample=True, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, temperature=1.5)
    torch.manual_seed(7)
    first = model.generate(inputs, **kwargs)
    torch.manual_seed(7)
    second = model.generate(inputs, **kwargs)
    assert torch.equal(first, second)
    samples = model.generate(inputs.expand(8, -1), **kwargs)
    assert len({tuple(s.tolist()) for s in samples}) > 1


def test_top_k_one_is_greedy(model):
    inputs = random_ids(2, 8)
    greedy = model.generate(inputs, do_sample=False, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW)
    top1 = model.generate(inputs, do_sample=True, top_k=1, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW)
    assert torch.equal(greedy, top1)


def test_top_k_and_top_p_restrict_sampled_tokens(model):
    inputs = random_ids(1, 8)
    with torch.no_grad():
        first_logits = model(input_ids=inputs, decoder_input_ids=torch.tensor([[1]])).logits[0, -1]
    allowed_k = set(first_logits.topk(3).indices.tolist())
    probs = first_logits.softmax(-1)
    order = probs.argsort(descending=True)
    cumulative = probs[order].cumsum(0)
    allowed_p = set(order[: int((cumulative < 0.5).sum()) + 1].tolist())
    torch.manual_seed(0)
    firsts_k = model.generate(inputs.expand(32, -1), do_sample=True, top_k=3, max_new_tokens=1)[:, 1]
    firsts_p = model.generate(inputs.expand(32, -1), do_sample=True, top_p=0.5, top_k=0, max_new_tokens=1)[:, 1]
    assert set(firsts_k.tolist()) <= allowed_k
    assert set(firsts_p.tolist()) <= allowed_p


def test_repetition_penalty_reduces_repeats(model):
    inputs = random_ids(4, 8)
    kwargs = dict(do_sample=False, max_new_tokens=24, min_new_tokens=24)
    plain = model.generate(inputs, **kwargs)
    penalised = model.generate(inputs, repetition_penalty=5.0, **kwargs)

    def repeats(seqs):
        return sum(len(s) - len(set(s.tolist())) for s in seqs)

    assert repeats(penalised) < repeats(plain)


def test_streamer_yields_the_generated_text():
    from threading import Thread

    from mu.synthetic_data.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["alpha beta gamma delta epsilon zeta eta theta"] * 4, vocab_size=300)
    model = tiny_model(vocab_size=len(tokenizer))
    inputs = random_ids(1, 8, high=len(tokenizer))
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=60)
    kwargs = dict(input_ids=inputs, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False)
    thread = Thread(target=model.generate, kwargs={**kwargs, "streamer": streamer})
    thread.start()
    pieces = list(streamer)
    thread.join()
    expected = tokenizer.decode(model.generate(**kwargs)[0], skip_special_tokens=True)
    assert len(pieces) > 1
    assert "".join(pieces) == expected


def _padded_batch(prompts, side="right"):
    width = max(len(p) for p in prompts)
    batch = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros_like(batch)
    for i, prompt in enumerate(prompts):
        if side == "right":
            batch[i, : len(prompt)], mask[i, : len(prompt)] = prompt, 1
        else:
            batch[i, width - len(prompt) :], mask[i, width - len(prompt) :] = prompt, 1
    return batch, mask


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_batch_equals_each_prompt_alone(side):
    model = tiny_model(initializer_range=0.05)
    prompts = [random_ids(1, n, seed=n)[0] for n in (3, 8, 13)]
    batch, mask = _padded_batch(prompts, side)
    decoder_ids = random_ids(3, 4, seed=99)
    with torch.no_grad():
        batched = model(input_ids=batch, attention_mask=mask, decoder_input_ids=decoder_ids).logits
        for i, prompt in enumerate(prompts):
            alone = model(input_ids=prompt[None], decoder_input_ids=decoder_ids[i : i + 1]).logits
            torch.testing.assert_close(batched[i], alone[0], atol=1e-5, rtol=0)

    greedy = tiny_model()
    batched_out = greedy.generate(
        batch, attention_mask=mask, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False
    )
    for i, prompt in enumerate(prompts):
        alone = greedy.generate(prompt[None], max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False)
        assert torch.equal(batched_out[i], alone[0])


def test_encoder_positions_are_centered_on_the_real_length():
    from mu.modeling_mu import centered_position_ids

    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    assert centered_position_ids(mask).tolist() == [
        [-1, 0, 1, 2, 0, 0],
        [0, 0, -1, 0, 1, 2],
        [-2, -1, 0, 1, 2, 3],
    ]


@pytest.mark.parametrize("padded", [False, True])
def test_sdpa_and_eager_agree(padded):
    sdpa = tiny_model(initializer_range=0.05)
    eager = tiny_model(initializer_range=0.05, attn_implementation="eager")
    eager.load_state_dict(sdpa.state_dict())
    assert sdpa.config._attn_implementation == "sdpa" and eager.config._attn_implementation == "eager"
    inputs = random_ids(2, 10)
    mask = torch.ones_like(inputs)
    if padded:
        mask[0, 6:] = 0
    decoder_ids = random_ids(2, 6, seed=3)
    with torch.no_grad():
        a = sdpa(input_ids=inputs, attention_mask=mask, decoder_input_ids=decoder_ids)
        b = eager(input_ids=inputs, attention_mask=mask, decoder_input_ids=decoder_ids)
    torch.testing.assert_close(a.encoder_last_hidden_state, b.encoder_last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=0)


def test_gradient_checkpointing_gives_the_same_gradients():
    plain = tiny_model(initializer_range=0.05).train()
    checkpointed = tiny_model(initializer_range=0.05).train()
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.gradient_checkpointing_enable()
    assert checkpointed.model.encoder.layers[0].gradient_checkpointing
    batch = dict(input_ids=random_ids(2, 9), labels=random_ids(2, 5, seed=4))
    plain(**batch).loss.backward()
    checkpointed(**batch).loss.backward()
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-5, msg=name)


def test_loss_ignores_minus_100_and_shifts_labels_behind_the_start_token():
    model = tiny_model(initializer_range=0.05)
    inputs = random_ids(2, 7)
    labels = random_ids(2, 5, seed=5)
    labels[1, 3:] = -100
    out = model(input_ids=inputs, labels=labels)
    decoder_ids = model.prepare_decoder_input_ids_from_labels(labels)
    assert decoder_ids[:, 0].tolist() == [1, 1]
    assert torch.equal(decoder_ids[:, 1:], labels[:, :-1].masked_fill(labels[:, :-1] == -100, 0))
    logits = model(input_ids=inputs, decoder_input_ids=decoder_ids).logits
    keep = labels != -100
    expected = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
    torch.testing.assert_close(out.loss, expected)


def test_inputs_embeds_equal_input_ids(model):
    inputs = random_ids(2, 7)
    decoder_ids = random_ids(2, 3, seed=6)
    with torch.no_grad():
        from_ids = model(input_ids=inputs, decoder_input_ids=decoder_ids).logits
        embeds = model.get_input_embeddings()(inputs)
        from_embeds = model(inputs_embeds=embeds, decoder_input_ids=decoder_ids).logits
    torch.testing.assert_close(from_ids, from_embeds)


def test_encoder_and_decoder_share_one_embedding_even_with_an_untied_head():
    model = tiny_model(tie_word_embeddings=False)
    shared = model.get_input_embeddings().weight
    assert model.model.encoder.embed_tokens.weight is shared
    assert model.model.decoder.embed_tokens.weight is shared
    assert model.lm_head.weight is not shared


def test_accessors_find_the_shared_embedding_head_encoder_and_decoder():
    model = tiny_model(tie_word_embeddings=False)
    assert model.get_input_embeddings() is model.model.shared
    assert model.get_output_embeddings() is model.lm_head
    assert model.get_encoder() is model.model.encoder
    assert model.get_encoder(modality="image") is model.model.encoder
    assert model.get_decoder() is model.model.decoder
    replacement = torch.nn.Embedding(model.config.vocab_size, model.config.hidden_size)
    model.set_input_embeddings(replacement)
    assert model.model.encoder.embed_tokens is replacement
    assert model.model.decoder.embed_tokens is replacement


def test_resize_token_embeddings_keeps_everything_tied():
    model = tiny_model(tie_word_embeddings=True)
    model.resize_token_embeddings(120)
    assert model.config.vocab_size == 120
    assert model.model.encoder.embed_tokens.weight is model.get_input_embeddings().weight
    assert model.model.decoder.embed_tokens.weight is model.get_input_embeddings().weight
    assert model.lm_head.weight is model.get_input_embeddings().weight
    out = model(input_ids=random_ids(1, 5, high=120), decoder_input_ids=torch.tensor([[1, 119]]))
    assert out.logits.shape[-1] == 120


def test_lm_head_bias_is_used_when_configured():
    model = tiny_model(lm_head_bias=True)
    with torch.no_grad():
        model.lm_head.bias.fill_(0.0)
        model.lm_head.bias[7] = 1e4
    out = model.generate(random_ids(1, 6), max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out[0, 1:].tolist() == [7, 7, 7]


def test_ntk_scaling_changes_nothing_within_the_training_length_and_padding_stays_invisible_beyond():
    base = tiny_model(initializer_range=0.05)
    scaled = {v: tiny_model(initializer_range=0.05, rope_scaling_factor=4.0, rope_ntk_variant=v) for v in ("v1", "v2")}
    for m in scaled.values():
        m.load_state_dict(base.state_dict())
    short, long = random_ids(1, 20), random_ids(1, 60, seed=1)  # max_position_embeddings is 32
    decoder_ids = torch.tensor([[1, 5, 6]])
    with torch.no_grad():
        logits = {
            name: m(input_ids=short, decoder_input_ids=decoder_ids).logits
            for name, m in {"base": base, **scaled}.items()
        }
        torch.testing.assert_close(logits["v1"], logits["base"], atol=1e-6, rtol=0)
        torch.testing.assert_close(logits["v2"], logits["base"], atol=1e-6, rtol=0)
        long_logits = {
            name: m(input_ids=long, decoder_input_ids=decoder_ids).logits
            for name, m in {"base": base, **scaled}.items()
        }
        assert (long_logits["v1"] - long_logits["base"]).abs().max() > 1e-4
        assert (long_logits["v1"] - long_logits["v2"]).abs().max() > 1e-4
        batch, mask = _padded_batch([short[0], long[0]])
        batched = scaled["v1"](
            input_ids=batch, attention_mask=mask, decoder_input_ids=decoder_ids.expand(2, -1)
        ).logits
        short_alone = scaled["v1"](input_ids=short, decoder_input_ids=decoder_ids).logits
    torch.testing.assert_close(batched[0], short_alone[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batched[1], long_logits["v1"][0], atol=1e-5, rtol=0)


def test_ntk_base_growth_follows_both_reference_formulas():
    from mu.modeling_mu import MuRotaryEmbedding

    for variant, exponent in (("v1", 8 / 6), ("v2", 1.0)):
        config = tiny_config(attention_hidden_size=48, rope_scaling_factor=2.0, rope_ntk_variant=variant)
        rotary = MuRotaryEmbedding(config)
        inv_freq = rotary._scaled_inv_freq(torch.tensor([16, 64]))  # max_position_embeddings 32, head_dim 8
        growth = (2.0 * 64 / 32 - 1.0) ** exponent
        expected_long = 1.0 / ((10000.0 * growth) ** (torch.arange(0, 8, 2).float() / 8))
        torch.testing.assert_close(inv_freq[0], rotary.inv_freq)
        torch.testing.assert_close(inv_freq[1], expected_long)


def test_output_attentions_and_hidden_states():
    model = tiny_model(attn_implementation="eager")  # sdpa computes no attention weights
    out = model(
        input_ids=random_ids(1, 6),
        decoder_input_ids=torch.tensor([[1, 4, 5]]),
        output_attentions=True,
        output_hidden_states=True,
    )
    assert len(out.encoder_attentions) == 2 and out.encoder_attentions[0].shape == (1, 6, 6, 6)
    assert len(out.cross_attentions) == 2 and out.cross_attentions[0].shape == (1, 6, 3, 6)
    assert len(out.decoder_hidden_states) == 3


def test_base_model_returns_decoder_states():
    model = MuModel(tiny_config()).eval()
    out = model(input_ids=random_ids(2, 5), decoder_input_ids=torch.tensor([[1, 4], [1, 5]]))
    assert out.last_hidden_state.shape == (2, 2, 32)
    assert out.encoder_last_hidden_state.shape == (2, 5, 32)


class TestBadInput:
    def test_token_id_outside_the_vocabulary(self, model):
        with pytest.raises(ValueError, match=r"`input_ids` holds token id 99, outside the vocabulary \[0, 99\)"):
            model(input_ids=torch.tensor([[5, 99]]), decoder_input_ids=torch.tensor([[1]]))
        with pytest.raises(ValueError, match="`decoder_input_ids` holds token id -3"):
            model(input_ids=torch.tensor([[5, 6]]), decoder_input_ids=torch.tensor([[1, -3]]))
        with pytest.raises(ValueError, match="outside the vocabulary"):
            model.generate(torch.tensor([[5, 1000]]), max_new_tokens=2)

    def test_empty_input(self, model):
        with pytest.raises(ValueError, match="`input_ids` is empty"):
            model(input_ids=torch.zeros(1, 0, dtype=torch.long), decoder_input_ids=torch.tensor([[1]]))
        with pytest.raises(ValueError, match=r"Input sequence\(s\) \[1\] have no tokens"):
            model(
                input_ids=torch.tensor([[5, 6], [7, 8]]),
                attention_mask=torch.tensor([[1, 1], [0, 0]]),
                decoder_input_ids=torch.tensor([[1], [1]]),
            )

    def test_mismatched_attention_mask(self, model):
        with pytest.raises(
            ValueError, match=r"`attention_mask` has shape \(1, 3\), but the inputs have shape \(1, 4\)"
        ):
            model(input_ids=random_ids(1, 4), attention_mask=torch.ones(1, 3), decoder_input_ids=torch.tensor([[1]]))
        with pytest.raises(ValueError, match="`decoder_attention_mask` has shape"):
            model(
                input_ids=random_ids(1, 4),
                decoder_input_ids=torch.tensor([[1, 5]]),
                decoder_attention_mask=torch.ones(1, 3),
            )

    def test_both_or_neither_of_ids_and_embeddings(self, model):
        with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
            model(decoder_input_ids=torch.tensor([[1]]))


def test_padding_is_masked_by_default_in_encoder_and_cross_attention():
    model = tiny_model(initializer_range=0.05)
    padded = torch.tensor([[5, 6, 7, 0, 0]])
    decoder_ids = torch.tensor([[1, 8]])
    with torch.no_grad():
        implicit = model(input_ids=padded, decoder_input_ids=decoder_ids).logits
        explicit = model(input_ids=padded, attention_mask=(padded != 0).long(), decoder_input_ids=decoder_ids).logits
        unmasked = model(
            input_ids=padded, attention_mask=torch.ones_like(padded), decoder_input_ids=decoder_ids
        ).logits
    torch.testing.assert_close(implicit, explicit, atol=0, rtol=0)
    assert (implicit - unmasked).abs().max() > 1e-4
