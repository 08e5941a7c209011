"""Explorer 7: what a network computes, the first layer's filters and the feature maps of any layer, for one image.

:func:`feature_maps` records every Conv2d / ReLU / pooling output of a model,
:func:`feature_map_result` picks one layer, :class:`FeatureMapView` draws,
:func:`plot_feature_maps` is the static figure and :func:`feature_map_viewer` the
widget. Lecture notebook 07 shows the LeNet-5 it trains. PyTorch is imported only
when a model runs.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import controls as C
from .render import DIVERGING, Labels, View, blank_axes, make_plot, set_image, symmetric_limit

__all__ = ["N_MAPS", "FeatureMapView", "feature_map_result", "feature_map_viewer", "feature_maps",
           "plot_feature_maps"]

#: Feature maps shown at a time.
N_MAPS = 16


def feature_maps(model, image) -> dict[str, Any]:
    """Run ``model`` on one image and record the output of every Conv2d, ReLU and pooling layer.

    Parameters
    ----------
    model : torch.nn.Module
    image : array_like, shape (H, W) or (C, H, W)
        uint8 images are scaled to [0, 1]; other dtypes are used as they are.

    Returns
    -------
    dict
        ``maps``: dict of layer label (``"<name> (<type>)"``, in execution order) to
        ndarray of shape (C, H, W); ``filters``: weights of the first Conv2d,
        shape (F, C, KH, KW) (None if there is none); ``image``: the input as
        (C, H, W) float; ``error``: the message if the forward pass failed after
        some layers (e.g. a Linear layer expecting another image size), else None.

    Notes
    -----
    Forward hooks copy each output, so an in-place ReLU does not overwrite the
    convolution output recorded before it. The model runs in eval mode under
    ``torch.no_grad()`` and is put back in its previous mode.
    """
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"`image` must have shape (H, W) or (C, H, W), got {np.asarray(image).shape}")
    arr = arr / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)
    kinds = (nn.Conv2d, nn.ReLU, nn.LeakyReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
             nn.AdaptiveMaxPool2d)
    params = list(model.parameters())
    dtype = params[0].dtype if params else torch.float32
    device = params[0].device if params else torch.device("cpu")
    maps: dict[str, np.ndarray] = {}
    handles = []
    first_conv = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and first_conv is None:
            first_conv = module
        if isinstance(module, kinds):
            label = f"{name} ({type(module).__name__})"
            handles.append(module.register_forward_hook(
                lambda mod, inp, out, label=label: maps.__setitem__(label, out.detach()[0].cpu().numpy().copy())))
    error = None
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.as_tensor(arr, dtype=dtype, device=device)[None])
    except Exception as err:  # noqa: BLE001 - show what ran before the failing layer
        error = f"{type(err).__name__}: {err}"
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    filters = None if first_conv is None else first_conv.weight.detach().cpu().numpy().copy()
    return {"maps": maps, "filters": filters, "image": arr, "error": error}


def feature_map_result(model, image, layer: str | int | None = None, *, start: int = 0,
                       recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """The feature maps of one recorded layer of ``model`` on ``image``, 16 of them from ``start``.

    Parameters
    ----------
    model : torch.nn.Module
    image : array_like, shape (H, W) or (C, H, W)
    layer : str or int, optional
        A label from ``feature_maps(model, image)["maps"]`` (``"3 (Conv2d)"``), a
        module name (``"3"``, ``"features.3"``) or the index of a recorded layer
        (negative from the end); default the first.
    start : int, keyword-only
        First channel shown (clipped to the channels there are).
    recorded : dict, optional, keyword-only
        What :func:`feature_maps` returned for this model and image, to reuse
        (the explorer runs the model once).

    Returns
    -------
    dict
        ``layer`` (its label), ``maps`` (ndarray, shape (C, H, W)), ``shown``
        (``maps[start : start + 16]``), ``start``, ``labels`` (every recorded layer,
        in execution order), ``filters`` (first Conv2d's weights, shape
        (F, C, KH, KW), or None), ``image`` (shape (C, H, W)), ``forward_error``
        (the message if the forward pass stopped, else None), ``recorded``.

    Raises
    ------
    ValueError
        If no layer was recorded, or ``layer`` names none of them.
    TypeError
        If ``start`` is not an int (and as :func:`feature_maps`).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 20, 3), torch.nn.ReLU())
    >>> r = feature_map_result(net, np.zeros((8, 8)), "1", start=16)
    >>> r["layer"], r["maps"].shape, r["shown"].shape
    ('1 (ReLU)', (20, 6, 6), (4, 6, 6))
    """
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
        raise TypeError(f"`start` must be an int, got {start!r}")
    rec = feature_maps(model, image) if recorded is None else recorded
    maps = rec["maps"]
    if not maps:
        raise ValueError("`model` has no Conv2d, ReLU or pooling layer to show"
                         + (f" ({rec['error']})" if rec["error"] else ""))
    labels = list(maps)
    if layer is None:
        layer = labels[0]
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -len(labels) <= layer < len(labels):
            raise ValueError(f"`layer` must be in [{-len(labels)}, {len(labels) - 1}], got {layer}")
        layer = labels[layer]
    if layer not in maps:
        matches = [lab for lab in labels if lab.split(" (")[0] == layer]
        if not matches:
            raise ValueError(f"`layer` {layer!r} is not one of {labels}")
        layer = matches[0]
    fmaps = maps[layer]
    start = int(np.clip(start, 0, max(fmaps.shape[0] - 1, 0)))
    return {"layer": layer, "maps": fmaps, "shown": fmaps[start : start + N_MAPS], "start": start,
            "labels": labels, "filters": rec["filters"], "image": rec["image"], "forward_error": rec["error"],
            "recorded": rec}


def _mosaic(tiles: Sequence[np.ndarray], cols: int, gap: tuple[int, int], fill=np.nan
            ) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """Lay equal-shaped tiles out row by row in one array, with room above each row for a label.

    Parameters
    ----------
    tiles : sequence of ndarray, each of shape (h, w) or (h, w, 3)
    cols : int
        Tiles per row.
    gap : (int, int)
        Cells left free above each row of tiles (for labels) and between two tiles of a row.
    fill : float
        Value of the free cells (NaN: drawn in the colour map's "bad" colour).

    Returns
    -------
    mosaic : ndarray
    where : list of (slice, slice)
        ``mosaic[where[i]]`` is ``tiles[i]``.
    """
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // cols)
    gy, gx = gap
    mosaic = np.full((rows * (gy + h), cols * w + (cols - 1) * gx) + tiles[0].shape[2:], fill)
    where = []
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = r * (gy + h) + gy, c * (w + gx)
        where.append((slice(y, y + h), slice(x, x + w)))
        mosaic[where[-1]] = tile
    return mosaic, where


class FeatureMapView(View):
    """Input and the first layer's filters on top (red positive, blue negative weights,
    each filter on its own scale), then up to 16 feature maps of one layer on a
    shared scale centred on 0.

    The filters and the maps are each drawn as one mosaic image (one image to colour
    and resample per redraw instead of one per panel); ``map_tiles[i]`` is where map
    ``start + i`` sits in ``im_m``'s array, ``filter_tiles[i]`` where filter ``i`` sits
    in ``im_f``'s. The model runs once per model and image (:meth:`record`); a new
    layer or start only redraws.
    """

    function = staticmethod(feature_map_result)
    internal = ("recorded",)
    image_format = "jpeg"
    figsize = (10, 4.8)

    N_FILTERS = 7
    N_MAPS = N_MAPS
    _PER_ROW = 8

    def __init__(self) -> None:
        super().__init__()
        fig = self.figure
        grid = fig.add_gridspec(3, 8, left=0.01, right=0.92, top=0.88, bottom=0.02, hspace=0.3, wspace=0.08)
        self.ax_in = fig.add_subplot(grid[0, 0])
        self.ax_f = fig.add_subplot(grid[0, 1:])
        self.ax_m = fig.add_subplot(grid[1:, :])
        cax = fig.add_axes((0.94, 0.05, 0.012, 0.55))
        for ax in (self.ax_in, self.ax_f, self.ax_m):
            blank_axes(ax)
        self.im_in = self.ax_in.imshow(np.zeros((2, 2)), cmap="gray")
        self.ax_in.set_title("input", fontsize=8)
        diverging = plt.get_cmap(DIVERGING).with_extremes(bad="white")
        self.im_f = self.ax_f.imshow(np.zeros((2, 2)), cmap=diverging, vmin=-1, vmax=1, interpolation="nearest")
        self.im_m = self.ax_m.imshow(np.zeros((2, 2)), cmap=diverging, interpolation="antialiased")
        self.labels_f = Labels(self.ax_f, fontsize=7)
        self.labels_m = Labels(self.ax_m, fontsize=7)
        fig.colorbar(self.im_m, cax=cax)
        self.title = fig.suptitle("", fontsize=10)
        self.recorded: dict[str, Any] | None = None
        self._source = None
        self._drawn = None
        self.map_tiles: list[tuple[slice, slice]] = []
        self.filter_tiles: list[tuple[slice, slice]] = []

    def record(self, model, image) -> dict[str, Any]:
        """Run the model on the image (:func:`feature_maps`) and keep what it recorded."""
        self.recorded = feature_maps(model, image)
        self._source = (model, image)
        return self.recorded

    def compute(self, model, image, layer: str | int | None = None, *, start: int = 0) -> dict[str, Any]:
        """:func:`feature_map_result`, running the model only for a new model or image."""
        if self._source is None or self._source[0] is not model or self._source[1] is not image:
            self.record(model, image)
        return feature_map_result(model, image, layer, start=start, recorded=self.recorded)

    def _show_tiles(self, im, labels: Labels, tiles: list[np.ndarray], names: list[str], cols: int,
                    fill=np.nan) -> list[tuple[slice, slice]]:
        h, w = tiles[0].shape[:2]
        gap = (max(1, round(0.3 * h)), max(1, round(0.08 * w)))
        mosaic, where = _mosaic(tiles, cols, gap, fill)
        set_image(im, mosaic)
        labels.set_labels([((x.start + x.stop - 1) / 2, y.start - 0.5 - gap[0] / 2) for y, x in where], names)
        return where

    def _draw_input_and_filters(self, rec: dict[str, Any]) -> None:
        img = rec["image"]
        shown = img[0] if img.shape[0] != 3 else np.moveaxis(img, 0, -1)
        if shown.ndim == 3:
            shown = (shown - shown.min()) / (np.ptp(shown) or 1.0)
        set_image(self.im_in, shown)
        if shown.ndim == 2:
            self.im_in.set_clim(float(shown.min()), float(shown.max()))
        filters = rec["filters"]
        self.im_f.set_visible(filters is not None)
        if filters is None:
            self.labels_f.clear_labels()
            self.filter_tiles = []
            return
        tiles = []
        for w in filters[: self.N_FILTERS]:
            if w.shape[0] == 3:  # an RGB filter reads best as a colour patch
                rgb = np.moveaxis(w, 0, -1)
                tiles.append((rgb - rgb.min()) / (np.ptp(rgb) or 1.0))
            else:  # each filter on its own symmetric scale, as -1..1
                tiles.append(w.mean(axis=0) / symmetric_limit(w))
        names = [f"filter {i}" for i in range(len(tiles))]
        self.filter_tiles = self._show_tiles(self.im_f, self.labels_f, tiles, names, self.N_FILTERS,
                         fill=1.0 if tiles[0].ndim == 3 else np.nan)

    def draw(self, res: dict[str, Any]) -> None:
        if res["recorded"] is not self._drawn:  # the input and the filters do not change with the layer
            self._draw_input_and_filters(res["recorded"])
            self._drawn = res["recorded"]
        fmaps, shown, start = res["maps"], res["shown"], res["start"]
        lim = symmetric_limit(fmaps)
        # a map much larger than its ~100-pixel tile is thinned first: the same picture,
        # a fraction of the colour-mapping work
        box = self.ax_m.get_position(original=True)  # not the box shrunk to the last aspect
        tile_px = box.width * self.figure.get_figwidth() * self.figure.dpi / self._PER_ROW
        thin = max(1, int(max(fmaps.shape[1:]) // tile_px))
        self.map_tiles = self._show_tiles(self.im_m, self.labels_m, [m[::thin, ::thin] for m in shown],
                                          [f"map {start + i}" for i in range(len(shown))], self._PER_ROW)
        self.im_m.set_clim(-lim, lim)
        C, H, W = fmaps.shape
        error = res["forward_error"]
        self.title.set_text(f"{res['layer']}: {C} feature maps of {H}×{W} (showing {start}..{start + len(shown) - 1})"
                            + ("\nforward pass stopped: " + error[:90] if error else ""))


plot_feature_maps = make_plot(
    FeatureMapView, "plot_feature_maps",
    "Draw the first conv layer's filters and the feature maps of one layer (see :func:`feature_map_result`).")


# ----------------------------------------------------------------------------- the widget


def feature_map_viewer(model, image):
    """Feature maps of every Conv2d / ReLU / pooling layer of a model on one image, and its first filters.

    Parameters
    ----------
    model : torch.nn.Module
        Notebook 07 passes the LeNet-5 it has just trained, so the filters and maps
        are the learned ones.
    image : array_like, shape (H, W) or (C, H, W)

    Returns
    -------
    Explorer
        Controls: ``layer`` (recorded layers in execution order), ``start`` (first
        map shown; 16 at a time). The model runs once, when the explorer is made.
        ``result`` is :func:`feature_map_result`'s dict.

    Raises
    ------
    ValueError
        If the model has no layer to show.
    """
    from .widget import build

    view = FeatureMapView()
    recorded = view.record(model, image)
    labels = list(recorded["maps"])
    if not labels:
        raise ValueError("`model` has no Conv2d, ReLU or pooling layer to show"
                         + (f" ({recorded['error']})" if recorded["error"] else ""))
    controls = {
        "layer": C.Dropdown("layer", labels, default=labels[0], width="320px"),
        "start": C.Slider("first map", 0, 0, step=N_MAPS, continuous=False),
    }

    def ranges(kwargs: dict[str, Any]) -> dict[str, tuple[int, int]]:
        channels = recorded["maps"][kwargs["layer"]].shape[0]
        return {"start": (0, max(channels - 1, 0) // N_MAPS * N_MAPS)}

    return build("feature-maps", view, controls, [C.Row("layer", "start")], fixed={"model": model, "image": image},
                 ranges=ranges)
