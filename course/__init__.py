"""The CNN course package: reference operations, explorers, graders.

Import what you need, e.g. ``import course.ops as ops``; submodules are loaded on
first use so that ``import course`` stays cheap (torch and matplotlib load only
when a module that needs them does).
"""
__version__ = "0.1.0"
