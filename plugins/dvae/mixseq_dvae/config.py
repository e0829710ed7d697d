"""Configurations of the sequence networks: one attrs class per model.

Every config carries the size knobs, the decoder family and the optional input
normalisation; it is stored in full in every checkpoint. Presets reproduce the sizes of
``REFERENCE.md`` §2: :meth:`SRNNConfig.boxes` (≈1.4 k parameters) and
:meth:`SRNNConfig.audio` (≈885 k parameters).

Input normalisation (``normalization``)
---------------------------------------
``"none"``
    The network sees the state as given (boxes: coordinates normalised by the image size).
``"first_box"``
    Boxes only (``x_dim == 4``, ``(x1, y1, x2, y2)``). Each sequence is expressed relative to
    its first box: subtract the first frame's box, divide the x coordinates by the first
    box's width and the y coordinates by its height. The dynamics then do not depend on
    the image resolution or aspect ratio (they still depend on the frame rate). The first
    frame, always zero in these units, is left out of the training loss.

``relative=True`` (Gaussian decoder, no input transform) makes the networks translation
invariant: the recurrent input at ``t`` is the displacement ``x_{t-1} − x_{t-2}`` (zero for
``t < 2``), the encoder
reads ``x_t − x_{t-1}``, and the decoder mean is a displacement from the input,
``μ_t = x_{t-1} + f(·)``. "Keep moving as before" is then a simple function for the network to
learn, whatever the absolute position.

``input_transform="log"`` feeds ``log(x + 1e-8)`` to the networks (useful for power
spectra); targets and predictions stay in the original units.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from mixseq.errors import InputError

__all__ = [
    "DKFConfig",
    "DVAEConfig",
    "DeepARConfig",
    "SRNNConfig",
    "VRNNConfig",
    "config_from_dict",
    "config_to_dict",
]

_DECODERS = ("gaussian", "complex")
_NORMALIZATIONS = ("none", "first_box")
_TRANSFORMS = ("none", "log")


def _sizes(value: Any) -> tuple[int, ...]:
    """Hidden layer sizes as a tuple of positive ints."""
    if isinstance(value, int):
        value = (value,)
    out = tuple(int(v) for v in value)
    if any(v <= 0 for v in out):
        raise InputError(f"hidden sizes: expected positive integers, got {out}")
    return out


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:  # type: ignore[type-arg]
    if not value > 0:
        raise InputError(f"{attribute.name}: expected a positive value, got {value!r}")


def _one_of(*choices: str) -> Any:
    """An attrs validator: the value must be one of ``choices``."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:  # type: ignore[type-arg]
        if value not in choices:
            raise InputError(f"{attribute.name}: expected one of {choices}, got {value!r}")

    return check


def _check_common(config: DVAEConfig) -> None:
    if config.decoder not in _DECODERS:
        raise InputError(f"decoder: expected one of {_DECODERS}, got {config.decoder!r}")
    if config.normalization not in _NORMALIZATIONS:
        raise InputError(f"normalization: expected one of {_NORMALIZATIONS}, got {config.normalization!r}")
    if config.normalization == "first_box" and (config.x_dim != 4 or config.decoder != "gaussian"):
        raise InputError(
            f"normalization='first_box': expected x_dim=4 and a gaussian decoder (boxes), "
            f"got x_dim={config.x_dim} and decoder={config.decoder!r}"
        )
    if config.relative and (config.decoder != "gaussian" or config.input_transform != "none"):
        raise InputError(
            f"relative=True: expected a gaussian decoder without input transform, got "
            f"decoder={config.decoder!r}, input_transform={config.input_transform!r}"
        )
    if config.input_transform not in _TRANSFORMS:
        raise InputError(f"input_transform: expected one of {_TRANSFORMS}, got {config.input_transform!r}")


