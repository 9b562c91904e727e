# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Training-curve plots from a `Trainer`'s log history."""

from pathlib import Path


def plot_loss_curves(
    log_history: list[dict], path: str | Path, keys: tuple[str, ...] = ("loss",), title: str = ""
) -> Path:
    """Draws each logged `key` against the optimizer step into a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
        points = [(entry["step"], entry[key]) for entry in log_history if key in entry]
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
