import math

import pytest
import torch
from accelerate import skip_first_batches
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, T5ForConditionalGeneration
from trl.trainer.utils import RepeatSampler, pad

from mu.synthetic_data.tokenizer import train_tokenizer
from mu.trainers import MuDistillationTrainer, generalized_jsd_divergence, shared_vocabulary_size
from mu.trainers.distillation_trainer import EpochSeededSampler

from .distillation_setup import (
    distillation_config,
    gpt2_teacher,
    mu_student,
    qa_dataset,
    qa_rows,
    qa_tokenizer,
    qwen3_teacher,
    t5_student,
    tiny_trainer,
)


@pytest.fixture(scope="module")
def tokenizer():
    return qa_tokenizer()


def _divergence_by_hand(student_logits: torch.Tensor, teacher_logits: torch.Tensor, beta: float, temperature: float):
    """Eq. (1) of the GKD paper with TRL's end points, written with explicit probabilities, for one position."""
    q = torch.softmax(student_logits.double() / temperature, -1)
    p = torch.softmax(teacher_logits.double() / temperature, -1)
    if beta == 0.0:
        return (p * (p / q).log()).sum().item()
    if beta == 1.0:
        return (q * (q / p).log()).sum().item()
    m = beta * p + (1 - beta) * q
    return (beta * (p * (p / m).log()).sum() + (1 - beta) * (q * (q / m).log()).sum()).item()


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_generalized_jsd_equals_the_formula(beta, temperature):
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 3, 7, generator=generator) * 2, torch.randn(2, 3, 7, generator=generator) * 2
    divergence = generalized_jsd_divergence(student, teacher, beta, temperature)
    assert divergence.shape == (2, 3)
    for b in range(2):
        for t in range(3):
            expected = _divergence_by_hand(student[b, t], teacher[b, t], beta, temperature)
            assert divergence[b, t].item() == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert generalized_jsd_divergence(student, student, beta, temperature).abs().max() < 1e-6


def _loss_by_hand(student, teacher, prompts, completions, golds, alpha, beta, temperature, vocab, scale=1.0):
    """The trainer's loss computed one unpadded sample at a time: the teacher reads prompt + completion and its
    logit at position len(prompt) - 1 + i is compared with the student's decoder logit for completion token i;
    each divergence is multiplied by `scale`. Also returns the student's mean entropy over the completion tokens and
    over the ground-truth tokens."""
    start = student.config.decoder_start_token_id
    divergences, cross_entropies, entropies, gold_entropies = [], [], [], []

    def entropy(logits: torch.Tensor) -> float:
        log_probs = torch.log_softmax(logits.double(), -1)
        return -(log_probs.exp() * log_probs).sum().item()

    with torch.no_grad():
        for prompt, completion, gold in zip(prompts, completions, golds):
            encoder_input = torch.tensor([prompt])
            student_logits = student(
                input_ids=encoder_input, decoder_input_ids=torch.tensor([[start] + completion[:-1]])
            )
            teacher_logits = teacher(input_ids=torch.tensor([prompt + completion])).logits[0]
            for i in range(len(completion)):
                entropies.append(entropy(student_logits.logits[0, i]))
                divergences.append(
                    scale
                    * _divergence_by_hand(
                        student_logits.logits[0, i, :vocab],
                        teacher_logits[len(prompt) - 1 + i, :vocab],
                        beta,
                        temperature,
                    )
                )
            gold_logits = student(
                input_ids=encoder_input, decoder_input_ids=torch.tensor([[start] + gold[:-1]])
            ).logits
            log_probs = torch.log_softmax(gold_logits[0].double(), -1)
            cross_entropies += [-log_probs[i, token].item() for i, token in enumerate(gold)]
            gold_entropies += [entropy(gold_logits[0, i]) for i in range(len(gold))]
    kd = sum(divergences) / len(divergences)
    ce = sum(cross_entropies) / len(cross_entropies)
    mean_entropies = (sum(entropies) / len(entropies), sum(gold_entropies) / len(gold_entropies))
    return alpha * kd + (1 - alpha) * ce, kd, ce, mean_entropies


