import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
# evaluate copies the metric modules it loads into this cache; keep the tests' copies out of the user's home.
os.environ.setdefault("HF_MODULES_CACHE", tempfile.mkdtemp(prefix="mu-tests-modules-"))
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

from mu import MuConfig, MuForConditionalGeneration  # noqa: E402

TINY = dict(
    vocab_size=99,
    hidden_size=32,
    attention_hidden_size=24,
    intermediate_size=64,
    encoder_layers=2,
    decoder_layers=2,
    num_attention_heads=6,
    num_key_value_heads=3,
    max_position_embeddings=32,
    dropout=0.0,
    attention_dropout=0.0,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    decoder_start_token_id=1,
)


def tiny_config(**overrides) -> MuConfig:
    return MuConfig(**{**TINY, **overrides})


def tiny_model(seed: int = 0, model_class: type = MuForConditionalGeneration, **overrides):
    """A tiny Mu (or its decoder-only twin, `model_class=MuForCausalLM`) in eval mode. A wide initialisation and an
    untied head give varied greedy outputs (a tied random model tends to repeat the token it just read)."""
    torch.manual_seed(seed)
    overrides.setdefault("initializer_range", 0.3)
    overrides.setdefault("tie_word_embeddings", False)
    return model_class(tiny_config(**overrides)).eval()


@pytest.fixture
def model() -> MuForConditionalGeneration:
    return tiny_model()


def random_ids(batch: int, length: int, seed: int = 0, low: int = 3, high: int = 99) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (batch, length), generator=generator)
