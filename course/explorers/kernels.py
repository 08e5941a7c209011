"""Explorer 3: kernels on photos, one kernel applied as a convolutional layer would, with padding, stride, ReLU.

:func:`kernel_result` computes, :class:`KernelResultView` draws the input, the kernel
and the output on a scale centred on 0, :func:`plot_kernel_result` is the static
figure and :func:`kernel_explorer` the widget (preset or hand-edited 3x3 kernels).
Lecture notebook 03.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import course.ops as ops
from course import data

from . import controls as C
from .conv_step import VERTICAL_EDGE
from .render import (
    DIVERGING,
    Labels,
    View,
    blank_axes,
    cell_positions,
    fmt,
    make_plot,
    new_figure,
    set_image,
    symmetric_limit,
)

__all__ = ["KERNEL_PRESETS", "KernelResultView", "kernel_explorer", "kernel_result", "plot_kernel_result"]

_IDENTITY = np.array([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]])
_BOX = np.full((3, 3), 1 / 9)
_SOBEL_X = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])

#: Named 3x3 kernels of the lectures.
KERNEL_PRESETS: dict[str, np.ndarray] = {
    "identity": _IDENTITY,
    "box blur (moving average)": _BOX,
    "Gaussian blur": np.array([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "sharpen (2 identity - box blur)": 2 * _IDENTITY - _BOX,
    "Sobel x (horizontal gradient)": _SOBEL_X,
    "Sobel y (vertical gradient)": _SOBEL_X.T.copy(),
    "Laplacian": np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "vertical edge detector": VERTICAL_EDGE.astype(float),
    "horizontal edge detector": VERTICAL_EDGE.T.astype(float),
    "high-pass (8 centre, -1 around)": np.array([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
}


#: padding_mode of kernel_result -> mode of ops.pad ('valid' means no padding).
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def kernel_result(image, kernel, *, padding_mode: str = "zeros", stride: int = 1, relu: bool = False,
                  channels: str = "sum") -> dict[str, Any]:
    """Apply one kernel to an image as a convolutional layer would.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        A photo in file layout (e.g. :func:`course.data.cat`), values used as they are.
    kernel : array_like, shape (KH, KW)
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular', 'valid'}, keyword-only
        'valid' adds no padding (the output shrinks); the others pad ``same`` style
        (:func:`course.ops.same_padding`) with that mode via :func:`course.ops.pad`.
    stride : int, keyword-only
    relu : bool, keyword-only
        Apply ReLU (``max(0, .)``) to the output.
    channels : {'sum', 'separate'}, keyword-only
        'sum': one filter with the kernel on every colour channel, summed (a layer
        with C input channels and one output); 'separate': each channel filtered
        on its own (as ``groups=C``), one output per channel.

    Returns
    -------
    dict
        ``image`` and ``kernel`` (float64) as given, ``x`` (float64, padded, shape
        (1, C, H', W')), ``weight`` (shape (1, C, KH, KW), or (1, 1, KH, KW) applied to
        each channel), ``pad`` (left, right, top, bottom), ``output`` (shape
        (F, H_out, W_out), F = 1 or C) from :func:`course.ops.conv2d`, ``limit``
        (largest absolute output value, for a scale centred on 0).

    Raises
    ------
    ValueError
        On an unknown ``padding_mode`` / ``channels`` or shapes that do not fit.
    """
    if padding_mode not in (*_PAD_MODES, "valid"):
        raise ValueError(f"`padding_mode` must be one of {[*_PAD_MODES, 'valid']}, got {padding_mode!r}")
    if channels not in ("sum", "separate"):
        raise ValueError(f"`channels` must be 'sum' or 'separate', got {channels!r}")
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"`kernel` must have shape (KH, KW), got {kernel.shape}")
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"`image` must have shape (H, W) or (H, W, C), got {image.shape}")
    x = data.to_tensor_layout(image.astype(np.float64))
    C = x.shape[1]
    KH, KW = kernel.shape
    if channels == "sum":
        weight = np.broadcast_to(kernel, (1, C, KH, KW)).copy()
    else:
        weight = kernel[None, None]
    if padding_mode == "valid":
        pads = (0, 0, 0, 0)
    else:
        (top, bottom), (left, right) = ops.same_padding(KH), ops.same_padding(KW)
        pads = (left, right, top, bottom)
        x = ops.pad(x, pads, mode=_PAD_MODES[padding_mode])
    if channels == "sum":
        out = ops.conv2d(x, weight, stride=stride)[0]
    else:
        # each channel on its own: the channels as a batch of one-channel images (the
        # same numbers as groups=C, and faster)
        out = ops.conv2d(x.transpose(1, 0, 2, 3), weight, stride=stride)[:, 0]
    if relu:
        out = np.maximum(out, 0.0)
    return {"image": image, "kernel": kernel, "x": x, "weight": weight, "pad": pads, "output": out,
            "limit": symmetric_limit(out), "channels": channels, "relu": bool(relu), "stride": stride,
            "padding_mode": padding_mode}


def _display_image(image: np.ndarray) -> tuple[np.ndarray, dict]:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image, {"cmap": "gray"}
    if image.dtype != np.uint8:
        lo, hi = float(image.min()), float(image.max())
        image = (image - lo) / (hi - lo or 1.0)
    return image[..., :3], {}


def _display_image(image: np.ndarray) -> tuple[np.ndarray, dict]:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image, {"cmap": "gray"}
    if image.dtype != np.uint8:
        lo, hi = float(image.min()), float(image.max())
        image = (image - lo) / (hi - lo or 1.0)
    return image[..., :3], {}


class KernelResultView(View):
    """Input image, kernel and output side by side; the output on a diverging colour
    map centred on 0 (blue negative, red positive) with a colourbar, so negative
    responses stay visible. One output panel per channel with ``channels='separate'``.
    """

    function = staticmethod(kernel_result)
    image_format = "jpeg"
    figsize = (10, 3.6)

    _ARTISTS = ("figure", "ax_in", "ax_k", "ax_out", "im_in", "im_k", "k_texts", "im_out", "title", "_shown_id")

    def __init__(self) -> None:
        super().__init__()
        self._layout: tuple | None = None
        self._layouts: dict[tuple, dict[str, Any]] = {}

    def _switch(self, layout: tuple) -> None:
        """Use the figure of this layout, made on first use (switching back is then free)."""
        if self._layout is not None:
            self._layouts[self._layout] = {name: getattr(self, name) for name in self._ARTISTS}
        if layout in self._layouts:
            self.__dict__.update(self._layouts[layout])
        else:
            if self._layout is not None:
                self.figure = new_figure(*self.figsize)
            self._build(layout[0])
        self._layout = layout

    def _build(self, n_out: int) -> None:
        fig = self.figure
        self._shown_id = None
        ratios = [1.0, 0.42] + [1.0] * n_out + [0.05]
        fig.set_size_inches(10 if n_out == 1 else 12, 3.6 if n_out == 1 else 3.0)
        # right=0.92 leaves room for the colour bar's tick labels (e.g. "-1500").
        grid = fig.add_gridspec(1, len(ratios), width_ratios=ratios, left=0.01, right=0.92,
                                top=0.86, bottom=0.04, wspace=0.12)
        self.ax_in = fig.add_subplot(grid[0, 0])
        self.ax_k = fig.add_subplot(grid[0, 1])
        self.ax_out = [fig.add_subplot(grid[0, 2 + i]) for i in range(n_out)]
        cax = fig.add_subplot(grid[0, -1])
        for ax in [self.ax_in, self.ax_k, *self.ax_out]:
            blank_axes(ax)
        self.im_in = self.ax_in.imshow(np.zeros((2, 2)), cmap="gray", interpolation="antialiased")
        self.ax_in.set_title("input", fontsize=10)
        self.im_k = self.ax_k.imshow(np.zeros((3, 3)), cmap=DIVERGING, vmin=-1, vmax=1)
        self.k_texts = Labels(self.ax_k, fontsize=8)
        self.im_out = [ax.imshow(np.zeros((2, 2)), cmap=DIVERGING, vmin=-1, vmax=1,
                                 interpolation="antialiased") for ax in self.ax_out]
        fig.colorbar(self.im_out[0], cax=cax)
        self.title = fig.suptitle("", fontsize=11)

    def draw(self, res: dict[str, Any]) -> None:
        out, image = res["output"], res["image"]
        layout = (out.shape[0],)
        if layout != self._layout:
            self._switch(layout)
        if self._shown_id is not image:  # the photo is resampled only when it changes
            shown, style = _display_image(image)
            set_image(self.im_in, shown)
            self.im_in.set_cmap(style.get("cmap", "gray"))
            if shown.ndim == 2:
                self.im_in.set_clim(float(shown.min()), float(shown.max()))
            self._shown_id = image
        kernel = res["kernel"]
        set_image(self.im_k, kernel)
        klim = symmetric_limit(kernel)
        self.im_k.set_clim(-klim, klim)
        shown = kernel if kernel.size <= 49 else kernel[:0]
        self.k_texts.set_labels(cell_positions(*shown.shape), [fmt(v) for v in shown.ravel()],
                                ["white" if abs(v) > 0.6 * klim else "black" for v in shown.ravel()])
        self.ax_k.set_title(f"kernel {kernel.shape[0]}×{kernel.shape[1]}", fontsize=10)
        names = ["sum over channels"] if out.shape[0] == 1 else (
            ["R", "G", "B"] if out.shape[0] == 3 else [f"channel {i}" for i in range(out.shape[0])])
        for im, ax, fmap, name in zip(self.im_out, self.ax_out, out, names):
            set_image(im, fmap)
            im.set_clim(-res["limit"], res["limit"])
            ax.set_title(f"{name}: {fmap.shape[0]}×{fmap.shape[1]}", fontsize=10)
        H, W = image.shape[:2]
        self.title.set_text(
            f"{H}×{W} image, padding {res['padding_mode']}, stride {res['stride']}"
            + (", ReLU" if res["relu"] else "") + f" → output {out.shape[1]}×{out.shape[2]}")


plot_kernel_result = make_plot(KernelResultView, "plot_kernel_result",
                               "Draw an image, a kernel and the filtered result (see :func:`kernel_result`).")


# ----------------------------------------------------------------------------- the widget

_IMAGES: dict[str, np.ndarray] = {}
_LOADERS = {"cat": data.cat, "logo": data.logo, "camera": data.camera}
_CELLS = [f"w{r}{c}" for r in range(3) for c in range(3)]


def _image(name: str) -> np.ndarray:
    if name not in _IMAGES:
        _IMAGES[name] = _LOADERS[name]()
    return _IMAGES[name]


def _kernel(values: dict[str, Any]) -> np.ndarray:
    return np.array([[values[f"w{r}{c}"] for c in range(3)] for r in range(3)])


def _arguments(values: dict[str, Any]) -> dict[str, Any]:
    return {"image": _image(values["image"]), "kernel": _kernel(values)}


def _on_preset(values: dict[str, Any], preset: str) -> dict[str, Any] | None:
    if preset == "custom":
        return None
    return {f"w{r}{c}": float(v) for (r, c), v in np.ndenumerate(KERNEL_PRESETS[preset])}


def _on_cell(values: dict[str, Any], new: float) -> dict[str, Any]:
    # typing a preset's numbers selects it again
    matching = [name for name, k in KERNEL_PRESETS.items() if np.allclose(k, _kernel(values))]
    return {"preset": matching[0] if matching else "custom"}


def kernel_explorer(image=None):
    """Apply preset or hand-edited 3x3 kernels to a photo, with padding, stride, ReLU and channels.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, 3), optional
        Offered as "your image" beside the course's photos (cat, logo, camera);
        default the cat.

    Returns
    -------
    Explorer
        Controls: ``image``, ``preset``, ``w00`` ... ``w22`` (the kernel, row then
        column), ``padding_mode``, ``stride``, ``relu``, ``channels``. ``result``
        is :func:`kernel_result`'s dict.
    """
    from .widget import build

    options = [("cat", "cat"), ("logo", "logo"), ("camera", "camera")]
    if image is not None:
        _IMAGES["given"] = np.asarray(image)
        options.insert(0, ("your image", "given"))
    first = "vertical edge detector"
    controls = {
        "image": C.Dropdown("image", options, default=options[0][1]),
        "preset": C.Dropdown("kernel", [*KERNEL_PRESETS, "custom"], default=first),
        **{name: C.Number("", float(KERNEL_PRESETS[first].flat[i])) for i, name in enumerate(_CELLS)},
        "padding_mode": C.Dropdown("padding", ["zeros", "reflect", "replicate", "circular", "valid"],
                                   width="200px"),
        "stride": C.Slider("stride", 1, 4, continuous=False),
        "relu": C.Checkbox("ReLU"),
        "channels": C.Toggle("channels", [("sum over RGB", "sum"), ("per channel", "separate")],
                             button_width="125px"),
    }
    layout = [C.Row(C.Column("image", "preset", "padding_mode"),
                    C.Column(C.Note("<b>kernel</b> (editable)"), C.Grid(_CELLS, 3)),
                    C.Column("stride", "relu", "channels"))]
    return build("kernel", KernelResultView(), controls, layout, arguments=_arguments,
                 reactions={"preset": _on_preset, **{name: _on_cell for name in _CELLS}})