@pytest.mark.parametrize("student_factory", [mu_student, t5_student], ids=["mu", "t5"])
@pytest.mark.parametrize(
    ("alpha", "beta", "on_policy", "divergence_temperature"),
    [
        (0.9, 0.0, True, None),
        (0.5, 0.5, True, None),
        (1.0, 1.0, True, None),
        (0.0, 0.0, True, None),
        (0.5, 0.0, False, None),
        (0.5, 0.0, False, 2.0),
        (0.9, 0.5, True, 3.0),
    ],
)
def test_loss_equals_the_formula_with_padding_on_both_sides(
    tokenizer, tmp_path, student_factory, alpha, beta, on_policy, divergence_temperature
):
    vocab = len(tokenizer)
    # The teacher's vocabulary is larger than the student's: the divergence runs over the shared ids only. Its
    # absolute position embeddings make any shift by the prompt's left padding change its logits.
    student, teacher = student_factory(vocab), gpt2_teacher(vocab + 5)
    temperature = 0.8
    trainer = MuDistillationTrainer(
        student,
        teacher,
        args=distillation_config(
            tmp_path, alpha=alpha, beta=beta, temperature=temperature, divergence_temperature=divergence_temperature
        ),
        train_dataset=qa_dataset(4),
        processing_class=tokenizer,
    )
    assert trainer.shared_vocab_size == vocab
    rows = qa_rows(3)
    prompts = [tokenizer(row["prompt"]).input_ids[: 12 + 9 * i] for i, row in enumerate(rows)]  # 3 lengths
    golds = [[60, 2], [2], [70, 71, 72, 2]]
    # 3 lengths, one cut before its EOS; off-policy, the completions are the ground truth
    completions = [[17, 40, 2], [5, 6, 7, 8, 9, 2], [33]] if on_policy else golds
    inputs = {
        "prompt_ids": pad([torch.tensor(p) for p in prompts], 0, "left"),
        "prompt_mask": pad([torch.ones(len(p), dtype=torch.long) for p in prompts], 0, "left"),
        "completion_ids": pad([torch.tensor(c) for c in completions], 0, "right"),
        "completion_mask": pad([torch.ones(len(c), dtype=torch.long) for c in completions], 0, "right"),
        "labels": pad([torch.tensor(g) for g in golds], -100, "right"),
    }
    trainer.model.eval()
    with torch.no_grad():
        loss, terms = trainer._compute_loss(trainer.model, inputs)
    # At its own temperature the divergence is multiplied by the temperature's square (Hinton et al.).
    if divergence_temperature is not None:
        temperature, scale = divergence_temperature, divergence_temperature**2
    else:
        scale = 1.0
    expected, kd, ce, (entropy, gold_entropy) = _loss_by_hand(
        student, teacher, prompts, completions, golds, alpha, beta, temperature, vocab, scale
    )
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    kd_sum, kd_tokens, ce_sum, ce_tokens, entropy_sum, aligned = terms.tolist()
    assert (kd_tokens, ce_tokens) == ((10, 7) if on_policy else (7, 7))
    assert aligned == (kd_tokens if alpha > 0 else 0)  # one tokenizer: every divergence token is aligned
    # the logged entropy: the student's, over the tokens of the divergence (of the cross-entropy when alpha is 0)
    if alpha > 0:
        assert entropy_sum / kd_tokens == pytest.approx(entropy, rel=1e-4)
    else:
        assert entropy_sum / ce_tokens == pytest.approx(gold_entropy, rel=1e-4)
    if alpha > 0:
        assert kd_sum / kd_tokens == pytest.approx(kd, rel=1e-4)
    if alpha < 1:
        assert ce_sum / ce_tokens == pytest.approx(ce, rel=1e-4)


