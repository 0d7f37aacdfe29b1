"""Hooks that are always released: a session registers forward/backward hooks and attribute
changes on modules and undoes all of them on exit, also when the body raised."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

_MISSING = object()


class HookSession:
    """Context manager owning hook handles and temporary attribute changes.

    ``with HookSession() as hs: hs.forward(module, fn) ...`` - every handle is removed and every
    attribute restored (in reverse order) when the block ends, whatever happens inside it."""

    def __init__(self) -> None:
        self._handles: list[RemovableHandle] = []
        self._saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> "HookSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def forward(self, module: nn.Module, fn: Callable[..., Any]) -> RemovableHandle:
        h = module.register_forward_hook(fn)
        self._handles.append(h)
        return h

    def forward_pre(self, module: nn.Module, fn: Callable[..., Any]) -> RemovableHandle:
        h = module.register_forward_pre_hook(fn)
        self._handles.append(h)
        return h

    def backward(self, module: nn.Module, fn: Callable[..., Any]) -> RemovableHandle:
        h = module.register_full_backward_hook(fn)
        self._handles.append(h)
        return h

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        """Set ``obj.name = value`` until the session closes (e.g. ``attn.fused_attn = False``)."""
        # Read the instance's own value so a class default is restored by deletion, not copied.
        own = obj.__dict__.get(name, _MISSING) if hasattr(obj, "__dict__") else _MISSING
        self._saved.append((obj, name, own))
        setattr(obj, name, value)

    def close(self) -> None:
        while self._handles:
            self._handles.pop().remove()
        while self._saved:
            obj, name, old = self._saved.pop()
            if old is _MISSING:
                try:
                    delattr(obj, name)
                except AttributeError:
                    pass
            else:
                setattr(obj, name, old)


def first_tensor(value: Any) -> torch.Tensor:
    """Modules may return tuples or lists; the activation is the first tensor in them."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            if isinstance(v, torch.Tensor):
                return v
    raise TypeError(f"expected a tensor output, got {type(value).__name__}")


def record(session: HookSession, module: nn.Module, store: list[torch.Tensor], use_input: bool = False) -> None:
    """Append the module's output (or its first input) to ``store`` on every call."""
    if use_input:
        session.forward_pre(module, lambda _m, args: store.append(first_tensor(args)))
    else:
        session.forward(module, lambda _m, _args, out: store.append(first_tensor(out)))
