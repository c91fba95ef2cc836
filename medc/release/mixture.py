"""The recipe's declared mixture against what was built (manifest `mixture`)."""

from __future__ import annotations

from medc.recipes.mixture import Mixture
from medc.release.manifest import GroupShare, MixtureReport, SourceEntry


def source_size(s: SourceEntry, unit: str) -> float:
    """A source's size in the mixture's unit, counting each row by its weight when a `weight`
    step set one (tokens scaled by the source's weighted share of words)."""
    size = float(getattr(s, unit) or 0)
    if s.weighted_words is not None and s.words:
        size *= s.weighted_words / s.words
    return size


def mixture_report(mix: Mixture | None, sources: dict[str, SourceEntry]) -> MixtureReport | None:
    """Per group its declared share, documents, words and tokens; the share renormalised over
    the groups that have rows; and each source's sampling weight (its group's share split by
    the source's size in the mixture's unit), which the training loader uses."""
    if mix is None:
        return None
    total_weight = sum(mix.weights.values())
    groups: dict[str, GroupShare] = {}
    for group, members in mix.groups.items():
        built = [sources[n] for n in members if n in sources and sources[n].built and sources[n].rows]
        tokens = [s.tokens for s in built]
        groups[group] = GroupShare(
            weight=mix.weights[group],
            declared_share=round(mix.weights[group] / total_weight, 6),
            sources=list(members),
            documents=sum(s.rows for s in built),
            words=sum(s.words for s in built),
            tokens=sum(t for t in tokens if t is not None) if tokens and None not in tokens else None,
        )
    present = {g: v for g, v in groups.items() if v.documents and v.weight > 0}
    present_weight = sum(v.weight for v in present.values())
    source_weights: dict[str, float] = {}
    for group, v in groups.items():
        v.effective_share = round(v.weight / present_weight, 6) if group in present else 0.0
        if group not in present:
            continue
        sizes = {n: source_size(sources[n], mix.unit) for n in v.sources if n in sources and sources[n].built and sources[n].rows}
        size_total = sum(sizes.values()) or 1
        for n, size in sizes.items():
            source_weights[n] = round(v.effective_share * size / size_total, 6)
    return MixtureReport(mix.unit, groups, sorted(g for g in groups if g not in present), source_weights)
