"""PNG pictures of a run: rows visible over time for each consumer (matplotlib, headless Agg).

matplotlib is in sinkapp's ``dev`` extras; without it the benchmarks print a note and skip the
picture (the figures and JSON do not need it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .results import Result


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _colors(names: list[str]) -> dict[str, Any]:
    import matplotlib
    cmap = matplotlib.colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(dict.fromkeys(names))}


def plot_bulk(results: list[Result], path: Path, title: str) -> Path | None:
    """One line per run with an emulator timeline: rows visible against seconds since its Popen."""
    plt = _pyplot()
    if plt is None:
        print("(no picture: matplotlib is not installed; pip install -e '.[dev]')")
        return None
    runs = [r for r in results if r.ok and r.extra.get("timeline")]
    colors = _colors([r.consumer for r in runs])
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    seen: set[str] = set()
    for r in runs:
        pts = [[0.0, 0]] + r.extra["timeline"]
        label = r.consumer if r.consumer not in seen else None
        seen.add(r.consumer)
        ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", color=colors[r.consumer],
                alpha=0.9 if r.round <= 1 else 0.45, label=label)
    ax.set_xlabel("seconds since the consumer process started")
    ax.set_ylabel("rows visible in test.test123")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_steady(runs: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """Top: rows visible over time; bottom: every load as a dot (its time, its rows). Time is
    seconds since the run's measured window opened, so every run's window is the shaded ``[0,
    window_s]`` and its start-up and warm-up lie left of 0. ``runs``: SteadyResult dicts
    (``timeline``, ``load_points``, ``start_s``, ``window_s``; times relative to the window)."""
    plt = _pyplot()
    if plt is None:
        print("(no picture: matplotlib is not installed; pip install -e '.[dev]')")
        return None
    runs = [r for r in runs if r["ok"] and r["timeline"]]
    colors = _colors([r["consumer"] for r in runs])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7.5), dpi=110, sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    seen: set[str] = set()
    for r in runs:
        name, color = r["consumer"], colors[r["consumer"]]
        label = name if name not in seen else None
        seen.add(name)
        pts = [[r["start_s"], 0]] + r["timeline"]
        top.step([p[0] for p in pts], [p[1] for p in pts], where="post", color=color, label=label, lw=1.2)
        lp, st = r["load_points"], r["stats"]
        bottom.plot([p[0] for p in lp], [p[1] for p in lp], ".", color=color, ms=4,
                    label=f"{st['loads_per_s']:.2f} loads/s, {st['rows_per_load']:,.0f} rows/load" if label else None)
    if runs:
        for ax in (top, bottom):
            ax.axvspan(0, max(r["window_s"] for r in runs), color="0.85", alpha=0.5, lw=0)
    top.set_ylabel("rows visible in test.test123")
    top.set_title(title, fontsize=10)
    top.legend(fontsize=8, loc="upper left")
    top.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    bottom.set_ylabel("rows per load (one dot per load)")
    bottom.set_yscale("log")
    bottom.legend(fontsize=8, loc="lower left", title="in the window", title_fontsize=8)
    bottom.set_xlabel("seconds since the measured window opened (shaded: the window; before 0: start-up and warm-up)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
