"""``to_onnx``: a fitted student of either library as an ONNX file (see :mod:`.graph`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..teachers import library_of
from ._extra import import_extra
from .folding import fold
from .metadata import StudentSpec
from .sources import ExportSource, darts_source, neuralforecast_source


def export_source(model: object, name: str | None = None) -> ExportSource:
    """Read the student out of a fitted model of either library (see :mod:`.sources`)."""
    library = library_of(model)
    if library == "darts":
        return darts_source(model)
    if library == "neuralforecast":
        return neuralforecast_source(model, name)
    raise TypeError(
        "to_onnx expects a fitted tsdistill_plugin.darts.DistilledMLPModel, a fitted "
        "tsdistill_plugin.neuralforecast.DistilledMLP / DistilledMLPMultivariate or a "
        f"NeuralForecast holding one, got {type(model).__name__}."
    )


def to_onnx(
    model: object,
    path: str | Path,
    *,
    components: Sequence[str] | None = None,
    freq: str | None = None,
    name: str | None = None,
) -> Path:
    """Export a fitted student as an ONNX graph of two matrix products.

    The graph takes raw windows ``past_target [batch, lookback, channels]`` (float32, the
    data's own scale) and returns ``forecast [batch, horizon, channels]`` in that scale
    (``[batch, horizon, channels, quantiles]`` for a Darts student with a
    ``QuantileRegression`` or a NeuralForecast one with a multi-quantile loss, the levels in
    the metadata's ``quantiles``); the
    batch axis is dynamic (and the channel axis, for NeuralForecast's channel-independent
    ``DistilledMLP``). The moving-average decomposition, the ``"mean"`` shift and eval-mode
    BatchNorm are folded into the weights; RevIN's and NeuralForecast's ``scaler_type``
    statistics stay graph ops. Lookback, horizon, components, frequency, plugin version,
    teacher and a digest of the training data are written into the file's metadata, with
    the ``darts.onnx_spec`` that Darts' ``darts.utils.onnx.run_onnx_prediction`` reads (it
    runs the file as it runs Darts' own ``to_onnx`` files).

    Parameters
    ----------
    model
        A fitted ``DistilledMLPModel`` (Darts), a fitted ``DistilledMLP`` /
        ``DistilledMLPMultivariate`` (e.g. ``nf.models[0]``), or a fitted ``NeuralForecast``
        holding one (which also gives series ids and frequency).
    path
        Where to write the ``.onnx`` file.
    components
        Channel names, overriding the recorded ones (as many as the student has channels).
    freq
        pandas frequency string, overriding the recorded one.
    name
        With a ``NeuralForecast`` holding several students, the alias of the one to export.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from darts import TimeSeries
    >>> from tsdistill_plugin.darts import DistilledMLPModel
    >>> from tsdistill_plugin.export import Predictor, to_onnx
    >>> series = TimeSeries.from_values(np.sin(np.arange(300) / 4).astype("float32"))
    >>> model = DistilledMLPModel(48, 12, hidden_size=16, n_epochs=1, random_state=0)
    >>> model = model.fit(series, verbose=False)
    >>> path = to_onnx(model, Path(tempfile.mkdtemp()) / "student.onnx")
    >>> forecast = Predictor.load(path, threads=1).predict(series.values()[-48:])
    >>> expected = model.predict(12, series=series, verbose=False).values()
    >>> forecast.shape, np.allclose(forecast, expected, atol=1e-5)
    ((12, 1), True)
    """
    onnx = import_extra("onnx", "exporting a student to ONNX")
    from .graph import build_graph

    source = export_source(model, name)
    student = source.student
    if components is not None:
        components = [str(c) for c in components]
        if not source.channel_independent and len(components) != student.n_channels:
            raise ValueError(
                f"components has {len(components)} names but the student has "
                f"{student.n_channels} channels; pass one name per channel."
            )
    levels = 1 if source.quantiles is None or not source.level_major else len(source.quantiles)
    spec = StudentSpec(
        lookback=student.input_len,
        horizon=student.horizon // levels,  # NeuralForecast's head: H Q values
        components=tuple(components if components is not None else source.components),
        channel_independent=source.channel_independent,
        freq=freq if freq is not None else source.freq,
        name=source.name,
        library=source.library,
        teacher=source.provenance.get("teacher", "unknown (not recorded at fit)"),
        data_digest=source.provenance.get("data_digest"),
        plugin_version=__version__,
        **source.covariate_names,
        quantiles=source.quantiles,
    )
    n_channels = None if source.channel_independent else student.n_channels
    proto = build_graph(fold(student), spec, n_channels, source.scaler, source.level_major)
    path = Path(path)
    onnx.save(proto, path)
    return path