@pytest.mark.parametrize("student_factory", [mu_student, t5_student], ids=["mu", "t5"])
def test_lmbda_mixes_sampled_and_ground_truth_batches_reproducibly(tokenizer, tmp_path, student_factory):
    def on_policy_steps(lmbda: float) -> list[bool]:
        student = student_factory(len(tokenizer))
        args = distillation_config(tmp_path, max_steps=8, lmbda=lmbda, per_device_train_batch_size=2)
        trainer = MuDistillationTrainer(
            student, qwen3_teacher(len(tokenizer)), args=args, train_dataset=qa_dataset(16), processing_class=tokenizer
        )
        sampled, batches = [], []
        generate, score = student.generate, trainer._generate_and_score_completions
        student.generate = lambda *a, **k: sampled.append(trainer.state.global_step) or generate(*a, **k)
        trainer._generate_and_score_completions = lambda inputs: batches.append(score(inputs)) or batches[-1]
        trainer.train()
        assert len(batches) == 8
        for step, batch in enumerate(batches):
            ground_truth = torch.equal(
                batch["completion_ids"].masked_fill(batch["completion_mask"] == 0, -100), batch["labels"]
            )
            assert ground_truth == (step not in sampled)
        on_policy = [step in sampled for step in range(8)]
        sampled.clear()
        trainer.evaluate(qa_dataset(4))
        assert sampled  # evaluation samples whatever `lmbda` is, as in GKD
        return on_policy

    assert on_policy_steps(0.0) == [False] * 8 and on_policy_steps(1.0) == [True] * 8
    mixed = on_policy_steps(0.5)
    assert 0 < sum(mixed) < 8 and on_policy_steps(0.5) == mixed  # drawn from the seed and the step alone


