"""Helpers shared by the explorer tests: what a figure says, whether a control change redraws."""
from __future__ import annotations

from matplotlib.figure import Figure


def texts(fig: Figure) -> str:
    """Every string drawn in the figure (texts, titles, suptitle, grid labels), for checking what a student reads."""
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [t.get_text() for t in ax.texts] + [ax.get_title(), ax.get_xlabel()]
        parts += [label for c in ax.collections for label in getattr(c, "strings", ())]
    parts.append(fig.get_suptitle())
    return "\n".join(parts)


def changes_image(explorer, key, value) -> bool:
    """Set a control in code and say whether the image sent to the browser changed."""
    before = explorer.image.value
    explorer.controls[key].value = value
    return explorer.image.value != before
