"""The course's interactive explorers: one module per explorer, each compute, view and widget.

==========================================  =============================================================
module                                      explorer (compute function / view / static plot / widget)
==========================================  =============================================================
:mod:`.conv_step`                           a convolution step by step (``conv_stepper``), notebook 02
:mod:`.conv_arithmetic`                     padding, stride, dilation, transposed (``conv_arithmetic_explorer``), 03
:mod:`.kernels`                             kernels on photos (``kernel_explorer``), 03
:mod:`.name_the_operation`                  the "name the operation" quiz, pooling included (``name_the_operation``), 03
:mod:`.pooling`                             pooling and shifts (``pooling_explorer``), 03/04
:mod:`.conv_matrix`                         convolution as a matrix (``conv_matrix_viewer``), 04
:mod:`.receptive_field`                     receptive fields of a layer stack (``receptive_field_explorer``), 04
:mod:`.feature_maps`                        filters and feature maps of a model (``feature_map_viewer``), 07
==========================================  =============================================================

Shared modules: :mod:`.render` (figures, the text-caching renderer, grid helpers,
the :class:`~.render.View` base and :func:`~.render.make_plot`), :mod:`.parse`
(what students type: matrices, layer stacks), :mod:`.controls` (declarations of
controls and layout, plain data) and :mod:`.widget` (the :class:`~.widget.Explorer`
widget and :func:`~.widget.build`; the only module that imports ipywidgets, and only
when a widget is made). The core library (:mod:`course.ops` and the rest) imports
neither matplotlib nor ipywidgets; :mod:`course.viz` and :mod:`course.widgets`
re-export everything here under the names the notebooks use.

Adding an explorer
------------------
Write one module, ``course/explorers/<name>.py``, with four parts:

1. **compute**: a pure function of the settings that returns a dict of arrays and
   numbers, through :mod:`course.ops`; no matplotlib, no ipywidgets. Its signature
   is the explorer's, written once: defaults, keyword-only options, numpydoc
   docstring with shapes, inputs checked first (ValueError/TypeError naming the
   parameter). A setting that cannot be drawn is better reported in the dict's
   ``error`` than raised, so that the explorer can explain it::

       def blur_result(image, size: int = 3, *, mode: str = "zeros") -> dict: ...

2. **view**: a subclass of :class:`~.render.View` with ``function =
   staticmethod(blur_result)``, a ``figsize``, artists made once in ``__init__`` and a
   ``draw(result)`` that only updates them from the dict (``set_data``, ``set_text``,
   :class:`~.render.Labels` for numbers in grids). ``view.update(...)`` takes
   ``blur_result``'s arguments. The class docstring describes the figure.

3. **static plot**: ``plot_blur = make_plot(BlurView, "plot_blur", "Draw ...")`` has
   ``blur_result``'s signature (less the view's internal caches).

4. **widget**: a function that declares the controls once, keyed by the parameter
   each sets (its default is that parameter's default unless declared), lays them
   out and calls :func:`~.widget.build` (``from . import controls as C``)::

       def blur_explorer(image=None):
           from .widget import build
           controls = {"size": C.Slider("size", 1, 9), "mode": C.Toggle("padding", ["zeros", "reflect"])}
           return build("blur", BlurView(), controls, [C.Row("size", "mode")], fixed={"image": image})

   ``arguments`` maps controls that are not parameters as they are (text to parse,
   two sliders that make one tuple), ``ranges`` sets slider bounds that depend on the
   settings, ``reactions`` handles presets. Import ipywidgets only inside the widget
   function (through :func:`~.widget.build`).

Then list the names in the module's ``__all__``, re-export them from :mod:`course.viz`
(compute, view, plot) and :mod:`course.widgets` (the widget), add a test file
``tests/test_explorers_<name>.py`` (the compute function against :mod:`course.ops` or
PyTorch with exact values; the widget with control values set in code and compared
with a direct call), a case in ``benchmarks/bench_widgets.py`` (100 ms a redraw), a
cell in ``tests/browser/explorers.ipynb`` and an action in ``tests/test_browser.py``.
"""
from . import (
    conv_arithmetic,
    conv_matrix,
    conv_step,
    feature_maps,
    kernels,
    name_the_operation,
    pooling,
    receptive_field,
)

__all__ = ["conv_arithmetic", "conv_matrix", "conv_step", "feature_maps", "kernels", "name_the_operation",
           "pooling", "receptive_field"]
