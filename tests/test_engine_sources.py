"""Per-source hierarchy: bands and Demucs stems give each level its own CLAP embedding and tokens."""

from __future__ import annotations

import numpy as np
import pytest

from core.cli import main
from core.export import read_params
from core.params import LEVELS


@pytest.fixture
def street(tiny_params, samples):
    return tiny_params.replace(audio_path=str(samples["street"]))


def test_stems_give_each_level_its_own_tokens_and_a_different_image(tiny_engine, street):
    mix = tiny_engine.generate(street)
    stems = tiny_engine.generate(street.replace(sources="stems"))
    assert mix.trace.level_token_counts == {"foreground": 35, "background": 21, "ambience": 21}
    heard_levels = set(stems.trace.heard)
    assert heard_levels and heard_levels <= set(LEVELS) and "mix" not in heard_levels
    for level in heard_levels:
        assert stems.trace.level_token_counts[level] == 77  # a whole sequence per source
    assert not heard_levels & set(stems.trace.skipped_levels)  # a skipped level has no tokens
    assert not np.array_equal(np.asarray(mix.image), np.asarray(stems.image))
    # the schedule only uses levels that have a source
    ran = {level for blend in stems.trace.step_levels for level in blend}
    assert ran <= heard_levels


def test_bands_route_by_frequency(tiny_engine, tiny_params, samples):
    result = tiny_engine.generate(tiny_params.replace(audio_path=str(samples["tones"]), sources="bands"))
    assert set(result.trace.heard) == {"foreground", "background", "ambience"}
    listening = tiny_engine.listen(result.params)
    assert listening.sources.part_levels == {"low": "ambience", "mid": "background", "high": "foreground"}
    embeddings = [tiny_engine.clap.embed_audio([w])[0] for w in listening.sources.levels.values()]
    assert not np.allclose(embeddings[0].numpy(), embeddings[1].numpy())  # different audio per level


def test_separation_runs_once_across_slider_changes(tiny_engine, street):
    params = street.replace(sources="stems", window_start=0.5)
    tiny_engine.generate(params)
    calls = tiny_engine.separator.calls
    for changes in (
        {"level_weights": (1.0, 0.1, 0.1)},
        {"switch_points": (0.1, 0.9)},
        {"norm_target": 10.0},
        {"stem_map": (("drums", "foreground"), ("bass", "ambience"), ("other", "ambience"), ("vocals", "background"))},
        {"seed": 3},
    ):
        tiny_engine.generate(params.replace(**changes))
    assert tiny_engine.separator.calls == calls
    tiny_engine.generate(params.replace(window_start=1.0))  # a new window is new audio
    assert tiny_engine.separator.calls == calls + 1


def test_silent_levels_are_skipped_not_divided(tiny_engine, tiny_params, samples):
    # the engine hum has nothing above 4 kHz: the foreground band is near-silent
    params = tiny_params.replace(audio_path=str(samples["engine"]), sources="bands", switch_style="smooth")
    result = tiny_engine.generate(params.replace(crossfade=0.3))
    assert "foreground" in result.trace.skipped_levels
    assert "foreground" not in result.trace.heard
    assert all("foreground" not in blend for blend in result.trace.step_levels)
    # the cross-fade into the silent level is renormalised over the levels left: all background
    assert result.trace.step_levels[5:] == [{"background": 1.0}] * 3 + [{}] * 2
    assert np.isfinite(result.trace.ratios).all()


def test_cli_sources_flag(tmp_path, samples):
    out = tmp_path / "stems.png"
    assert (
        main(
            [
                "generate",
                "--audio",
                str(samples["street"]),
                "--models",
                "tiny",
                "--sources",
                "stems",
                "--stem-map",
                "vocals=foreground,drums=background,other=background,bass=ambience",
                "--steps",
                "4",
                "--size",
                "64x64",
                "--seed",
                "1",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    params = read_params(out)
    assert params.sources == "stems" and dict(params.stem_map)["vocals"] == "foreground"


def test_hear_parts_lists_every_stem_and_band(tiny_engine, street):
    stems = tiny_engine.hear_parts(street.replace(sources="stems"))
    assert set(stems) == {"drums", "bass", "other", "vocals"}
    assert all(1 <= len(labels) <= street.top_k for labels in stems.values())
    bands = tiny_engine.hear_parts(street.replace(sources="bands"))
    assert set(bands) == {"low", "mid", "high"}
    assert set(tiny_engine.hear_parts(street)) == {"mix"}
    assert tiny_engine.hear_parts(street.replace(audio_path=None)) == {}


def test_status_reports_the_stages_before_denoising(tiny_engine, street):
    events: list = []
    tiny_engine.generate(street.replace(sources="stems", window_start=2.0), on_status=events.append)
    seen = [str(e) for e in events]  # each event's sentence, for a progress bar
    names = [e.name for e in events]
    assert names.index("audio") < names.index("sources") < names.index("clap") < names.index("denoise")
    assert seen[0] == "Reading the audio"
    assert "Separating stems (Demucs)" in seen
    chunks = [s for s in seen if s.startswith("Separating stems ") and "/" in s]
    assert chunks and chunks[-1].split()[-1].split("/")[0] == chunks[-1].split("/")[-1]  # ends at n/n
    assert seen.index("Listening with CLAP") < seen.index("Denoising")


def test_hear_parts_weighs_labels_as_the_listening_does(tiny_engine, tiny_params):
    """The compare view's labels for the mix are the conditioning's own: same top-k, same temperature."""
    params = tiny_params.replace(temperature=0.3, top_k=3)
    heard = tiny_engine.hear_parts(params)["mix"]
    assert heard == tiny_engine.listen(params).heard["mix"] and len(heard) >= 2  # weights that a temperature changes