@attrs.frozen(kw_only=True)
class DVAEConfig:
    """Fields shared by every network.

    ``x_dim``: state size; ``decoder``: ``"gaussian"`` (real, mean and variance) or
    ``"complex"`` (zero-mean circular complex Gaussian on the state, trained on the power
    ``|s|²`` with the Itakura–Saito loss); ``min_variance``: floor added to every predicted
    variance, in network units (keeps the likelihood finite on noise-free data).
    """

    model: ClassVar[str] = ""

    x_dim: int = attrs.field(default=4, validator=_positive)
    decoder: str = "gaussian"
    normalization: str = "none"
    input_transform: str = "none"
    min_variance: float = attrs.field(default=1e-6, validator=_positive)
    relative: bool = False

    def __attrs_post_init__(self) -> None:
        _check_common(self)


@attrs.frozen(kw_only=True)
class SRNNConfig(DVAEConfig):
    """SRNN (Fraccaro et al. 2016) as used by MixDVAE.

    ``h_t = LSTM(h_{t-1}, MLP_x(x_{t-1}))``; prior ``p(z_t | h_t, z_{t-1})``; decoder
    ``p(x_t | h_t, z_t)``; encoder ``"causal"`` (MLP on ``[h_t, x_t, z_{t-1}]``) or
    ``"backward"`` (backward LSTM over ``MLP([h_t, x_t])``, then MLP on ``[g_t, z_{t-1}]``).
    """

    model: ClassVar[str] = "srnn"

    z_dim: int = attrs.field(default=4, validator=_positive)
    rnn_dim: int = attrs.field(default=8, validator=_positive)
    x_hidden: tuple[int, ...] = attrs.field(default=(4,), converter=_sizes)
    encoder: str = attrs.field(default="causal", validator=_one_of("causal", "backward"))
    encoder_input_hidden: tuple[int, ...] = attrs.field(default=(), converter=_sizes)
    encoder_rnn_dim: int = attrs.field(default=8, validator=_positive)
    encoder_hidden: tuple[int, ...] = attrs.field(default=(16,), converter=_sizes)
    prior_hidden: tuple[int, ...] = attrs.field(default=(8,), converter=_sizes)
    decoder_hidden: tuple[int, ...] = attrs.field(default=(16,), converter=_sizes)

    @classmethod
    def boxes(cls, **overrides: Any) -> SRNNConfig:
        """The MixDVAE tracking sizes: x=4, z=4, LSTM 8, MLPs 4/16/8 (≈1.4 k parameters)."""
        return cls(**overrides)

    @classmethod
    def audio(cls, **overrides: Any) -> SRNNConfig:
        """The MixDVAE audio sizes: x=513, z=16, LSTMs 128, complex decoder (≈885 k parameters)."""
        values: dict[str, Any] = dict(
            x_dim=513, z_dim=16, rnn_dim=128, x_hidden=(256,), encoder="backward",
            encoder_input_hidden=(256,), encoder_rnn_dim=128, encoder_hidden=(64, 32),
            prior_hidden=(64, 32), decoder_hidden=(256,), decoder="complex", min_variance=1e-10,
        )  # fmt: skip
        values.update(overrides)
        return cls(**values)


@attrs.frozen(kw_only=True)
class VRNNConfig(DVAEConfig):
    """VRNN (Chung et al. 2015), indexed so that ``h_t`` summarises ``x_{<t}, z_{<t}``.

    ``h_t = LSTM(h_{t-1}, [φ_x(x_{t-1}), φ_z(z_{t-1})])``; prior ``p(z_t | h_t)``; decoder
    ``p(x_t | φ_z(z_t), h_t)``; encoder ``q(z_t | φ_x(x_t), h_t)`` (causal).
    """

    model: ClassVar[str] = "vrnn"

    z_dim: int = attrs.field(default=4, validator=_positive)
    rnn_dim: int = attrs.field(default=8, validator=_positive)
    x_hidden: tuple[int, ...] = attrs.field(default=(4,), converter=_sizes)
    z_hidden: tuple[int, ...] = attrs.field(default=(4,), converter=_sizes)
    encoder_hidden: tuple[int, ...] = attrs.field(default=(16,), converter=_sizes)
    prior_hidden: tuple[int, ...] = attrs.field(default=(8,), converter=_sizes)
    decoder_hidden: tuple[int, ...] = attrs.field(default=(16,), converter=_sizes)

    @classmethod
    def audio(cls, **overrides: Any) -> VRNNConfig:
        """Audio-sized VRNN with a complex decoder."""
        values: dict[str, Any] = dict(
            x_dim=513, z_dim=16, rnn_dim=128, x_hidden=(256,), z_hidden=(32,),
            encoder_hidden=(64, 32), prior_hidden=(64, 32), decoder_hidden=(256,),
            decoder="complex", min_variance=1e-10,
        )  # fmt: skip
        values.update(overrides)
        return cls(**values)


