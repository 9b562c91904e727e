# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The generation benchmark's report: the targets as ratios from one run, a markdown table and a figure."""

import json
from collections.abc import Callable
from pathlib import Path

REFERENCE_LENGTH = 1024


def save_results(
    results: dict, stem: Path, write_markdown: Callable[[dict, Path], None], write_plot: Callable[[dict, Path], None]
) -> list[str]:
    """Writes a benchmark's results as `<stem>.json`, `.md` and `.png` (its own table and plot writers); returns the
    three paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results, stem.with_suffix(".md"))
    write_plot(results, stem.with_suffix(".png"))
    return [str(stem.with_suffix(suffix)) for suffix in (".json", ".md", ".png")]


def _row(results: dict, contender: str, length: int, new_tokens: int, batch_size: int = 1) -> dict | None:
    for entry in results["contenders"]:
        if entry["name"] == contender:
            for row in entry["rows"]:
                if (row["batch_size"], row["input_length"], row["new_tokens"]) == (batch_size, length, new_tokens):
                    return row
    return None


def _contender(results: dict, name: str) -> dict | None:
    return next((entry for entry in results["contenders"] if entry["name"] == name), None)


def _target(name: str, value: float, threshold: float, at_least: bool) -> dict:
    met = value >= threshold if at_least else value <= threshold
    return {"target": name, "value": value, "threshold": f"{'>=' if at_least else '<='} {threshold}", "met": met}


def summarize_targets(results: dict) -> list[dict]:
    """The issue's targets at batch 1, as ratios of rows from this run (a target whose rows are missing is left
    out). The reference input length is 1024 if measured, else the longest measured length below it."""
    settings = results["settings"]
    lengths = sorted(settings["input_lengths"])
    length = max([n for n in lengths if n <= REFERENCE_LENGTH], default=lengths[0])
    new_tokens = settings["new_tokens"]
    mu = _row(results, "mu", length, new_tokens)
    targets = []
    if mu is None:
        return targets

    no_cache = _row(results, "mu-no-cache", length, new_tokens)
    if no_cache:
        speedup = no_cache["end_to_end_s"] / mu["end_to_end_s"]
        targets.append(_target(f"end-to-end speed-up over use_cache=False, {length}/{new_tokens}", speedup, 2.5, True))
    for extra in settings["extra_cases"]:
        name, extra_length, extra_tokens = extra.split(":")
        if name != "mu":
            continue
        mu_long = _row(results, "mu", int(extra_length), int(extra_tokens))
        no_cache_long = _row(results, "mu-no-cache", int(extra_length), int(extra_tokens))
        if mu_long and no_cache_long:
            speedup = no_cache_long["end_to_end_s"] / mu_long["end_to_end_s"]
            targets.append(
                _target(f"end-to-end speed-up over use_cache=False, {extra_length}/{extra_tokens}", speedup, 5.0, True)
            )

    twin = _row(results, "mu-decoder-only", length, new_tokens)
    if twin:
        targets.append(
            _target(
                "first-token latency / decoder-only twin", mu["first_token_s"] / twin["first_token_s"], 0.70, False
            )
        )
        targets.append(
            _target(
                "decode tokens/s / decoder-only twin",
                mu["decode_tokens_per_s"] / twin["decode_tokens_per_s"],
                2.0,
                True,
            )
        )
        longest = lengths[-1]
        mu_longest, twin_longest = (
            _row(results, "mu", longest, new_tokens),
            _row(results, "mu-decoder-only", longest, new_tokens),
        )
        if mu_longest and twin_longest:
            targets.append(
                _target(
                    f"peak memory / decoder-only twin at {longest} input",
                    mu_longest["peak_memory_mb"] / twin_longest["peak_memory_mb"],
                    1.0,
                    False,
                )
            )

    roof = results["roof"]
    prefill_fraction = mu["prefill_flops"] / mu["first_token_s"] / roof["gemm_flops_per_s"]
    targets.append(_target(f"prefill FLOP/s / GEMM roof at {length}", prefill_fraction, 0.75, True))
    streaming_s = _contender(results, "mu")["decode_step_weight_bytes"] / roof["weight_streaming_bytes_per_s"]
    step_s = 1.0 / mu["decode_tokens_per_s"]
    targets.append(_target("decode step / weight-streaming time", step_s / streaming_s, 1.3, False))

    t5 = _row(results, "t5", length, new_tokens)
    if t5:
        targets.append(
            _target("decode tokens/s / T5", mu["decode_tokens_per_s"] / t5["decode_tokens_per_s"], 1.25, True)
        )
    return targets


def write_markdown(results: dict, path: Path) -> None:
    roof = results["roof"]
    lines = [
        f"### Generation benchmark: {results['device']}, {results['date']}",
        "",
        f"{results['settings']['dtype']}, {results['threads']} threads, greedy, random weights and prompts; "
        f"medians of up to {results['settings']['repeats']} runs after a warm-up. "
        f"Roof: GEMM {roof['gemm_flops_per_s'] / 1e9:.0f} GFLOP/s, "
        f"weight streaming {roof['weight_streaming_bytes_per_s'] / 1e9:.1f} GB/s.",
        "",
        "| model | params | batch | input | new | first token (ms) | decode (tok/s) | end-to-end (s) "
        "| peak memory (MB) | prefill GFLOP |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in results["contenders"]:
        for row in entry["rows"]:
            lines.append(
                f"| {entry['name']} | {entry['parameters'] / 1e6:.1f}M | {row['batch_size']} | {row['input_length']} "
                f"| {row['new_tokens']} | {row['first_token_s'] * 1e3:.1f} | {row['decode_tokens_per_s']:.1f} "
                f"| {row['end_to_end_s']:.2f} | {row['peak_memory_mb']:.0f} | {row['prefill_flops'] / 1e9:.1f} |"
            )
    if results["targets"]:
        lines += ["", "| target | value | threshold | met |", "|---|---:|---|---|"]
        for target in results["targets"]:
            met = "yes" if target["met"] else "**no**"
            lines.append(f"| {target['target']} | {target['value']:.2f} | {target['threshold']} | {met} |")
    path.write_text("\n".join(lines) + "\n")


def write_plot(results: dict, path: Path) -> None:
    """First-token latency, decode throughput, end-to-end time and peak memory against the input length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("first_token_s", "first-token latency (s)"),
        ("decode_tokens_per_s", "decode throughput (tokens/s)"),
        ("end_to_end_s", "end-to-end time (s)"),
        ("peak_memory_mb", "peak memory (MB)"),
    ]
    new_tokens = results["settings"]["new_tokens"]
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    for axis, (key, label) in zip(axes.flat, panels):
        for entry in results["contenders"]:
            for batch_size in sorted({row["batch_size"] for row in entry["rows"]}):
                rows = [r for r in entry["rows"] if r["batch_size"] == batch_size and r["new_tokens"] == new_tokens]
                suffix = f" (batch {batch_size})" if batch_size > 1 else ""
                axis.plot(
                    [r["input_length"] for r in rows],
                    [r[key] for r in rows],
                    marker="o",
                    linestyle="-" if batch_size == 1 else "--",
                    label=entry["name"] + suffix,
                )
        axis.set_xscale("log", base=2)
        if key != "decode_tokens_per_s":
            axis.set_yscale("log")
        axis.set_xlabel("input tokens")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    figure.suptitle(f"Generation of {new_tokens} tokens: {results['device']}, {results['settings']['dtype']}")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
