import shutil

import pytest
import torch
from transformers import CompileConfig

from .conftest import random_ids, tiny_model
from .test_causal_lm import tiny_twin

MAX_NEW = 10

# Inductor generates C++ on CPU; where no compiler is installed, the graph is still captured whole by dynamo
# (`fullgraph=True`) and run through AOT autograd, which is the part that depends on the model code.
BACKEND = "inductor" if shutil.which("g++") or shutil.which("c++") else "aot_eager"


def compiled_static_generation(model, inputs, mask):
    compile_config = CompileConfig(fullgraph=True, backend=BACKEND, mode="default")
    compile_config._compile_all_devices = True  # transformers only auto-compiles on accelerators otherwise
    return model.generate(
        inputs,
        attention_mask=mask,
        max_new_tokens=MAX_NEW,
        min_new_tokens=MAX_NEW,
        do_sample=False,
        cache_implementation="static",
        compile_config=compile_config,
    )


@pytest.mark.parametrize("architecture", ["encoder-decoder", "decoder-only"])
def test_static_cache_with_compile_equals_dynamic_cache(architecture):
    torch._dynamo.reset()
    model = tiny_model() if architecture == "encoder-decoder" else tiny_twin()
    inputs = random_ids(2, 9)
    mask = torch.ones_like(inputs)
    if architecture == "encoder-decoder":
        mask[1, -3:] = 0
    else:
        mask[1, :3] = 0  # left padding
    dynamic = model.generate(
        inputs, attention_mask=mask, max_new_tokens=MAX_NEW, min_new_tokens=MAX_NEW, do_sample=False
    )
    first = compiled_static_generation(model, inputs, mask)
    assert hasattr(model, "_compiled_call"), "generate() should have compiled the forward"
    second = compiled_static_generation(model, inputs, mask)  # reuses the compiled graph and the cache
    assert torch.equal(first, dynamic)
    assert torch.equal(second, dynamic)
