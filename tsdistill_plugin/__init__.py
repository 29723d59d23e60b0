"""tsdistill_plugin: TimeDistill knowledge distillation for Darts and NeuralForecast.

``tsdistill_plugin.core`` is plain PyTorch. The integrations live in
``tsdistill_plugin.darts`` and ``tsdistill_plugin.neuralforecast`` and import their library only
when imported themselves.
"""

from .teachers import as_teacher

__version__ = "0.1.0"

__all__ = ["__version__", "as_teacher"]
