"""The export folder's memory: which model/explainer/protocol it belongs to, one small JSON
per finished (image, method), and one record per run. Everything else is rebuilt from these.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError
from .plan import ITEMS_DIR, MANAGED_DIRS, MANAGED_FILES, STATE_DIR, ImageEntry, ItemPaths
from .writer import write_json

FORMAT = "l2r-export"
VERSION = 1


@contextlib.contextmanager
def state_lock(out: Path) -> Iterator[None]:
    """Serialise identity checks and rebuilds between shards sharing one folder (POSIX flock;
    elsewhere no lock, and shards should then be merged with --merge-only at the end)."""
    (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(out / STATE_DIR / "lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def identity_key(identity: dict[str, Any]) -> dict[str, Any]:
    """The parts that make results incomparable: weights, preprocessing, explainer, protocol.
    (Not the model file's path: moving a weights file does not change its results.)"""
    model = identity.get("model") or {}
    explainer = identity.get("explainer") or {}
    return {
        "model": {k: model.get(k) for k in ("fingerprint", "kind", "num_classes", "preprocessing")},
        "explainer": explainer.get("fingerprint"),
        "protocol": identity.get("protocol"),
    }


def _describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    a, b = identity_key(old), identity_key(new)
    if a["model"] != b["model"]:
        return (f"another model ({(old.get('model') or {}).get('name')}, fingerprint "
                f"{str(a['model']['fingerprint'])[:12]}) than the one given now "
                f"({(new.get('model') or {}).get('name')}, fingerprint {str(b['model']['fingerprint'])[:12]})")
    if a["explainer"] != b["explainer"]:
        return f"another explainer ({str(a['explainer'])[:12]} vs now {str(b['explainer'])[:12]})"
    return (f"another protocol ({(old.get('protocol') or {}).get('name')} vs now "
            f"{(new.get('protocol') or {}).get('name')}, or the same name with other settings)")


def _option_conflicts(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old_m, new_m = old.get("methods") or {}, new.get("methods") or {}
    return sorted(m for m in new_m if m in old_m and old_m[m] != new_m[m])


def wipe(out: Path, method: str | None = None) -> None:
    """Delete the results this tool manages (all, or one method's); never other files in OUT."""
    if method is None:
        for d in MANAGED_DIRS:
            if d != STATE_DIR:
                shutil.rmtree(out / d, ignore_errors=True)
        shutil.rmtree(out / ITEMS_DIR, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.remove(out / STATE_DIR / "identity.json")
        for f in MANAGED_FILES:
            with contextlib.suppress(OSError):
                os.remove(out / f)
        return
    for d in ("maps", "overlays", "curves", ITEMS_DIR):
        for dirpath, _dirs, files in os.walk(out / d):
            for name in files:
                if name.rsplit(".", 2)[-2:-1] == [method]:
                    with contextlib.suppress(OSError):
                        os.remove(Path(dirpath) / name)


def claim_folder(out: Path, identity: dict[str, Any], force: bool) -> dict[str, Any]:
    """Check (or record) which model/explainer/protocol OUT belongs to; returns the identity
    now recorded. Refuses a different one unless ``force``, which deletes the old results."""
    path = out / STATE_DIR / "identity.json"
    old = _read_json(path)
    if isinstance(old, dict) and old.get("format") == FORMAT:
        if identity_key(old) != identity_key(identity):
            if not force:
                raise ConfigError(
                    f"{out} already holds an export made with {_describe_change(old, identity)}. "
                    f"Rerun with the same settings to resume, choose another --out folder, or add --force "
                    f"to delete the previous results.")
            wipe(out)
            old = None
        else:
            conflicts = _option_conflicts(old, identity)
            if conflicts and not force:
                m = conflicts[0]
                raise ConfigError(
                    f"{out} already holds '{m}' results made with other options ({old['methods'][m]} vs now "
                    f"{identity['methods'][m]}). Use the same options, another --out folder, or --force to "
                    f"redo '{m}'.")
            for m in conflicts:
                wipe(out, m)
    elif (out / ITEMS_DIR).exists():
        if not force:
            raise ConfigError(f"{out}: export state without a valid identity file. Add --force to start again.")
        wipe(out)
    record = dict(identity)
    if isinstance(old, dict) and identity_key(old) == identity_key(identity):
        record["methods"] = {**(old.get("methods") or {}), **identity.get("methods", {})}
        record["created"] = old.get("created", identity.get("created"))
    write_json(path, record, durable=True, folder=out)
    return record


def read_identity(out: Path) -> dict[str, Any] | None:
    data = _read_json(out / STATE_DIR / "identity.json")
    return data if isinstance(data, dict) else None


def write_item(paths: ItemPaths, data: dict[str, Any]) -> None:
    """Written last for each (image, method): its presence means the result is complete."""
    write_json(paths.item, data, folder=paths.out)


def read_item(paths: ItemPaths) -> dict[str, Any] | None:
    data = _read_json(paths.item)
    return data if isinstance(data, dict) else None


def item_is_done(paths: ItemPaths, entry: ImageEntry, data: dict[str, Any] | None) -> bool:
    """Finished for this very file (same size and mtime) and none of its outputs is missing."""
    if not data or data.get("source") != entry.signature:
        return False
    if data.get("status") != "ok":
        return True  # an unreadable file stays unreadable until it changes
    return all((paths.out / rel).is_file() for rel in (data.get("map"), data.get("overlay")) if rel)


def read_all_items(out: Path) -> list[dict[str, Any]]:
    """Every committed item, sorted by (image, method)."""
    items = []
    root = out / ITEMS_DIR
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".json") and not name.startswith("."):
                data = _read_json(Path(dirpath) / name)
                if isinstance(data, dict) and "image" in data and "method" in data:
                    items.append(data)
    items.sort(key=lambda d: (d["image"], d["method"]))
    return items


def write_run_record(out: Path, name: str, record: dict[str, Any]) -> None:
    write_json(out / STATE_DIR / "runs" / f"{name}.json", record, folder=out)


def read_run_records(out: Path) -> list[dict[str, Any]]:
    folder = out / STATE_DIR / "runs"
    records = [_read_json(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return [r for r in records if isinstance(r, dict)]