@pytest.mark.parametrize("student_factory", [mu_student, t5_student], ids=["mu", "t5"])
def test_prompt_only_rows_of_ground_truth_batches_are_completed_by_the_teacher_and_have_no_labels(
    tokenizer, tmp_path, student_factory
):
    rows = qa_rows(8)
    for row in rows[::2]:
        row["completion"] = None  # TRL's prompt-only rows: learnt from the teacher alone
    student, teacher = student_factory(len(tokenizer)), qwen3_teacher(len(tokenizer))
    trainer = MuDistillationTrainer(
        student,
        teacher,
        # top-k 1: the teacher's samples are its greedy completions, which the test recomputes prompt by prompt
        args=distillation_config(tmp_path, lmbda=0.0, per_device_train_batch_size=8, max_steps=1, top_k=1),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    student_prompts, teacher_prompts = [], []
    student_generate, teacher_generate = student.generate, teacher.generate
    student.generate = lambda *a, **k: student_prompts.append(k["input_ids"].size(0)) or student_generate(*a, **k)
    teacher.generate = lambda *a, **k: teacher_prompts.append(k["input_ids"].size(0)) or teacher_generate(*a, **k)
    trainer.model.train()
    batch = trainer._generate_and_score_completions(rows)
    assert student_prompts == [] and teacher_prompts == [4]  # the teacher completes the four prompt-only rows
    eos = tokenizer.eos_token_id
    for i, row in enumerate(rows):
        completion = batch["completion_ids"][i][batch["completion_mask"][i] == 1].tolist()
        labels = [token for token in batch["labels"][i].tolist() if token != -100]
        if row["completion"] is None:
            prompt = tokenizer(row["prompt"], return_tensors="pt").input_ids
            greedy = teacher_generate(input_ids=prompt, do_sample=False, max_new_tokens=8, pad_token_id=0)
            greedy = greedy[0, prompt.size(1) :].tolist()
            assert labels == [] and completion == greedy[: greedy.index(eos) + 1 if eos in greedy else None]
        else:
            assert labels == completion == tokenizer(row["completion"], add_special_tokens=False).input_ids + [eos]
    assert batch["num_labels_in_batch"] == sum(
        len(tokenizer(r["completion"], add_special_tokens=False).input_ids) + 1 for r in rows[1::2]
    )

    trainer.model.eval()
    trainer._generate_and_score_completions(rows)
    assert student_prompts == [8] and teacher_prompts == [4]  # evaluation samples the student on every row
    trainer.create_model_card()
    card = (tmp_path / "README.md").read_text()
    assert "- method: distillation on the ground truth and the teacher's samples (MuDistillationTrainer)" in card

    with pytest.raises(ValueError, match="has no completions, but alpha 0.9 gives the ground-truth cross-entropy"):
        MuDistillationTrainer(
            student_factory(len(tokenizer)),
            qwen3_teacher(len(tokenizer)),
            args=distillation_config(tmp_path),
            train_dataset=qa_dataset(8).remove_columns("completion"),
            processing_class=tokenizer,
        )


@pytest.mark.parametrize("student_factory", [mu_student, t5_student], ids=["mu", "t5"])
def test_training_samples_on_policy_and_logs_both_terms(tokenizer, tmp_path, student_factory):
    student = student_factory(len(tokenizer))
    before = {k: v.clone() for k, v in student.state_dict().items()}
    trainer = tiny_trainer(tokenizer, distillation_config(tmp_path, max_steps=3), num_rows=16, model=student)
    sampled = []
    generate = trainer._generate_single_turn
    trainer._generate_single_turn = lambda *args, **kwargs: sampled.append(generate(*args, **kwargs)) or sampled[-1]
    # Both models' forwards go through the parent's redirection (which FSDP and DeepSpeed ZeRO-3 rely on).
    redirect, redirected = trainer._forward_redirection, []
    trainer._forward_redirection = lambda wrapper, original, *args, **kwargs: (
        redirected.append(original) or redirect(wrapper, original, *args, **kwargs)
    )
    trainer.train()
    assert [module is trainer.teacher_model for module in redirected] == [False, True] * 3

    assert len(sampled) == 3 and all(len(batch) == 4 for batch in sampled)
    eos = tokenizer.eos_token_id
    for completion in (c for batch in sampled for c in batch):
        # Completions are decoder tokens only: no decoder start token, nothing after the first EOS.
        assert 1 <= len(completion) <= 8
        assert eos not in completion[:-1]
    logs = [entry for entry in trainer.state.log_history if "kd_loss" in entry]
    assert len(logs) == 3
    for entry in logs:
        assert entry["kd_loss"] >= 0 and entry["ce_loss"] > 0
        assert entry["loss"] == pytest.approx(0.9 * entry["kd_loss"] + 0.1 * entry["ce_loss"], rel=1e-4)
        assert 0 < entry["entropy"] <= math.log(len(tokenizer))
    assert any(not torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())
    if isinstance(student, T5ForConditionalGeneration):
        assert trainer.generation_config.decoder_start_token_id == 0
    trainer.create_model_card()  # at every checkpoint; any seq2seq student has a card
    assert "## Architecture" in (tmp_path / "README.md").read_text()


def test_student_larger_than_the_teacher_never_samples_unshared_ids(tokenizer, tmp_path):
    vocab = len(tokenizer)
    trainer = MuDistillationTrainer(
        mu_student(vocab + 40),
        qwen3_teacher(vocab),
        args=distillation_config(tmp_path, max_completion_length=16, temperature=5.0, top_k=0),
        train_dataset=qa_dataset(8),
        processing_class=tokenizer,
    )
    assert trainer.shared_vocab_size == vocab
    # A hot, unfiltered sample from a random student would draw some of the 40 extra ids if they were allowed.
    completions = trainer._generate_single_turn([tokenizer(r["prompt"]).input_ids for r in qa_rows(8)], None, {})
    assert max(token for completion in completions for token in completion) < vocab


def test_teacher_larger_than_the_student_never_completes_with_unshared_ids(tokenizer, tmp_path):
    vocab = len(tokenizer)
    rows = [{"prompt": row["prompt"], "completion": None} for row in qa_rows(8)]
    trainer = MuDistillationTrainer(
        mu_student(vocab),
        qwen3_teacher(vocab + 40),
        args=distillation_config(tmp_path, max_completion_length=16, temperature=5.0, top_k=0, lmbda=0.0, alpha=1.0),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    assert trainer.shared_vocab_size == vocab
    trainer._on_policy, trainer._ground_truth = False, [None] * len(rows)
    completions = trainer._generate_single_turn([tokenizer(r["prompt"]).input_ids for r in rows], None, {})
    assert max(token for completion in completions for token in completion) < vocab


def _word_tokenizer(words: list[str]) -> PreTrainedTokenizerFast:
    vocab = {token: i for i, token in enumerate(["<unk>", "<s>", "</s>", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def test_vocabulary_check_names_the_differing_ids():
    student = _word_tokenizer(["alpha", "beta", "gamma", "delta"])
    assert shared_vocabulary_size(student, _word_tokenizer(["alpha", "beta", "gamma", "delta", "x"]), 7, 8) == 7

    swapped = _word_tokenizer(["alpha", "gamma", "beta", "delta"])
    with pytest.raises(ValueError, match=r"differ on 2 .*4 \(student 'beta', teacher 'gamma'\), 5 \(student 'gamma'"):
        shared_vocabulary_size(student, swapped, 7, 7)
    with pytest.raises(ValueError, match=r"6 \(student 'delta', teacher None\)"):
        shared_vocabulary_size(student, _word_tokenizer(["alpha", "beta", "gamma"]), 7, 7)
    with pytest.raises(ValueError, match="has 7 tokens but only ids below 6 are shared"):
        shared_vocabulary_size(student, student, 7, 6)
    lowercase = _word_tokenizer(["alpha", "beta", "gamma", "delta"])
    lowercase.backend_tokenizer.pre_tokenizer = pre_tokenizers.Split("a", behavior="isolated")
    with pytest.raises(ValueError, match="split 'alpha beta' differently"):
        shared_vocabulary_size(student, lowercase, 7, 7, sample_texts=["alpha beta"])
    appends_eos = _word_tokenizer(["alpha", "beta", "gamma", "delta"])
    appends_eos.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 2)]
    )
    with pytest.raises(ValueError, match="adds other special tokens than the teacher's"):
        shared_vocabulary_size(appends_eos, student, 7, 7, sample_texts=["alpha beta"])


def test_a_teacher_with_another_tokenizer_is_refused_only_when_cross_tokenizer_is_off(tokenizer, tmp_path):
    other = train_tokenizer(["completely different text about boats and rivers"] * 20, vocab_size=len(tokenizer))
    with pytest.raises(ValueError, match="teacher and student tokenizers differ on .* set `cross_tokenizer=True`"):
        tiny_trainer(tokenizer, distillation_config(tmp_path, cross_tokenizer=False), teacher_processing_class=other)
    trainer = tiny_trainer(tokenizer, distillation_config(tmp_path), teacher_processing_class=other)
    assert trainer.cross_vocabulary is not None and trainer.teacher_tokenizer is other


def test_teacher_folder_with_a_lora_adapter_is_merged(tokenizer, tmp_path):
    teacher = qwen3_teacher(len(tokenizer))
    teacher.save_pretrained(tmp_path / "teacher")
    tokenizer.save_pretrained(tmp_path / "teacher")
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "o_proj", "down_proj"], init_lora_weights=False)
    adapted = get_peft_model(qwen3_teacher(len(tokenizer)), lora)
    adapted.save_pretrained(tmp_path / "adapter")

    trainer = MuDistillationTrainer(
        mu_student(len(tokenizer)),
        str(tmp_path / "teacher"),
        args=distillation_config(tmp_path / "out", teacher_adapter_name_or_path=str(tmp_path / "adapter")),
        train_dataset=qa_dataset(4),
        processing_class=tokenizer,
    )
    merged = trainer.teacher_model
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert not any(p.requires_grad for p in merged.parameters())
    ids = torch.tensor([tokenizer(qa_rows(1)[0]["prompt"]).input_ids])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapted.eval()(ids).logits, atol=1e-5, rtol=0)
        assert not torch.allclose(merged(ids).logits, teacher(ids).logits, atol=1e-3)


