"""IPython start-up file for the kernel that executes the lecture notebooks for the book.

``book/build.py`` copies it into the ``startup/`` folder of a temporary IPython profile
(``IPYTHONDIR``) that only the book's kernels use; students' kernels never load it.
It changes how two kinds of output are *displayed*, not what the cells compute:

- An ipywidgets explorer (``course.widgets``: a widget with an ``image`` of its
  figure and a dict of ``controls``) shows as that figure, at the settings the cell
  made, with a note that it is interactive in JupyterLab. An explorer with a
  ``play`` control (``conv_stepper``, ``conv_arithmetic_explorer``) shows as a short
  animated PNG of its steps, computed by setting its ``step`` control as a student's
  play button would. Any other widget shows as a one-line note. A static page has
  no kernel behind it, so the widgets' own JavaScript views would stay empty.
- Widgets get comms that send nothing (``comm.DummyComm``): a book's kernel has no front
  end, and otherwise every widget's state (each explorer's figure again, in base64) would
  be stored in the executed notebook and embedded in its page.
- ``tqdm.auto`` progress bars become text bars on stdout; the book shows the last
  state of each (MyST-NB applies the carriage returns), not a stalled widget.
"""
from __future__ import annotations

import base64
import html
import io
import sys

MAX_FRAMES = 40        # an animation longer than this shows every n-th step
NOTE = ("Interactive in JupyterLab: run this notebook there (<code>./dev.sh lab</code>, see "
        "“Running the course locally”) to move the controls.")


def _controls_text(controls: dict) -> str:
    names = []
    for key, control in controls.items():
        kind = type(control).__name__
        if kind in ("Button", "Play") or key.startswith("w") and key[1:].isdigit():
            continue
        names.append(html.escape((getattr(control, "description", "") or key).strip()))
    return ", ".join(dict.fromkeys(names))


def _frames(explorer) -> tuple[list[bytes], int]:
    """PNG/JPEG bytes of each step of an explorer that has a play button, and the frame time."""
    import ipywidgets

    controls = explorer.controls
    play = next((c for c in controls.values() if isinstance(c, ipywidgets.Play)), None)
    step = controls.get("step")
    if play is None or step is None:
        return [bytes(explorer.image.value)], 0
    start = step.value
    values = list(range(step.min, step.max + 1))
    if len(values) > MAX_FRAMES:
        values = values[:: -(-len(values) // MAX_FRAMES)]
    frames = []
    try:
        for value in values:
            step.value = value
            frames.append(bytes(explorer.image.value))
    finally:
        step.value = start
    return frames, int(getattr(play, "interval", 800) or 800)


def _animated_png(frames: list[bytes], interval_ms: int) -> bytes:
    from PIL import Image

    images = [Image.open(io.BytesIO(f)).convert("RGB") for f in frames]
    out = io.BytesIO()
    images[0].save(out, format="PNG", save_all=True, append_images=images[1:], duration=interval_ms,
                   loop=0, optimize=True)
    return out.getvalue()


def _descendants(widget):
    for child in getattr(widget, "children", ()):
        yield child
        yield from _descendants(child)


def _explorer_bundle(explorer) -> dict:
    name = getattr(explorer, "name", type(explorer).__name__)
    frames, interval = _frames(explorer)
    fmt = getattr(explorer, "image_format", "png")
    if len(frames) > 1:
        data, mime = _animated_png(frames, interval), "image/png"
        what = f"An animation of its {len(frames)} steps, computed by the explorer itself."
    else:
        data, mime = frames[0], f"image/{'jpeg' if fmt in ('jpg', 'jpeg') else 'png'}"
        what = "Its figure at the settings of this cell."
    controls = _controls_text(getattr(explorer, "controls", {}))
    # tables the explorer shows beside its figure (the receptive-field table)
    tables = "".join(f'<div class="course-static-explorer-table">{w.value}</div>'
                     for w in _descendants(explorer) if "explorer-table" in getattr(w, "_dom_classes", ()))
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    alt = f"the {name} explorer" + (f" (controls: {controls})" if controls else "")
    caption = (f"<strong>The <code>{html.escape(name)}</code> explorer.</strong> {what} "
               + (f"In the notebook it has controls for {controls}. " if controls else "") + NOTE)
    return {
        "text/html": (f'<figure class="course-static-explorer explorer-{html.escape(name)}">'
                      f'<img src="{uri}" alt="{html.escape(alt)}" style="max-width:100%;height:auto">{tables}'
                      f"<figcaption>{caption}</figcaption></figure>"),
        "text/plain": f"[the {name} explorer: interactive in JupyterLab]",
    }


def _widget_bundle(widget):
    import ipywidgets

    if isinstance(getattr(widget, "image", None), ipywidgets.Image) and isinstance(
            getattr(widget, "controls", None), dict):
        return _explorer_bundle(widget)
    kind = html.escape(type(widget).__name__)
    return {
        "text/html": f'<p class="course-static-widget"><em>An interactive widget ({kind}). {NOTE}</em></p>',
        "text/plain": f"[an interactive {kind} widget: interactive in JupyterLab]",
    }


def _text_progress_bars() -> None:
    try:
        import tqdm.auto
        import tqdm.std
    except ImportError:
        return

    class TextBar(tqdm.std.tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("file", sys.stdout)
            super().__init__(*args, **kwargs)

    tqdm.auto.tqdm = TextBar


def _silent_comms() -> None:
    try:
        import comm
    except ImportError:
        return
    comm.create_comm = comm.DummyComm


def _install() -> None:
    shell = get_ipython()  # noqa: F821 (IPython defines it in start-up files)
    if shell is None:
        return
    # by name: ipywidgets is imported only if a notebook uses it
    shell.display_formatter.mimebundle_formatter.for_type_by_name(
        "ipywidgets.widgets.widget", "Widget", _widget_bundle)
    _silent_comms()
    _text_progress_bars()


_install()
