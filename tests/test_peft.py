import torch
from peft import LoraConfig, get_peft_model

from mu import MuForConditionalGeneration

from .conftest import random_ids, tiny_model

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2"]


def test_lora_on_attention_and_mlp_trains_and_merges_back():
    base = tiny_model(initializer_range=0.05)
    frozen = {k: v.clone() for k, v in base.state_dict().items()}
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS, task_type="SEQ_2_SEQ_LM"))
    lora_modules = {name.rsplit(".", 2)[0] for name, _ in model.named_parameters() if "lora_A" in name}
    assert len(lora_modules) == 2 * 6 + 2 * 10  # encoder: 4 attention + 2 MLP linears; decoder: 8 + 2
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)

    model.train()
    batch = dict(input_ids=random_ids(4, 8), labels=random_ids(4, 5, seed=1))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(15):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]

    model.eval()
    with torch.no_grad():
        adapted = model(**batch).logits
        merged = model.merge_and_unload()
        assert type(merged) is MuForConditionalGeneration
        assert not any("lora" in name for name, _ in merged.named_parameters())
        torch.testing.assert_close(merged(**batch).logits, adapted, atol=1e-5, rtol=0)
    changed = [k for k, v in merged.state_dict().items() if not torch.equal(v, frozen[k])]
    assert changed and all(any(t in k for t in LORA_TARGETS) for k in changed)