def test_bad_models_and_datasets_are_refused(tokenizer, tmp_path):
    vocab = len(tokenizer)
    arguments = dict(args=distillation_config(tmp_path), processing_class=tokenizer)
    with pytest.raises(ValueError, match="student must be an encoder-decoder model"):
        MuDistillationTrainer(qwen3_teacher(vocab), qwen3_teacher(vocab), train_dataset=qa_dataset(4), **arguments)
    with pytest.raises(ValueError, match="teacher must be a decoder-only causal LM"):
        MuDistillationTrainer(mu_student(vocab), t5_student(vocab), train_dataset=qa_dataset(4), **arguments)
    rows = qa_rows(4)
    rows[2]["prompt"] = "  "

    with pytest.raises(ValueError, match="training dataset row 2 has an empty 'prompt'"):
        MuDistillationTrainer(
            mu_student(vocab), qwen3_teacher(vocab), train_dataset=Dataset.from_list(rows), **arguments
        )
    too_few = MuDistillationTrainer(
        mu_student(vocab),
        qwen3_teacher(vocab),
        args=distillation_config(tmp_path, per_device_train_batch_size=2, gradient_accumulation_steps=3),
        train_dataset=qa_dataset(5),
        processing_class=tokenizer,
    )
    with pytest.raises(ValueError, match="The training dataset has 5 rows, fewer than one batch of 6 "):
        too_few.train()
    with pytest.raises(ValueError, match="evaluation dataset has no 'prompt' column"):
        MuDistillationTrainer(
            mu_student(vocab),
            qwen3_teacher(vocab),
            train_dataset=qa_dataset(4),
            eval_dataset=qa_dataset(4).remove_columns("prompt"),
            **arguments,
        )


