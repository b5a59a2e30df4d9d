"""A picture of distribution fidelity: the population's predicted against real behaviour.

One PNG with a grouped bar chart per distribution of :class:`DistributionFidelity` (action
types, click types when a real click has one, session length bins, purchase rate), each panel
titled with its Jensen-Shannon divergence and total variation, the numbers the report's tables
give. matplotlib is imported when drawing only, so ``import webserv`` stays fast; the figure
is drawn on a bare Agg canvas (no pyplot, no display, no global figure state) and saved without
the ``Software`` tag, so the same report writes the same bytes on any matplotlib version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from webserv.behaviour.distribution import LENGTH_BIN_LABELS
from webserv.behaviour.metrics import CLICK_TYPES, NONE, UNKNOWN
from webserv.behaviour.rewards import ACTION_TYPES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from webserv.behaviour.distribution import Comparison, DistributionFidelity
    from webserv.behaviour.metrics import BehaviourReport

REAL_COLOUR = "#4c72b0"
PREDICTED_COLOUR = "#dd8452"
#: Inches per panel; two panels a row.
PANEL_SIZE = (6.4, 4.2)
DPI = 100


@dataclass(frozen=True)
class Panel:
    """One bar chart: shares of each outcome, real against predicted, and how far apart."""

    title: str
    labels: list[str]
    real: list[float]
    predicted: list[float]
    js: float | None
    tv: float | None


def _ordered(c: Comparison, order: tuple[str, ...], span: bool = False) -> list[str]:
    """The outcomes of ``c`` in ``order`` (others after, sorted); with ``span``, every label of
    ``order`` from the first outcome seen to the last, so empty bins between them show."""
    seen = c.real.keys() | c.predicted.keys()
    known = [k for k in order if k in seen]
    if span and known:
        known = list(order[order.index(known[0]) : order.index(known[-1]) + 1])
    return known + sorted(seen - set(order))


def _panel(title: str, c: Comparison, labels: list[str], counts: str = "") -> Panel:
    return Panel(
        title=f"{title} ({counts or f'real {c.n_real}, predicted {c.n_predicted}'})",
        labels=labels,
        real=[c.real.get(k, 0.0) for k in labels],
        predicted=[c.predicted.get(k, 0.0) for k in labels],
        js=c.js_divergence,
        tv=c.total_variation,
    )


def panels(population: DistributionFidelity) -> list[Panel]:
    """The panels to draw for ``population``, in reading order."""
    actions = population.action_types
    drawn = [_panel("action types per step", actions, _ordered(actions, (*ACTION_TYPES, NONE)))]
    if (clicks := population.click_types) is not None:
        order = (*CLICK_TYPES, UNKNOWN)
        drawn.append(_panel("click types per click", clicks, _ordered(clicks, order)))
    length = population.session_length
    means = f"mean real {length.real_mean:.1f}, predicted {length.predicted_mean:.1f}"
    labels = _ordered(length.bins, LENGTH_BIN_LABELS, span=True)
    drawn.append(_panel("session length in steps", length.bins, labels, means))
    if (purchase := population.purchase) is not None:
        drawn.append(
            Panel(
                title=f"sessions with a purchase ({purchase.sessions} judged)",
                labels=["purchase", "no purchase"],
                real=[purchase.real_rate, 1 - purchase.real_rate],
                predicted=[purchase.predicted_rate, 1 - purchase.predicted_rate],
                js=purchase.js_divergence,
                tv=purchase.total_variation,
            )
        )
    return drawn


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _draw(ax: Axes, panel: Panel) -> None:
    positions = list(range(len(panel.labels)))
    width = 0.4
    for offset, shares, colour, label in (
        (-width / 2, panel.real, REAL_COLOUR, "real"),
        (width / 2, panel.predicted, PREDICTED_COLOUR, "predicted"),
    ):
        percent = [100 * s for s in shares]
        bars = ax.bar([p + offset for p in positions], percent, width, color=colour, label=label)
        ax.bar_label(bars, labels=[f"{v:.0f}" if v else "" for v in percent], fontsize=7)
    ax.set_title(f"{panel.title}\nJSD {_number(panel.js)}   TV {_number(panel.tv)}", fontsize=10)
    ax.set_xticks(positions, panel.labels)
    crowded = len(panel.labels) > 6 or sum(map(len, panel.labels)) > 48
    ax.tick_params(axis="x", labelsize=8, labelrotation=30 if crowded else 0)
    if crowded:
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    # with one or two outcomes, bars as wide as in a panel of three
    pad = max(0.0, (3 - len(positions)) / 2)
    ax.set_xlim(-0.6 - pad, len(positions) - 0.4 + pad)
    ax.set_ylabel("share (%)")
    top = max([*panel.real, *panel.predicted, 0.01]) * 100
    ax.set_ylim(0, min(100, top) * 1.15)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def plot_distributions(report: BehaviourReport, path: Path) -> Path:
    """Draw the population's predicted against real distributions of ``report`` into a PNG.

    Args:
        report: A behaviour report (``webserv behaviour score`` or ``eval``).
        path: The PNG to write; its directory is created if missing.

    Returns:
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    population = report.distribution.population
    drawn = panels(population)
    rows = (len(drawn) + 1) // 2
    figure = Figure(figsize=(2 * PANEL_SIZE[0], rows * PANEL_SIZE[1]), dpi=DPI, layout="tight")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 2, squeeze=False).flatten()
    for ax, panel in zip(axes, drawn, strict=False):
        _draw(ax, panel)
    for ax in axes[len(drawn) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper right", ncols=2, fontsize=10)
    left_out = [
        name
        for name, drawn_from in (
            ("click types", population.click_types),
            ("purchase rate", population.purchase),
        )
        if drawn_from is None
    ]
    note = f"\nnot drawn (clicks of unknown click type): {', '.join(left_out)}" if left_out else ""
    figure.suptitle(
        f"predicted vs real behaviour: {population.sessions} sessions, {population.steps} steps\n"
        "JSD: Jensen-Shannon divergence (base 2), TV: total variation; both in [0, 1], 0: same"
        + note,
        x=0.01,
        ha="left",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata={"Software": None})
    return path
