"""The one base of the settings dataclasses (loss, explainer, training): JSON round trips and a
clear refusal of unknown keys."""
from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, ClassVar, TypeVar

from .errors import ConfigError

C = TypeVar("C", bound="ConfigBase")


class ConfigBase:
    """Mixin for dataclasses of settings. ``to_dict`` gives JSON types (tuples as lists);
    ``from_dict`` refuses unknown keys, naming them and the known ones, and turns a constructor's
    TypeError/ValueError into a ConfigError naming ``source``."""

    config_name: ClassVar[str] = "config"  # names the settings in messages when no file does

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}  # type: ignore[call-overload]

    @classmethod
    def known_keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def check_keys(cls, d: dict[str, Any], source: str) -> None:
        unknown = sorted(set(d) - set(cls.known_keys()))
        if unknown:
            raise ConfigError(f"{source}: unknown settings {', '.join(unknown)}. "
                              f"Known: {', '.join(sorted(cls.known_keys()))}.")

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any], source: str | None = None) -> C:
        source = source or cls.config_name
        cls.check_keys(d, source)
        try:
            return cls(**cls.prepare(dict(d), source))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def prepare(cls, kwargs: dict[str, Any], source: str) -> dict[str, Any]:
        """Turn JSON values into constructor arguments (e.g. lists back into tuples)."""
        return kwargs
