"""The Edit page's Keep-structure mode (AppTest, tiny models): its sliders show only in that mode,
their labels come from the knobs' declarations, and the edit runs with them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.edit.params import EditKnobs
from core.knobs import knob_of
from tests.studio_helpers import app, errors, ok, session

STRUCTURE_SLIDERS = {"edit_feature_injection", "edit_attention_injection"}


def _photo() -> bytes:
    y, x = np.mgrid[0:64, 0:64]
    buf = io.BytesIO()
    Image.fromarray(np.stack([x * 4, y * 4, (x * y) % 256], -1).astype(np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def _sliders(at) -> set[str]:
    return {s.key for s in at.slider}


@pytest.mark.slow
def test_structure_mode_shows_its_sliders_and_edits_with_them():
    at = app(w_steps=6, edit_denoise=0.5)
    at.switch_page("../pages/edit.py").run()
    ok(at)
    mode = at.radio(key="edit_mode")
    assert mode.value == "variation" and list(mode.options) == ["Variation", "Keep structure"]
    assert not STRUCTURE_SLIDERS & _sliders(at) and "edit_denoise" in _sliders(at)
    assert "edit_feather" not in _sliders(at)  # the whole photo (the default region) has no edge to soften
    at.radio(key="edit_mask_source").set_value("box").run()
    assert "edit_feather" in _sliders(at)
    at.radio(key="edit_mask_source").set_value("none").run()

    mode.set_value("structure").run()
    assert STRUCTURE_SLIDERS <= _sliders(at)
    fields = {f.name: knob_of(f) for f in EditKnobs.__dataclass_fields__.values()}
    feature = at.slider(key="edit_feature_injection")
    assert feature.label == fields["feature_injection"].label and feature.value == 0.8
    at.slider(key="edit_attention_injection").set_value(0.25).run()

    at.file_uploader(key="edit_photo").set_value(("room.png", _photo(), "image/png")).run()
    at.button(key="edit_run").click().run()
    ok(at)
    assert not errors(at), errors(at)
    result = session(at).edit.result.result
    assert result.params.edit.edit_mode == "structure" and result.params.edit.attention_injection == 0.25
    assert result.injected.feature_steps == [0, 1] and result.injected.attention_steps == []  # 3 steps run
    assert (
        result.notes[-1] == "keep structure: the photo's features injected in steps 1-2, its self-attention in no step"
    )
    shown = ":material/info: Keep structure: the photo's features injected in steps 1-2, its self-attention in no step."
    assert shown in [c.value for c in at.caption]  # a sentence on the page

    at.radio(key="edit_mode").set_value("variation").run()
    assert not STRUCTURE_SLIDERS & _sliders(at)