@pytest.mark.parametrize(
    ("alpha", "beta", "temperature", "message"),
    [(1.5, 0.0, 1.0, "alpha must be in"), (0.5, 2.0, 1.0, "beta must be in"), (0.5, 0.0, 0.0, "temperature must")],
)
def test_config_refuses_out_of_range_values(tmp_path, alpha, beta, temperature, message):
    with pytest.raises(ValueError, match=message):
        distillation_config(tmp_path, alpha=alpha, beta=beta, temperature=temperature)
    with pytest.raises(ValueError, match="divergence_temperature must be positive, got -1.0"):
        distillation_config(tmp_path, divergence_temperature=-1.0)
    with pytest.raises(ValueError, match="max_completion_length must be a positive length, got None"):
        distillation_config(tmp_path, max_completion_length=None)


def test_ground_truth_is_cut_to_the_completion_length_and_ends_with_eos_only_when_it_fits(tokenizer, tmp_path):
    trainer = tiny_trainer(tokenizer, distillation_config(tmp_path, max_completion_length=3))
    rows = [{"prompt": "Where?", "completion": "Lumen Ostrava Pellin Quorra"}, {"prompt": "Who?", "completion": ""}]
    labels = trainer._generate_and_score_completions(rows)["labels"].tolist()
    long_answer = tokenizer(rows[0]["completion"], add_special_tokens=False).input_ids
    assert len(long_answer) > 3 and labels[0] == long_answer[:3]
    assert labels[1] == [tokenizer.eos_token_id, -100, -100]


