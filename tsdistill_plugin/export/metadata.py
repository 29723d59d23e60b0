"""What an exported student's ONNX file says about itself (its ``metadata_props``).

Plain Python: read by :class:`~tsdistill_plugin.export.Predictor` without torch or onnx.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .. import __version__

FORMAT_KEY = "tsdistill.format"
FORMAT = "tsdistill-student-onnx/2"
"""Marker of an exported student; a file without it is refused by the predictor."""

FORMERLY = {"tsdistill-student-onnx/1": "history"}
"""Earlier formats, with their graph input's name (refused with a request to export again)."""

INPUT_NAME = "past_target"
"""Graph input: raw windows ``[batch, lookback, channels]`` (float32, the data's scale). The
name is Darts': its ``run_onnx_prediction`` feeds the target's past window by that name."""

PAST_COVARIATES = "past_covariates"
"""Graph input of a student with past covariates: ``[batch, lookback, Cp]``."""
HISTORIC_FUTURE_COVARIATES = "historic_future_covariates"
"""Graph input of a student with future covariates: their lookback steps
``[batch, lookback, Cf]``."""
FUTURE_COVARIATES = "future_covariates"
"""Graph input of a student with future covariates: their horizon steps
``[batch, horizon, Cf]``."""
STATIC_COVARIATES = "static_covariates"
"""Graph input of a student with static covariates: ``[batch, S]``."""
COVARIATE_KINDS = ("past", "future", "static")

OUTPUT_NAME = "forecast"
"""Graph output: forecasts ``[batch, horizon, channels]`` in the data's scale
(``[batch, horizon, channels, quantiles]`` for a probabilistic student, levels increasing)."""

DARTS_SPEC_KEY = "darts.onnx_spec"
"""Where Darts' ``run_onnx_prediction`` reads the graph's description (its ``OnnxModelSpec``)."""


