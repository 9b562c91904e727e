# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Training-curve plots from a `Trainer`'s log history."""

from pathlib import Path

from transformers import TrainerCallback, TrainerControl, TrainerState


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


class LossCurvesCallback(TrainerCallback):
    """Redraws `loss_curves.png` in the output folder at every checkpoint and at the end of training, so the curves
    of a run that is stopped early are on disk too."""

    def __init__(self, keys: tuple[str, ...] = ("loss", "eval_loss"), title: str = ""):
        self.keys = keys
        self.title = title

    def _draw(self, args, state: TrainerState) -> None:
        if state.is_world_process_zero:
            plot_loss_curves(state.log_history, Path(args.output_dir) / "loss_curves.png", self.keys, self.title)

    def on_save(self, args, state: TrainerState, control: TrainerControl, **kwargs):
        self._draw(args, state)

    def on_train_end(self, args, state: TrainerState, control: TrainerControl, **kwargs):
        self._draw(args, state)