def test_student_start_tokens_must_agree_and_streams_are_refused(tokenizer, tmp_path):
    student = mu_student(len(tokenizer))
    student.generation_config.decoder_start_token_id = 2
    arguments = dict(args=distillation_config(tmp_path), processing_class=tokenizer)
    with pytest.raises(ValueError, match="starts the decoder with id 1 but its generation config with 2"):
        MuDistillationTrainer(student, qwen3_teacher(len(tokenizer)), train_dataset=qa_dataset(4), **arguments)
    stream = qa_dataset(4).to_iterable_dataset()
    teacher = qwen3_teacher(len(tokenizer))
    with pytest.raises(ValueError, match="Streaming \\(iterable\\) datasets are not supported"):
        MuDistillationTrainer(mu_student(len(tokenizer)), teacher, train_dataset=stream, **arguments)


def test_evaluation_reports_both_terms(tokenizer, tmp_path):
    trainer = tiny_trainer(
        tokenizer,
        distillation_config(tmp_path, per_device_eval_batch_size=4),
        num_rows=8,
        eval_dataset=qa_dataset(8, seed=1),
    )
    metrics = trainer.evaluate()
    assert metrics["eval_kd_loss"] >= 0 and metrics["eval_ce_loss"] > 0
    assert metrics["eval_loss"] == pytest.approx(
        0.9 * metrics["eval_kd_loss"] + 0.1 * metrics["eval_ce_loss"], rel=1e-4
    )


def test_model_card_names_a_hub_teacher_as_base_model(tokenizer, tmp_path):
    teacher = qwen3_teacher(len(tokenizer))
    teacher.config.name_or_path = "org/teacher"
    trainer = tiny_trainer(tokenizer, distillation_config(tmp_path, beta=0.5), teacher_model=teacher)
    trainer.create_model_card(dataset_name="qa.jsonl")
    card = (tmp_path / "README.md").read_text()
    assert "base_model: org/teacher" in card and "- teacher: org/teacher" in card
    assert "0.9 x generalized JSD (beta 0.5, temperature 0.9) + 0.1 x cross-entropy" in card
    hinton = tiny_trainer(
        tokenizer, distillation_config(tmp_path, beta=0.5, divergence_temperature=2.0), teacher_model=teacher
    )
    hinton.create_model_card(dataset_name="qa.jsonl")
    card = (tmp_path / "README.md").read_text()
    assert "0.9 x 4 x generalized JSD (beta 0.5, temperature 2.0) + 0.1 x cross-entropy" in card


def test_epoch_seeded_sampler_orders_each_epoch_by_seed_and_epoch_alone():
    def sampler() -> EpochSeededSampler:
        return EpochSeededSampler(RepeatSampler(range(24), mini_repeat_count=1, batch_size=4, seed=7))

    uninterrupted, orders = sampler(), []
    for epoch in range(3):
        uninterrupted.set_epoch(epoch)
        orders.append(list(uninterrupted))
    assert all(sorted(order) == list(range(24)) for order in orders)
    assert orders[0] != orders[1] and orders[1] != orders[2] and orders[0] != orders[2]
    assert orders[0] == list(RepeatSampler(range(24), mini_repeat_count=1, batch_size=4, seed=7))
    resumed = sampler()
    resumed.set_epoch(1)
    assert list(resumed) == list(resumed) == orders[1]  # TRL's sampler alone would give orders[0] here


def test_a_resumed_epoch_skips_exactly_the_consumed_batches(tokenizer, tmp_path):
    def batches(dataloader) -> list[list[str]]:
        return [[row["prompt"] for row in batch] for batch in dataloader]

    def train_dataloader():
        return tiny_trainer(tokenizer, distillation_config(tmp_path, seed=7), num_rows=24).get_train_dataloader()

    uninterrupted, epochs = train_dataloader(), []
    for epoch in range(3):  # as `Trainer` does before each epoch
        uninterrupted.set_epoch(epoch)
        epochs.append(batches(uninterrupted))
    assert len({tuple(map(tuple, epoch)) for epoch in epochs}) == 3
    # A fresh process resumed 2 steps into epoch 2, as `Trainer` resumes it
    resumed = skip_first_batches(train_dataloader(), 2)
    resumed.set_epoch(2)
    assert batches(resumed) == epochs[2][2:]