@dataclass(frozen=True)
class StudentSpec:
    """Everything a predictor needs to know besides the graph.

    Attributes
    ----------
    lookback, horizon
        Input and output lengths ``L`` and ``H``.
    components
        Channel names, in the graph's channel order. For a channel-independent student
        (NeuralForecast's ``DistilledMLP``), the series it was trained on (informational: it
        forecasts any number of series).
    channel_independent
        Whether the graph takes any number of channels (each forecast on its own).
    freq
        pandas frequency string of the training data (``None``: unknown; frames then need an
        index from which pandas can infer it).
    name
        The model's name, used as the forecast column of long frames (NeuralForecast's alias).
    library
        ``"darts"`` or ``"neuralforecast"``: where the student was trained.
    teacher
        Description of the teacher it was distilled from.
    data_digest
        128-bit BLAKE2b digest of the training values (``None``: not recorded).
    plugin_version
        ``tsdistill_plugin`` version that exported the file.
    past_covariates, future_covariates, static_covariates
        The names of the covariates the student reads, in the graph's order (empty: none).
    quantiles
        A probabilistic student's increasing quantile levels (the last axis of the graph's
        output), or ``None`` for a point student (whose metadata has no such entry).

    Examples
    --------
    >>> from tsdistill_plugin.export import StudentSpec
    >>> spec = StudentSpec(
    ...     lookback=720, horizon=96, components=("HUFL", "OT"), channel_independent=False,
    ...     freq="h", name="DistilledMLPModel", library="darts", teacher="iTransformer",
    ...     data_digest=None, plugin_version="0.1.0",
    ... )
    >>> props = spec.to_props()
    >>> props["lookback"], props["horizon"]
    ('720', '96')
    >>> StudentSpec.from_props(props, "student.onnx") == spec
    True
    """

    lookback: int
    horizon: int
    components: tuple[str, ...]
    channel_independent: bool
    freq: str | None
    name: str
    library: str
    teacher: str
    data_digest: str | None
    plugin_version: str = __version__
    quantiles: tuple[float, ...] | None = None
    past_covariates: tuple[str, ...] = ()
    future_covariates: tuple[str, ...] = ()
    static_covariates: tuple[str, ...] = ()

    @property
    def covariate_names(self) -> dict[str, tuple[str, ...]]:
        """The covariates the student reads, by kind (``"past"``, ...); only kinds it reads."""
        names = zip(
            COVARIATE_KINDS,
            (self.past_covariates, self.future_covariates, self.static_covariates),
            strict=True,
        )
        return {kind: columns for kind, columns in names if columns}

    def to_props(self) -> dict[str, str]:
        """The spec as ONNX ``metadata_props`` (string to string), Darts' spec included."""
        levels = {} if self.quantiles is None else {"quantiles": json.dumps(list(self.quantiles))}
        return {
            **levels,
            FORMAT_KEY: FORMAT,
            DARTS_SPEC_KEY: json.dumps(self.darts_onnx_spec(), separators=(",", ":")),
            "lookback": str(self.lookback),
            "horizon": str(self.horizon),
            "components": json.dumps(list(self.components)),
            "channel_independent": json.dumps(self.channel_independent),
            "freq": "" if self.freq is None else self.freq,
            "name": self.name,
            "library": self.library,
            "teacher": self.teacher,
            "data_digest": "" if self.data_digest is None else self.data_digest,
            "plugin_version": self.plugin_version,
            # only for a covariate student: a covariate-free file is as it always was
            **({"covariates": json.dumps(self.covariate_names)} if self.covariate_names else {}),
        }

    def darts_onnx_spec(self) -> dict[str, object]:
        """The fields of Darts' ``darts.utils.onnx.inference.OnnxModelSpec`` for this graph.

        The target's past window ``past_target [batch, lookback, channels]``, the covariates
        the student reads under Darts' names (no recurrent state), one output ``forecast``:
        Darts' ``run_onnx_prediction(n, session, series, ...)`` then forecasts any ``n``,
        rolling the graph forward by ``horizon`` steps as its ``predict`` does. (Static
        covariates are one flat ``[batch, S]`` input here, which Darts does not feed.)
        """
        kinds = self.covariate_names
        names = [INPUT_NAME]
        if "past" in kinds:
            names.append(PAST_COVARIATES)
        if "future" in kinds:
            names += [HISTORIC_FUTURE_COVARIATES, FUTURE_COVARIATES]
        if "static" in kinds:
            names.append(STATIC_COVARIATES)
        return {
            "input_chunk_length": self.lookback,
            "output_chunk_length": self.horizon,
            "output_chunk_shift": 0,
            "uses_past_covariates": "past" in kinds,
            "uses_future_covariates": "future" in kinds,
            "uses_static_covariates": "static" in kinds,
            "likelihood_parameter_names": None,
            "feature_input_names": names,
            "input_names": names,
            "output_names": [OUTPUT_NAME],
            "state_input_names": [],
            "state_output_names": [],
            "state_input_shapes": None,
            "stepwise_state": False,
        }

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: str) -> StudentSpec:
        """Read a spec back; ``source`` names the file in errors.

        Raises
        ------
        ValueError
            If ``props`` does not carry the student format marker.
        """
        found = props.get(FORMAT_KEY)
        if found in FORMERLY:
            raise ValueError(
                f"{source} was exported by an earlier tsdistill_plugin ({FORMAT_KEY}={found!r}, "
                f"graph input {FORMERLY[found]!r}; now {INPUT_NAME!r}, the name Darts' "
                "run_onnx_prediction feeds); export the student again with to_onnx or "
                "`tsdistill export`."
            )
        if found != FORMAT:
            given = "no format marker" if found is None else f"format {found!r}"
            raise ValueError(
                f"{source} is not a student exported by tsdistill_plugin (expected metadata "
                f"{FORMAT_KEY}={FORMAT!r}, found {given}); export one with "
                "tsdistill_plugin.export.to_onnx(model, path) or `tsdistill export`."
            )
        return cls(
            lookback=int(props["lookback"]),
            horizon=int(props["horizon"]),
            components=tuple(json.loads(props["components"])),
            channel_independent=json.loads(props["channel_independent"]),
            freq=props["freq"] or None,
            name=props["name"],
            library=props["library"],
            teacher=props["teacher"],
            data_digest=props["data_digest"] or None,
            plugin_version=props["plugin_version"],
            **{
                f"{kind}_covariates": tuple(columns)
                for kind, columns in json.loads(props.get("covariates", "{}")).items()
            },
            quantiles=tuple(json.loads(props["quantiles"])) if "quantiles" in props else None,
        )

    def darts_columns(self, component: str) -> list[str]:
        """A component's forecast columns as Darts names them: ``OT_q0.100``, ... (Darts 0.48).

        A point student's column is the component itself.
        """
        if self.quantiles is None:
            return [component]
        return [f"{component}_q{q:.3f}" for q in self.quantiles]

    def neuralforecast_columns(self) -> list[str]:
        """The forecast columns as NeuralForecast names them: ``DistilledMLP-lo-80``, ...

        ``-median`` for 0.5, ``-lo-<level>`` and ``-hi-<level>`` for the ends of the central
        interval of ``<level>`` percent; a point student's column is its name.

        Examples
        --------
        >>> from tsdistill_plugin.export import StudentSpec
        >>> spec = StudentSpec(96, 24, ("OT",), True, "h", "DistilledMLP", "neuralforecast",
        ...                    "MLP", None, quantiles=(0.05, 0.1, 0.5, 0.9))
        >>> spec.neuralforecast_columns()
        ['DistilledMLP-lo-90', 'DistilledMLP-lo-80', 'DistilledMLP-median', 'DistilledMLP-hi-80']
        """
        if self.quantiles is None:
            return [self.name]
        names = []
        for q in self.quantiles:
            level = f"{round(200 * abs(q - 0.5), 6):g}"
            side = "median" if q == 0.5 else f"lo-{level}" if q < 0.5 else f"hi-{level}"
            names.append(f"{self.name}-{side}")
        return names
