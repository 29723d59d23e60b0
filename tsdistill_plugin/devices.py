"""Device checks shared by the integrations (both train through PyTorch Lightning)."""

from __future__ import annotations

import torch


def check_accelerator(accelerator: object, argument: str) -> None:
    """Reject an accelerator that this machine does not have, before any training starts.

    Parameters
    ----------
    accelerator
        What the user asked Lightning for: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"cuda"``,
        ``"mps"``, another registered name, or a Lightning ``Accelerator`` instance.
    argument
        How the user passed it (e.g. ``"pl_trainer_kwargs['accelerator']"``), for the message.

    Raises
    ------
    ValueError
        When the accelerator is known to Lightning but not available here.
    """
    from pytorch_lightning.accelerators import Accelerator, AcceleratorRegistry

    if isinstance(accelerator, Accelerator):
        available, name = accelerator.is_available(), type(accelerator).__name__
    elif accelerator in ("auto", None):
        return
    elif accelerator == "gpu":
        available, name = torch.cuda.is_available() or torch.backends.mps.is_available(), "gpu"
    elif accelerator in AcceleratorRegistry:
        name = accelerator
        available = AcceleratorRegistry[accelerator]["accelerator"].is_available()
    else:
        return
    if not available:
        raise ValueError(
            f"{argument}={name!r} is not available on this machine; use 'cpu', or 'auto' to "
            "take whatever device exists."
        )
