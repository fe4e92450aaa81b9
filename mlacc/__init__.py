"""mlacc: a compiler and cost model for attention layers (MHA, GQA, MQA, MLA) on AI hardware."""


def _version() -> str:
    """The installed distribution's version (pyproject.toml is its one source), or, uninstalled, pyproject's own."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlacc")
    except PackageNotFoundError:  # imported from a checkout that was never installed (PYTHONPATH=.)
        import tomllib
        from pathlib import Path

        try:
            with open(Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as f:
                return str(tomllib.load(f)["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


def __getattr__(name: str) -> str:
    """`__version__`, looked up on first use: importlib.metadata adds ~25 ms that `mlacc --help` need not wait for."""
    if name == "__version__":
        value = globals()["__version__"] = _version()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
