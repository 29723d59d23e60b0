"""The plugin's version and the check that refuses what a newer version saved.

This is the one place the version is written (``pyproject.toml`` reads it from here). No
torch: the ``Predictor`` uses it.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

__version__ = "0.1.0"


def check_version(saved: object, what: str) -> None:
    """Refuse what a newer plugin saved.

    Its format may have changed in ways this version reads wrongly.

    Parameters
    ----------
    saved
        The version recorded in what is loaded; ``None`` (saved before versions were recorded)
        passes.
    what
        What is being loaded, for the message (e.g. ``"this DistilledMLPModel file"``).

    Raises
    ------
    ValueError
        Naming both versions and the upgrade that reads it, or an unreadable version.
    """
    if saved is None:
        return
    try:
        newer = Version(str(saved)) > Version(__version__)
    except InvalidVersion as error:
        raise ValueError(
            f"{what} names an unreadable plugin version {saved!r}; the file is corrupt or was "
            "edited: save the student again, or copy the file again from its source."
        ) from error
    if newer:
        raise ValueError(
            f"{what} was saved by tsdistill_plugin {saved}, newer than the installed "
            f"{__version__}, whose format this version may not read right; upgrade the plugin "
            f"to load it: pip install --upgrade 'tsdistill-plugin>={saved}'."
        )
