"""Which methods the loaded model can run, and the options the user set for each (plain data, no Qt).

Both come from the registry: ``unavailable_reason`` says why a method cannot run, each method's
``OptionSpec`` list says which options a user may set and within which bounds.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from l2r_core.attribution.registry import OptionSpec, get_method, list_methods, unavailable_reason
from l2r_core.errors import ConfigError

from ..jobs import L2R
from .state import MethodChoice, OptionsState

LOAD_EXPLAINER_HINT = "Model > Load explainer..."
FALLBACK_METHOD = "gradcam"  # shown until a trained explainer is loaded


def method_choices(model: Any, explainer: Any) -> list[MethodChoice]:
    """Every registered method; those the model cannot run are disabled with the reason."""
    out: list[MethodChoice] = []
    for m in list_methods():
        reason = unavailable_reason(m, model, explainer)
        if reason and m.needs_explainer and "explainer" in reason:
            reason += f": load one first ({LOAD_EXPLAINER_HINT})"
        out.append(MethodChoice(m.name, m.display_name, not reason, reason))
    # the learned explainer first: it is the product's headline method
    out.sort(key=lambda c: (c.name != L2R, not c.enabled))
    return out


def pick_primary(choices: list[MethodChoice], wanted: str, model_name: str, has_explainer: bool) -> tuple[str, str]:
    """The method shown first for a newly loaded model and, when it is not the one asked for, a
    status line saying why (the app's own fallback is information, not an error)."""
    enabled = [c.name for c in choices if c.enabled]
    if has_explainer and L2R in enabled:
        return L2R, ""  # a freshly loaded explainer is what the user wants to see
    if wanted in enabled:
        return wanted, ""
    primary = fallback(choices)
    if not primary:
        return "", ""
    title = next(c.display_name for c in choices if c.name == primary)
    no_explainer = f"No trained explainer for {model_name}"
    usual = next((c for c in choices if c.name == FALLBACK_METHOD), None)
    if usual is not None and not usual.enabled:
        line = f"{usual.display_name} is not possible with this model: {usual.reason}. Showing {title} instead."
        return primary, line + (f" {no_explainer} ({LOAD_EXPLAINER_HINT} to add one)." if not has_explainer else "")
    if not has_explainer:
        return primary, f"{no_explainer}: showing {title} instead ({LOAD_EXPLAINER_HINT} to add one)."
    return primary, ""


def refuse(choices: list[MethodChoice], primary: str, method: str, reason: str
           ) -> tuple[list[MethodChoice], str, str]:
    """``method`` refused the model while running: the choices with it greyed out, the primary
    method (another one if it was that), and the status line that says so."""
    title = next((c.display_name for c in choices if c.name == method), method)
    choices = [replace(c, enabled=False, reason=reason) if c.name == method else c for c in choices]
    line = f"{title} is not possible with this model: {reason.strip().splitlines()[0] if reason else ''}"
    if primary == method:
        primary = fallback(choices)
        shown = next((c.display_name for c in choices if c.name == primary), "")
        line += f" Showing {shown} instead." if primary else " No other method can run."
    return choices, primary, line


def fallback(choices: list[MethodChoice]) -> str:
    """Grad-CAM when it can run, else the first method that can ("" when none can)."""
    enabled = [c.name for c in choices if c.enabled]
    return FALLBACK_METHOD if FALLBACK_METHOD in enabled else (enabled[0] if enabled else "")


def has_layer_option(method: str) -> bool:
    return any(spec.kind == "layer" for spec in get_method(method).options)


def coerce(spec: OptionSpec, value: Any, layers: tuple[str, ...] = ()) -> Any:
    """``value`` as the option's type and within its bounds; ConfigError when it cannot be."""
    if spec.kind in ("int", "float"):
        number = int(value) if spec.kind == "int" else float(value)
        if spec.minimum is not None:
            number = max(number, type(number)(spec.minimum))
        if spec.maximum is not None:
            number = min(number, type(number)(spec.maximum))
        return number
    if spec.kind == "bool":
        return bool(value)
    if spec.kind == "choice" and value not in spec.choices:
        raise ConfigError(f"{spec.title}: {value!r} is not one of {', '.join(map(str, spec.choices))}")
    if spec.kind == "layer" and value is not None and value not in layers:
        raise ConfigError(f"{spec.title}: this model has no layer '{value}'")
    return value


class MethodOptions:
    """The options set per method (only values that differ from the default, so equal settings
    give equal cache keys) and the layer names of the current model."""

    def __init__(self) -> None:
        self._chosen: dict[str, dict[str, Any]] = {}
        self.layers: tuple[str, ...] = ()
        self.layers_of: Any = None  # the model whose layers these are (or are being listed)

    def for_method(self, method: str) -> dict[str, Any]:
        """The options to call ``method`` with (those the user changed)."""
        return dict(self._chosen.get(method, {}))

    def value(self, method: str, name: str) -> Any:
        spec = get_method(method).option(name)
        default = spec.default if spec is not None else None
        return self._chosen.get(method, {}).get(name, default)

    def set(self, method: str, name: str, value: Any) -> bool:
        """Set one option; True when that changes what ``method`` computes."""
        spec = get_method(method).option(name)
        if spec is None:
            raise ConfigError(f"{get_method(method).display_name} has no option '{name}'")
        value = coerce(spec, value, self.layers)
        if value == self.value(method, name):
            return False
        chosen = self._chosen.setdefault(method, {})
        if value == spec.default:
            chosen.pop(name, None)
        else:
            chosen[name] = value
        return True

    def want_layers(self, model: Any, choices: list[MethodChoice]) -> bool:
        """True, once per model, when a method it can run has a layer option (the caller lists them)."""
        if model is self.layers_of or not any(c.enabled and has_layer_option(c.name) for c in choices):
            return False
        self.layers_of = model
        return True

    def set_layers(self, layers: list[str] | tuple[str, ...], model: Any) -> None:
        """``model``'s layer names; a chosen layer that is not among them is forgotten."""
        self.layers, self.layers_of = tuple(layers), model
        for method, chosen in self._chosen.items():
            for spec in get_method(method).options:
                if spec.kind == "layer" and chosen.get(spec.name) not in self.layers:
                    chosen.pop(spec.name, None)

    def state(self, method: str, title: str) -> OptionsState:
        if not method:
            return OptionsState()
        specs = get_method(method).options
        return OptionsState(method, title, specs, {s.name: self.value(method, s.name) for s in specs}, self.layers)
