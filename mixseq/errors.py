"""Every error and warning class that mixseq raises."""

from __future__ import annotations


class MixseqError(Exception):
    """Base class of every error raised by mixseq and its plugins."""


class ShapeError(MixseqError, ValueError):
    """A tensor has the wrong number of dimensions or the wrong sizes."""


class InputError(MixseqError, ValueError):
    """An argument or a file has the wrong type or an invalid value."""


class PluginError(MixseqError):
    """A plugin registered something invalid, or a component name is unknown."""


class CheckpointError(MixseqError):
    """A checkpoint file is missing, corrupted or does not fit the model."""


class MixseqWarning(UserWarning):
    """Base class of every warning issued by mixseq."""


class PluginWarning(MixseqWarning):
    """A plugin could not be loaded; everything else keeps working."""


class InputWarning(MixseqWarning):
    """An input was accepted after a documented conversion (resampling, mix-down, ...)."""
