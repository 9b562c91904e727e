# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Distillation quality over seeds: held-out exact match of the demo's student per recipe.

Distillation quality benchmark: held-out exact match of the `mu demo` student trained on the labels only and
with distillation recipes, over several seeds, at equal steps, each seed with its own data, tokenizer and teacher.
Writes JSON, a markdown table (mean, min and max over seeds, wall-clock) and a PNG of exact match over the steps.

    python benchmarks/distillation_quality.py [--seeds 0 1 2] [--recipes labels paper ...] [--student-steps 200]
    python benchmarks/distillation_quality.py --merge seed0.json seed1.json ...  # runs of one seed per process
"""

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from mu.commands.demo import add_settings_arguments, settings_from_arguments
from mu.demo import DemoSettings
from mu.demo import run as demo
from mu.modeling_mu import MuForConditionalGeneration
from mu.synthetic_data.qa import make_synthetic_qa, prompt_completion_rows
from mu.synthetic_data.tokenizer import train_tokenizer
from mu.trainers.distillation_config import PAPER_RECIPE, MuDistillationConfig

# name -> MuDistillationConfig fields (None: cross-entropy on the labels only, the demo's baseline)
OBJECTIVE = ("alpha", "beta", "lmbda", "temperature")  # the schedule (learning rate included) is the demo's
RECIPES = {
    "labels": None,
    "default": {name: MuDistillationConfig.__dataclass_fields__[name].default for name in OBJECTIVE},
    "paper": {name: PAPER_RECIPE[name] for name in OBJECTIVE},
    "on-policy": {"alpha": 1.0, "beta": 0.0, "lmbda": 1.0, "temperature": 1.0},  # the student's samples only
    "gold-kd": {"alpha": 0.5, "beta": 0.0, "lmbda": 0.0},  # the divergence on the ground truth
    "gold-kd-0.9": {"alpha": 0.9, "beta": 0.0, "lmbda": 0.0},
    "gold-kd-0.9-t1": {"alpha": 0.9, "beta": 0.0, "lmbda": 0.0, "temperature": 1.0},
    # Hinton's soft targets: the divergence at temperature 2, times 4
    "gold-kd-hinton-t2": {"alpha": 0.5, "beta": 0.0, "lmbda": 0.0, "divergence_temperature": 2.0},
    "mixed": {"alpha": 0.5, "beta": 0.0, "lmbda": 0.5},
    "labels-in-trainer": {"alpha": 0.0, "lmbda": 0.0},  # control: the distillation trainer without its divergence
    # the default objective from a teacher with a tokenizer of its own (see CROSS_TOKENIZER_VOCAB_SIZE)
    "cross-tokenizer": {
        **{name: MuDistillationConfig.__dataclass_fields__[name].default for name in OBJECTIVE},
        "cross_tokenizer": True,
    },
}
# The cross-tokenizer teacher's byte-level BPE: trained on another draw of the synthetic prompts (this seed offset) to
# another size, so that its merges and ids differ from the student's; the vocabularies share the bytes and the
# common words, and about half of the answers' tokens align one to one (a larger teacher vocabulary aligns them all).
CROSS_TOKENIZER_VOCAB_SIZE = 500
CROSS_TOKENIZER_SEED_OFFSET = 1000


class ExactMatchCurve(TrainerCallback):
    """Held-out exact match every `every` steps (and at the end), in `points` as `(step, exact_match)`."""

    def __init__(self, tokenizer, eval_prompts: list[dict], eval_rows: list[dict], every: int):
        self.tokenizer, self.eval_prompts, self.eval_rows, self.every = tokenizer, eval_prompts, eval_rows, every
        self.points: list[tuple[int, float]] = []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            model.eval()
            answers = demo.answer_questions(model, self.tokenizer, self.eval_prompts)
            model.train()
            self.points.append((state.global_step, demo.score(answers, self.eval_rows)["exact_match"]))


def run_seed(settings: DemoSettings, recipes: list[str], every: int) -> dict:
    """Each recipe from the same initial student, on the demo's rows: labels-only training on the labeled rows,
    distillation on those and the prompt-only rest."""
    train_rows = make_synthetic_qa(settings.train_examples, seed=settings.seed)
    eval_rows = make_synthetic_qa(settings.eval_examples, seed=settings.seed + 1)
    train_prompts, eval_prompts = prompt_completion_rows(train_rows), prompt_completion_rows(eval_rows)
    tokenizer = train_tokenizer([row["prompt"] for row in train_prompts], vocab_size=settings.vocab_size)
    output_dir = Path(settings.output_dir)
    result = {}
    if set(recipes) - {"labels", "cross-tokenizer"}:  # the teacher that shares the student's tokenizer
        teacher = demo.train_teacher(settings, tokenizer, train_prompts, output_dir)
        result["teacher"] = demo.score(demo.answer_questions(teacher, tokenizer, eval_prompts), eval_rows)
    torch.manual_seed(settings.seed)
    initial_student = MuForConditionalGeneration(demo.small_mu_config(tokenizer))
    labeled_rows, distillation_rows = demo.student_rows(settings, train_prompts)
    if "cross-tokenizer" in recipes:
        other_rows = make_synthetic_qa(settings.train_examples, seed=settings.seed + CROSS_TOKENIZER_SEED_OFFSET)
        other_prompts = [row["prompt"] for row in prompt_completion_rows(other_rows)]
        teacher_tokenizer = train_tokenizer(other_prompts, CROSS_TOKENIZER_VOCAB_SIZE)
        cross_teacher = demo.train_teacher(settings, teacher_tokenizer, train_prompts, output_dir / "cross")
        answers = demo.answer_questions(cross_teacher, teacher_tokenizer, eval_prompts)
        result["cross-tokenizer teacher"] = demo.score(answers, eval_rows)
    for name in recipes:
        rows = labeled_rows if RECIPES[name] is None else distillation_rows
        student = copy.deepcopy(initial_student)
        curve = ExactMatchCurve(tokenizer, eval_prompts, eval_rows, every)
        start = time.perf_counter()
        if RECIPES[name] is None:
            demo.train_student_on_labels(settings, student, tokenizer, rows, output_dir / name, [curve])
        elif name == "cross-tokenizer":
            trainer = demo.distill_student(
                settings, student, cross_teacher, tokenizer, rows, output_dir / name, RECIPES[name], [curve],
                teacher_tokenizer=teacher_tokenizer,
            )  # fmt: skip
            rates = [entry["alignment_rate"] for entry in trainer.state.log_history if "alignment_rate" in entry]
            alignment_rate = statistics.mean(rates)
        else:
            recipe = RECIPES[name]
            demo.distill_student(settings, student, teacher, tokenizer, rows, output_dir / name, recipe, [curve])
        result[name] = {
            "exact_match": curve.points[-1][1],
            "curve": curve.points,
            "seconds": time.perf_counter() - start,
            "labeled_rows": sum(row["completion"] is not None for row in rows),
            "prompt_only_rows": sum(row["completion"] is None for row in rows),
        }
        if name == "cross-tokenizer":
            result[name]["alignment_rate"] = alignment_rate
        print(f"seed {settings.seed} {name}: exact match {curve.points[-1][1]:.1f}", flush=True)
    return result


def summarize(runs: list[dict], recipes: list[str]) -> dict:
    summary = {}
    teachers = [name for name in ("teacher", "cross-tokenizer teacher") if name in runs[0]]
    for name in [*teachers, *recipes]:
        scores = [run[name]["exact_match"] for run in runs]
        summary[name] = {"mean": statistics.mean(scores), "min": min(scores), "max": max(scores), "seeds": scores}
        if name == "cross-tokenizer":
            rates = [run[name]["alignment_rate"] for run in runs]
            summary[name]["alignment_rate"] = {"mean": statistics.mean(rates), "seeds": rates}
        if name not in teachers:
            summary[name]["seconds"] = statistics.mean(run[name]["seconds"] for run in runs)
            if name != "labels" and "labels" in recipes:
                gains = [run[name]["exact_match"] - run["labels"]["exact_match"] for run in runs]
                summary[name]["gain_over_labels"] = {"mean": statistics.mean(gains), "min": min(gains)}
    return summary


def write_markdown(results: dict, path: Path) -> None:
    settings = results["settings"]
    data = (
        f" The students have the answers of {settings['labeled_examples']} of the {settings['train_examples']} "
        "training questions (distillation reads the other prompts too); the teacher is fine-tuned on all."
    )
    lines = [
        f"Held-out exact match on the demo's synthetic QA ({settings['eval_examples']} questions), "
        f"{settings['student_steps']} student steps, teacher {settings['teacher_steps']} steps, seeds "
        f"{results['seeds']}.{data}",
        "",
        "| recipe | settings | exact match, mean | min – max | gain over labels (mean, worst seed) | time |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, row in results["summary"].items():
        gain = row.get("gain_over_labels")
        gain_text = f"{gain['mean']:+.1f} / {gain['min']:+.1f}" if gain else ""
        seconds = f"{row['seconds']:.0f} s" if "seconds" in row else ""
        recipe = RECIPES.get(name)
        settings = ", ".join(f"{key} {value}" for key, value in recipe.items()) if recipe else ""
        spread = f"{row['min']:.1f} – {row['max']:.1f}"
        lines.append(f"| {name} | {settings} | {row['mean']:.1f} | {spread} | {gain_text} | {seconds} |")
    if "cross-tokenizer" in results["summary"]:
        rates = results["summary"]["cross-tokenizer"]["alignment_rate"]["seeds"]
        teacher = results["cross_tokenizer_teacher"]
        lines += [
            "",
            f"cross-tokenizer: the teacher has a byte-level BPE of {teacher['vocab_size']} tokens trained on "
            f"{teacher['trained_on']} (the student's: {results['settings']['vocab_size']}); student completion tokens "
            f"aligned one to one with a teacher token: {', '.join(f'{rate:.1%}' for rate in rates)} (per seed, mean "
            "over the logged steps).",
        ]
    path.write_text("\n".join(lines) + "\n")


def write_plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name in results["recipes"]:
        curves = [dict(run[name]["curve"]) for run in results["runs"]]
        steps = sorted(set.intersection(*(set(curve) for curve in curves)))
        mean = [statistics.mean(curve[step] for curve in curves) for step in steps]
        axis.plot(steps, mean, marker="o", label=name)
        axis.fill_between(
            steps, [min(c[s] for c in curves) for s in steps], [max(c[s] for c in curves) for s in steps], alpha=0.15
        )
    for name, style in (("teacher", "--"), ("cross-tokenizer teacher", ":")):
        if name in results["summary"]:
            teacher = results["summary"][name]["mean"]
            axis.axhline(teacher, color="grey", linestyle=style, label=f"{name} ({teacher:.1f})")
    axis.set(xlabel="student training step", ylabel="held-out exact match", title="Distillation vs labels only")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    add_settings_arguments(parser)
    parser.add_argument("--eval-every", type=int, default=50, help="steps between two held-out evaluations")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument(
        "--merge", nargs="+", metavar="JSON", help="combine the results of runs with the same settings and recipes"
    )
    args = parser.parse_args(argv)
    if args.merge:
        return merge([json.loads(Path(path).read_text()) for path in args.merge], Path(args.output_dir))
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = []
    for seed in args.seeds:
        output_dir = tempfile.mkdtemp(prefix=f"distillation-quality-seed{seed}-")
        settings = settings_from_arguments(args, seed=seed, output_dir=output_dir)
        runs.append(run_seed(settings, args.recipes, args.eval_every))
    results = {
        "settings": {**vars(settings), "seed": None, "output_dir": None},
        "seeds": args.seeds,
        "recipes": args.recipes,
        "threads": torch.get_num_threads(),
        "runs": runs,
        "summary": summarize(runs, args.recipes),
    }
    if "cross-tokenizer" in args.recipes:
        results["cross_tokenizer_teacher"] = {
            "vocab_size": CROSS_TOKENIZER_VOCAB_SIZE,
            "trained_on": f"the prompts of synthetic data seed + {CROSS_TOKENIZER_SEED_OFFSET}",
        }
    return write_results(results, Path(args.output_dir))


def merge(parts: list[dict], output_dir: Path) -> int:
    first = parts[0]
    for part in parts[1:]:
        if (part["settings"], part["recipes"]) != (first["settings"], first["recipes"]):
            raise SystemExit("distillation_quality.py: --merge needs results with the same settings and recipes.")
    runs = [run for part in parts for run in part["runs"]]
    results = {
        **first,
        "seeds": [seed for part in parts for seed in part["seeds"]],
        "runs": runs,
        "summary": summarize(runs, first["recipes"]),
    }
    return write_results(results, output_dir)


def write_results(results: dict, output_dir: Path) -> int:
    settings = results["settings"]
    stem = output_dir / (
        f"distillation-quality-t{settings['teacher_steps']}-s{settings['student_steps']}"
        f"-labeled{settings['labeled_examples']}"
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results, Path(f"{stem}.md"))
    write_plot(results, Path(f"{stem}.png"))
    print(Path(f"{stem}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
