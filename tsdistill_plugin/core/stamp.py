"""What a saved student records about itself, checked when it is loaded.

A student module's state dict carries a stamp (its ``_extra_state``: JSON bytes in a ``uint8``
tensor, since NeuralForecast saves nothing but tensors): the version of ``tsdistill_plugin`` that
saved it and a digest of the student network's weights. Loading refuses a state saved by a newer
plugin (whose format this one may not read right) and weights that differ from their digest: a
file corrupted or edited after saving, which neither library's format notices (both read tensor
bytes unchecked, and such a file forecasts garbage without a word). The digest detects accidents,
not an attacker, who can recompute it; code hidden in a saved file is kept out by the libraries'
own safe loading (Darts' restricted unpickler, NeuralForecast's safetensors and JSON).

A Darts student also records the version in its pickled model object, which is read before
its checkpoint; the version check itself is :func:`tsdistill_plugin._version.check_version`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .. import _version

STAMP_KEY = "_extra_state"
"""Where ``torch`` puts a module's extra state in its state dict."""
VERSION_FIELD = "tsdistill_plugin"
"""The field of a stamp holding the version of the plugin that saved it."""


def weights_digest(state: Mapping[str, Tensor]) -> str:
    """Return a hex digest of a state dict's names, dtypes, shapes and exact bytes.

    The digest is the same on every device.
    """
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class StampedStudent(nn.Module):
    """Base of the integrations' student modules, whose state dict carries a stamp.

    :meth:`load_state_dict` checks the stamp before anything is loaded.

    Attributes
    ----------
    network
        Name of the submodule whose weights the digest covers (the student network, whose
        weights make the forecasts).
    saved_name
        What the user knows the saved module as, for messages (by default its class name).
    training_provenance
        What the last fit trained on (teacher, data digest, plugin version, ...), saved with
        the stamp where the library saves nothing but tensors (NeuralForecast), read by the
        exporter; ``None`` when not recorded here.
    """

    network: str = "student"
    saved_name: str | None = None
    training_provenance: dict | None = None

    def get_extra_state(self) -> Tensor:
        """Return the stamp and the training provenance as JSON bytes.

        The stamp is the plugin version and the network's weights digest.
        """
        weights = getattr(self, self.network).state_dict()
        stamp = {
            "provenance": self.training_provenance,
            VERSION_FIELD: _version.__version__,
            "weights": weights_digest(weights),
        }
        return torch.tensor(list(json.dumps(stamp).encode()), dtype=torch.uint8)

    def set_extra_state(self, state: Tensor) -> None:
        """Restore the training provenance (:meth:`load_state_dict` has checked the stamp)."""
        stamp = _read_stamp(state, f"the saved {self._saved_name()}")
        self.training_provenance = stamp.get("provenance")

    def _saved_name(self) -> str:
        return self.saved_name or type(self).__name__

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """``nn.Module.load_state_dict`` after checking the stamp, if the state has one.

        Raises
        ------
        ValueError
            When the state was saved by a newer plugin, its weights differ from their digest,
            or they do not fit this module (a file altered after saving).
        """
        what = f"the saved {self._saved_name()}"
        if STAMP_KEY in state_dict:
            stamp = _read_stamp(state_dict[STAMP_KEY], what)
            _version.check_version(stamp.get(VERSION_FIELD), what)
            prefix = f"{self.network}."
            weights = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
            if "weights" in stamp and weights_digest(weights) != stamp["weights"]:
                raise ValueError(
                    f"the weights of {what} differ from those it was saved with: the file is "
                    "corrupt or was altered after saving; save the student again, or copy the "
                    "file again from its source."
                )
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except RuntimeError as error:
            raise ValueError(
                f"the weights of {what} do not fit the student built from its saved "
                f"settings ({error}); the file is corrupt or its settings were altered after "
                "saving: save the student again, or copy the file again from its source."
            ) from error


@contextlib.contextmanager
def reading_saved(
    path: str, what: str, errors: tuple[type[Exception], ...], fix: str = ""
) -> Iterator[None]:
    """Turn the library's error for a saved student it cannot decode into one clear error.

    Parameters
    ----------
    path
        The file being loaded.
    what
        What it should hold (the student's class name).
    errors
        The library's exceptions for an undecodable file.
    fix
        More advice for the message.

    Raises
    ------
    ValueError
        When one of ``errors`` is raised while loading.
    """
    try:
        yield
    except errors as error:
        raise ValueError(
            f"{path} could not be read as a saved {what}: {error} The file is corrupt or was "
            "altered after saving: save the student again, or copy the file again from its "
            f"source{fix}."
        ) from error


def _read_stamp(raw: object, what: str) -> dict[str, Any]:
    try:
        stamp = json.loads(bytes(torch.as_tensor(raw).to(torch.uint8).tolist()).decode())
    except (TypeError, ValueError, RuntimeError) as error:
        stamp = error
    if not isinstance(stamp, dict):
        raise ValueError(
            f"the stamp of {what} is unreadable: the file is corrupt or was altered after "
            "saving; save the student again, or copy the file again from its source."
        )
    return stamp
