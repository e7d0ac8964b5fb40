"""The sidebar's fast-path toggles: one widget key per preview-only path of core/fastpaths.py (which
declares each one's label, help and default), and what this session's previews ask for."""

from __future__ import annotations

from core.fastpaths import FAST_PATHS, FastSettings

FAST_KEYS: dict[str, str] = {name: f"ui_fast_{name}" for name, path in FAST_PATHS.items() if path.toggle}
FAST_DEFAULTS: dict[str, bool] = {key: FAST_PATHS[name].default for name, key in FAST_KEYS.items()}


def fast_settings() -> FastSettings:
    """The fast paths this session's previews ask for (the sidebar's toggles); renders take none."""
    from studio import bindings

    return FastSettings(
        **{name: bool(bindings.value(key, FAST_PATHS[name].default)) for name, key in FAST_KEYS.items()}
    )


__all__ = ["FAST_DEFAULTS", "FAST_KEYS", "fast_settings"]
