"""The card's figure: document length per source (words, log2 bins), a deterministic PNG."""

from __future__ import annotations

from pathlib import Path

from medc.files.atomic import temporary_name
from medc.release.manifest import Manifest

FIGURE_NAME = "length_distribution.png"


def write_figure(manifest: Manifest, path: Path) -> bool:
    """Write the figure; False (nothing written) when no source has rows."""
    import matplotlib  # matplotlib takes a second to import: only when a repo is written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {name: s.length_histogram for name, s in manifest.sources.items() if s.built and s.length_histogram.counts}
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    for name, h in series.items():
        edges = [max(e, 1) for e in h.edges]
        ax.stairs(h.counts, edges, label=f"{name} ({sum(h.counts):,})", linewidth=1.5)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")  # sources differ by orders of magnitude: the small ones show too
    ax.set_xlabel("document length (words)" if manifest.kind == "knowledge" else "response length (words, the `output` field)")
    ax.set_ylabel("rows per length bin")
    ax.set_title(f"{manifest.dataset}: rows per source by length (both axes logarithmic)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = temporary_name(path)
    try:
        fig.savefig(tmp, format="png", metadata={"Software": None})
        tmp.replace(path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return True