@attrs.frozen(kw_only=True)
class DKFConfig(DVAEConfig):
    """DKF (Krishnan et al. 2017): a Markov chain of latents with a per-step decoder.

    Gated transition ``p(z_t | z_{t-1})``; decoder ``p(x_t | z_t)``; encoder: backward
    LSTM ``g_t`` over ``MLP(x_t)``, combined with ``z_{t-1}`` by an MLP.
    """

    model: ClassVar[str] = "dkf"

    z_dim: int = attrs.field(default=4, validator=_positive)
    x_hidden: tuple[int, ...] = attrs.field(default=(8,), converter=_sizes)
    encoder_rnn_dim: int = attrs.field(default=8, validator=_positive)
    encoder_hidden: tuple[int, ...] = attrs.field(default=(16,), converter=_sizes)
    prior_hidden: tuple[int, ...] = attrs.field(default=(16,), converter=_sizes)
    decoder_hidden: tuple[int, ...] = attrs.field(default=(16,), converter=_sizes)

    @classmethod
    def audio(cls, **overrides: Any) -> DKFConfig:
        """Audio-sized DKF with a complex decoder."""
        values: dict[str, Any] = dict(
            x_dim=513, z_dim=16, x_hidden=(256,), encoder_rnn_dim=128, encoder_hidden=(64, 32),
            prior_hidden=(64, 32), decoder_hidden=(256,), decoder="complex", min_variance=1e-10,
        )  # fmt: skip
        values.update(overrides)
        return cls(**values)


@attrs.frozen(kw_only=True)
class DeepARConfig(DVAEConfig):
    """Deep AR: a deterministic LSTM predictor of ``x_t`` from ``x_{<t}``.

    ``variance="learned"``: the predictive variance comes from an MLP head;
    ``"fixed"``: it is ``fixed_variance`` (in network units) everywhere.
    """

    model: ClassVar[str] = "deep_ar"

    rnn_dim: int = attrs.field(default=16, validator=_positive)
    x_hidden: tuple[int, ...] = attrs.field(default=(8,), converter=_sizes)
    output_hidden: tuple[int, ...] = attrs.field(default=(16,), converter=_sizes)
    variance: str = attrs.field(default="learned", validator=_one_of("learned", "fixed"))
    fixed_variance: float = attrs.field(default=1e-4, validator=_positive)

    @classmethod
    def audio(cls, **overrides: Any) -> DeepARConfig:
        """Audio-sized Deep AR with a complex decoder."""
        values: dict[str, Any] = dict(
            x_dim=513, rnn_dim=128, x_hidden=(256,), output_hidden=(256,), decoder="complex",
            min_variance=1e-10,
        )  # fmt: skip
        values.update(overrides)
        return cls(**values)


CONFIG_CLASSES: dict[str, type[DVAEConfig]] = {
    cls.model: cls for cls in (SRNNConfig, VRNNConfig, DKFConfig, DeepARConfig)
}


def config_to_dict(config: DVAEConfig) -> dict[str, Any]:
    """A config as plain values (tuples become lists), for checkpoints and JSON."""
    return attrs.asdict(config)


def config_from_dict(model: str, values: dict[str, Any]) -> DVAEConfig:
    """Rebuild the config of ``model`` from :func:`config_to_dict` output.

    Raises :class:`InputError` for an unknown model, unknown fields or invalid values.
    """
    if model not in CONFIG_CLASSES:
        raise InputError(f"model: expected one of {sorted(CONFIG_CLASSES)}, got {model!r}")
    cls = CONFIG_CLASSES[model]
    known = {a.name for a in attrs.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"{cls.__name__}: unknown fields {unknown}; expected a subset of {sorted(known)}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{cls.__name__}: invalid values: {exc}") from exc
