"""Compare, Spectrogram, Gates and Generate as a hands-on review met them: errors that follow the
settings, the queue's words about one's own work, what a text-only image says, user text shown as
typed (never as Markdown), the trace's file name, and the CLIP scores in a narrow column."""

from __future__ import annotations

from tests.studio_helpers import APP, TIMEOUT, AppTest, app, errors, ok, render, session, wav


def _bad_crossovers(at: AppTest) -> AppTest:
    """Bands with the low crossover above the high one, set on Generate as a user does."""
    at.radio(key="w_sources").set_value("bands").run()
    at.number_input(key="w_crossover_low").set_value(16000.0).run()
    at.number_input(key="w_crossover_high").set_value(15000.0).run()
    ok(at)
    return at


def test_compare_drops_a_settings_error_once_they_are_fixed_on_generate():
    at = _bad_crossovers(app())
    at.switch_page("../pages/compare.py").run()
    at.button(key="cmp_run").click().run()
    ok(at)
    assert any("**Crossovers**" in e and "low crossover must be below" in e for e in errors(at)), errors(at)
    assert session(at).compare.job is None  # refused before anything ran

    at.switch_page("../pages/generate.py").run()
    at.number_input(key="w_crossover_low").set_value(500.0).run()
    at.switch_page("../pages/compare.py").run()
    ok(at)
    assert not errors(at), "the Run error outlived the fix"
    assert not session(at).compare.input_problem and session(at).compare.result is None


def test_compare_drops_an_audio_error_once_a_sample_is_chosen():
    at = app()
    at.radio(key="w_audio_source").set_value("upload").run()  # nothing uploaded yet
    at.switch_page("../pages/compare.py").run()
    at.button(key="cmp_run").click().run()
    ok(at)
    assert [t.value for t in at.toast] == ["Nothing to compare without a usable clip: choose one on the Generate page."]
    assert [i.value for i in at.info] == ["Upload a clip first, or pick a sample."] and not errors(at)  # a hint
    assert not [c.value for c in at.caption if "Press **Run**" in c.value]  # not beside "upload a clip first"

    at.switch_page("../pages/generate.py").run()
    at.radio(key="w_audio_source").set_value("sample").run()
    at.switch_page("../pages/compare.py").run()
    ok(at)
    assert not errors(at), errors(at)


def test_compare_says_once_why_a_clip_cannot_be_used():
    """A text file named .wav: the header does not say "none", the reason is one error (as on
    Generate), and Run points at it instead of saying it again."""
    at = app()
    at.radio(key="w_audio_source").set_value("upload").run()
    at.file_uploader(key="w_upload").set_value(("notes.wav", b"not a sound at all", "audio/wav")).run()
    at.switch_page("../pages/compare.py").run()
    ok(at)
    assert any("**audio:** a clip (cannot be used) ·" in m.value for m in at.markdown)
    (said,) = errors(at)
    assert said.startswith("**Audio problem**: ") and "notes.wav" in said
    assert not [c.value for c in at.caption if "Press **Run**" in c.value]  # only the error: Run would refuse
    at.button(key="cmp_run").click().run()
    ok(at)
    assert errors(at) == [said]  # not a second red box: a toast points at it
    assert [t.value for t in at.toast] == [
        "Nothing to compare without a usable clip: the message under Run says why this one cannot be used."
    ]
    assert session(at).compare.job is None


def test_a_comparison_uses_gallery_numbers_only_when_kept_and_is_kept_once():
    """Numbers are the Gallery's: a comparison nobody keeps leaves no gap between two renders, and
    Keep adds its images once, numbered after what the Gallery holds."""
    at = render(app(cmp_modes=["mix"], cmp_alone=False, cmp_without=True))
    at.switch_page("../pages/compare.py").run()
    at.button(key="cmp_run").click().run()
    ok(at)
    compared = session(at).compare.result
    assert len(compared.items) == 2 and not session(at).compare_kept(compared)
    at.switch_page("../pages/generate.py").run()
    render(at)
    assert [h.id for h in session(at).history] == [1, 2]  # the comparison's two images took no numbers

    at.switch_page("../pages/compare.py").run()
    at.button(key="cmp_keep").click().run()
    ok(at)
    history = session(at).history
    assert [(h.id, h.kind) for h in history] == [(1, "render"), (2, "render"), (3, "compare"), (4, "compare")]
    assert [h.png for h in history[2:]] == [i.png for i in compared.items.values()]
    assert [t.value for t in at.toast] == ["Added 2 images to the Gallery"]
    assert at.button(key="cmp_keep").disabled  # kept: a second click cannot add them again
    assert session(at).keep_compare(compared) == 0 and len(session(at).history) == 4


def test_keep_is_offered_again_for_a_comparison_image_deleted_from_the_gallery():
    """'In the Gallery' locked Keep for good, although the Gallery's Delete (or newer images pushing
    them out) had taken the images away: only the missing ones are added again, under new numbers."""
    at = render(app(cmp_modes=["mix"], cmp_alone=False, cmp_without=True))
    at.switch_page("../pages/compare.py").run()
    at.button(key="cmp_run").click().run()
    at.button(key="cmp_keep").click().run()
    ok(at)
    compared = session(at).compare.result
    first, second = (h.id for h in session(at).history[-2:])
    session(at).forget({first})
    at.run()
    assert not at.button(key="cmp_keep").disabled
    assert not [c.value for c in at.caption if c.value == "In the Gallery."]
    at.button(key="cmp_keep").click().run()
    ok(at)
    assert [t.value for t in at.toast] == ["Added 1 image to the Gallery"]
    history = session(at).history
    assert [h.id for h in history[-2:]] == [second, second + 1]  # the deleted one again, the other not twice
    assert history[-1].png == next(iter(compared.items.values())).png
    assert at.button(key="cmp_keep").disabled


def test_spectrogram_says_what_is_wrong_with_the_crossovers_and_starts_nothing():
    at = _bad_crossovers(app())
    at.switch_page("../pages/spectrogram.py").run()
    ok(at)
    said = errors(at)
    assert len(said) == 1 and "**Crossovers**" in said[0] and "Change this setting" in said[0], said
    assert "Unexpected error" not in said[0]
    assert session(at).listen.job is None  # no listen was started with settings the engine refuses


def _render_behind(at: AppTest, owner: str, kind: str) -> str:
    """Press Render while `owner`'s `kind` job holds the engine thread; the render's status while it waits."""
    import threading

    from studio import jobs
    from tests.waiting import wait_until

    gate, seen = threading.Event(), []
    ahead = jobs.Job(kind, lambda job: gate.wait(60)).start(owner=owner)
    wait_until(lambda: ahead.future.running(), f"the {kind} ahead to run")

    def let_go() -> None:  # once the render says it waits (the page follows it meanwhile), free the engine
        try:
            wait_until(lambda: (job := session(at).render.job) is not None and job.waiting, "the render to wait")
            seen.append(session(at).render.job.status)
        finally:
            gate.set()

    helper = threading.Thread(target=let_go)
    helper.start()
    try:
        render(at)
    finally:
        gate.set()
        helper.join(60)
    assert ahead.wait(60) and session(at).render.result is not None
    return seen[0]


def test_a_render_waiting_behind_the_sessions_own_compare_says_so():
    from studio import jobs

    at = app(ui_live_preview=False)
    mine = _render_behind(at, session(at).queue_key, "compare")
    assert mine == "Waiting: the engine is busy with your Compare; this starts as soon as it is free."
    assert _render_behind(at, "another-tab", "compare") == jobs.WAITING  # someone else's: as before


def _captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def test_a_text_only_image_says_no_audio_instead_of_audio_settings_that_did_nothing():
    at = app(w_audio_source="none", w_sources="stems")
    preview = [c for c in _captions(at) if c.startswith("3 steps · 64×64")]
    assert preview == [f"3 steps · 64×64 · no audio · denoise {preview[0].split('denoise ')[1]}"], preview
    render(at)
    assert any(c.startswith("seed **") and c.endswith(" · no audio") for c in _captions(at)), _captions(at)

    at.switch_page("../pages/gates.py").run()
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Audio strength"], metrics["Norm target"]) == ("no audio", "—")
    line = next(c for c in _captions(at) if c.startswith("seed **"))
    assert line.endswith(" · no audio") and not any(w in line for w in ("weights", "switch", "stems")), line
    assert [i.value for i in at.info if "heard no audio" in i.value]  # said, instead of four empty charts
    assert not at.get("plotly_chart")
    at.switch_page("../pages/generate.py").run()
    at.radio(key="w_audio_source").set_value("sample").run()
    render(at)
    at.switch_page("../pages/gates.py").run()  # the newest image heard a clip: its charts are back
    keys = {c.key for c in at.get("plotly_chart")}
    assert {"fig_gates", "fig_ratio", "fig_levels", "fig_norms"} <= keys and not [
        i for i in at.info if "heard no audio" in i.value
    ]


def test_gates_names_the_audio_settings_of_an_image_that_heard_a_clip():
    at = app(w_sources="bands")
    render(at)
    at.switch_page("../pages/gates.py").run()
    ok(at)
    assert {m.label: m.value for m in at.metric}["Audio strength"] == "1×"
    line = next(c for c in _captions(at) if c.startswith("seed **"))
    assert line.endswith(" · bands · weights 0.70/0.50/0.30 · switch 0.4/0.7 (hard)"), line


def test_gates_says_which_knob_kept_the_audio_branch_silent_and_counts_the_layers_it_spoke_in():
    """A clip heard but every gate at 0 (or strength 0): the charts were empty with no word of why,
    and "Adapter layers 7" counted layers whose group was switched off (down, by default)."""

    def gates(**state) -> tuple[dict[str, str], list[str]]:
        at = app(**state)
        render(at)
        at.switch_page("../pages/gates.py").run()
        ok(at)
        assert at.selectbox(key="gates_pick").value.startswith("Render #")
        return {m.label: str(m.value) for m in at.metric}, [i.value for i in at.info]

    metrics, infos = gates()  # defaults: down 0, mid and up 1: 5 of the tiny UNet's 7 layers
    assert metrics["Adapter layers"] == "5 of 7" and infos == []
    metrics, infos = gates(w_gate_down=0.0, w_gate_mid=0.0, w_gate_up=0.0)
    assert metrics["Adapter layers"] == "0 of 7"
    assert infos == ["Every gate scale (Down, Mid, Up) is 0: no adapter ran. Raise one on the Generate page."]
    metrics, infos = gates(w_audio_strength=0.0)
    assert infos == ["Audio strength is 0: the audio branch adds nothing. Raise it on the Generate page."]


def test_silent_branch_names_zero_level_weights_and_near_silent_levels():
    import dataclasses

    import numpy as np

    from core.params import GenerationParams
    from core.trace import Trace
    from studio.traces import silent_branch

    params = GenerationParams(audio_path="clip.wav")
    ran = Trace(steps=2, ratios=np.array([[0.0, 0.3], [0.0, 0.2]], dtype=np.float32))
    assert silent_branch(params, ran) is None
    quiet = dataclasses.replace(ran, ratios=np.zeros((2, 2), dtype=np.float32))
    assert silent_branch(params.replace(level_weights=(0.0, 0.0, 0.0)), quiet).startswith("Every level weight is 0")
    skipped = dataclasses.replace(quiet, skipped_levels=["foreground", "background", "ambience"])
    assert silent_branch(params, skipped).startswith("Every level's sound was near-silent")
    assert silent_branch(params, dataclasses.replace(quiet, skipped_levels=["ambience"])).startswith(
        "The audio branch added nothing"
    )


def test_the_spectrogram_says_how_long_the_window_heard_really_was():
    at = app(w_sample="rain", w_window_start=7.5)  # an 8 s clip: half a second is left after 7.5 s
    assert session(at).preview.result.params.window_start == 7.5
    at.switch_page("../pages/spectrogram.py").run()
    ok(at)
    assert any(c.startswith("rain.wav · the 0.5-second window from 7.5 s · Mixed · 3 steps") for c in _captions(at))
    at.switch_page("../pages/generate.py").run()
    at.slider(key="w_window_start").set_value(0.0).run()
    at.switch_page("../pages/spectrogram.py").run()
    ok(at)
    assert any(c.startswith("rain.wav · the 8-second window from 0 s") for c in _captions(at)), _captions(at)


# -- user text is shown as typed, never as Markdown ---------------------------------------------------
TRICKY = "a *neon* street [x](http://example.com) _under_ `code` for $5 at www.example.org or me@example.org"


def _markdown_text(at: AppTest) -> list[str]:
    return [m.value for m in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error]]


def test_escape_md_keeps_the_text_and_leaves_nothing_markdown_can_read():
    import re

    from studio.widgets import escape_md

    shown = escape_md(TRICKY)
    assert shown == (
        "a \\*neon\\* street \\[x\\](http:\u2060//example.com) \\_under\\_ \\`code\\` for \\$5 at "
        "www\u2060.example.org or me\u2060@example.org"
    )
    for text in (TRICKY, "1. intro.wav", "# take 2 > <b>bold</b> &amp; ~x~ | :material/star:", "two\nlines"):
        shown = escape_md(text)
        unescaped = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", shown).replace("\u2060", "")
        assert unescaped == " ".join(text.splitlines())  # what a Markdown renderer shows: the text as typed
        assert not re.search(r"(?<!\\)[*_`\[\]$<>#~|&]", shown), shown  # every syntax character escaped
        assert not re.search(r"https?://|www\.|\w@|:material/", shown), shown  # nothing left to link or iconify
    assert escape_md("1. intro.wav") == "1\\. intro.wav" and escape_md("rain.wav") == "rain.wav"
    # the invisible joiner only where a link or an icon could start: copied prose stays plain
    assert escape_md("a city: at night") == "a city: at night" and "\u2060" in escape_md(":material/star:")


def test_an_error_shows_the_file_names_it_quotes_as_written_and_keeps_its_commands_as_code():
    import re

    from core import AudioError, ModelUnavailable
    from studio.errors import describe

    name = "take_*2*_[x](http://e.org) for $5 <b>me@x.org</b>.wav"
    said = describe(AudioError(f"cannot decode '{name}': no audio stream"))
    unescaped = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", said).replace("\u2060", "")
    assert unescaped == f"**Audio problem**: cannot decode '{name}': no audio stream"
    quoted = said.removeprefix("**Audio problem**")
    assert not re.search(r"(?<!\\)[*_`\[\]$<>]", quoted) and not re.search(r"https?://|\w@", quoted), said
    missing = describe(ModelUnavailable("CLAP could not be loaded (run `hf download laion/clap_htsat`)."))
    assert missing == "**Models missing**: CLAP could not be loaded (run `hf download laion/clap_htsat`)."


def test_a_prompt_and_a_pngs_model_name_are_shown_as_typed():
    from studio.widgets import escape_md

    at = app(w_prompt=TRICKY, w_sample="rain", cmp_modes=["mix"], cmp_alone=False, cmp_without=False)
    at.switch_page("../pages/compare.py").run()
    at.button(key="cmp_run").click().run()
    ok(at)
    shown = _markdown_text(at)
    assert f"**Prompt:** {escape_md(TRICKY)} · **audio:** sample “rain” · **seed** 0" in shown, shown
    assert any(t.startswith(f"#### {escape_md(TRICKY)} · sample “rain” · seed 0") for t in shown), shown
    assert not [t for t in shown if "[x](http" in t or "*neon*" in t]  # nowhere as Markdown
    at.switch_page("../pages/generate.py").run()
    at.button(key="btn_render").click().run()
    at.switch_page("../pages/gallery.py").run()  # a checkbox's label is Markdown too
    labels = [c.label for c in at.checkbox if c.key.startswith("sel_")]
    assert labels and all(escape_md(TRICKY) in label for label in labels), labels

    from PIL import Image

    from core.export import png_bytes
    from core.params import GenerationParams

    foreign = GenerationParams(prompt="from a png", steps=6, width=64, height=64, models="[sd](http://example.com)")
    at.switch_page("../pages/gallery.py").run()
    data = png_bytes(Image.new("RGB", (64, 64)), foreign)
    at.file_uploader(key="gallery_png").set_value(("theirs.png", data, "image/png")).run()
    at.button(key="recall_upload").click().run()
    ok(at)
    said = [i.value for i in at.info if "made with the models" in i.value]
    assert said and f"**{escape_md(foreign.models)}**" in said[0] and "[sd](http" not in said[0], said


def test_names_from_uploads_and_links_are_shown_as_written_in_every_message():
    """An upload's file name, a `?models=` link and a PNG's file name reach errors, notes and
    successes: each shows as typed, with no link, emphasis or code made of it."""
    import re

    from studio.widgets import code_md, escape_md

    def markdown_made(texts: list[str]) -> list[str]:
        return [t for t in texts if re.search(r"(?<!\\)\[x\]\(|(?<!\\)\*take\*|(?<!\\)\$5", t)]

    name = "*take*_[x](e.org) for $5.wav"  # as the browser sends it (stored under a safe name)
    at = app(w_audio_source="upload")
    at.file_uploader(key="w_upload").set_value((name, b"", "audio/wav")).run()
    ok(at)
    said = [e for e in errors(at) if "Audio problem" in e]
    assert said and f"{escape_md(name)} is empty" in said[0] and not markdown_made(said), said

    linked = AppTest.from_file(APP, default_timeout=TIMEOUT)
    linked.query_params["models"] = "[x](http://e.org)/*take*"
    linked.run()
    notes = [c.value for c in linked.sidebar.caption if "does not offer" in c.value]
    assert notes and escape_md("[x](http://e.org)/*take*") in notes[0] and not markdown_made(notes), notes

    at.switch_page("../pages/gallery.py").run()
    from PIL import Image

    from core.export import png_bytes
    from core.params import GenerationParams

    data = png_bytes(Image.new("RGB", (64, 64)), GenerationParams(prompt="p", steps=6, width=64, height=64))
    at.file_uploader(key="gallery_png").set_value(("*take*_[x](http://e.org).png", data, "image/png")).run()
    ok(at)
    read = [m.value for m in at.success]
    assert read and escape_md("*take*_[x](http://e.org).png") in read[0] and not markdown_made(read), read

    # a name as code: a backtick inside cannot end the span early
    assert code_md("run_1") == "`run_1`" and code_md("a`b") == "``a`b``" and code_md("`x") == "`` `x ``"


def test_each_trace_download_is_named_after_its_image_with_kind_and_id():
    import json

    from core import default_filename
    from studio import traces
    from studio.widgets import trace_filename

    at = app()
    render(at)
    render(at)  # the same settings again: one PNG name for two images
    first, second = session(at).history[-2:]
    png = default_filename(first.params)
    assert png == default_filename(second.params) and first.id != second.id
    assert trace_filename(first) == png.removesuffix(".png") + f"_render-{first.id}_trace.json"
    assert trace_filename(second) == png.removesuffix(".png") + f"_render-{second.id}_trace.json"
    preview = session(at).preview.result
    assert trace_filename(preview) == default_filename(preview.params).removesuffix(".png") + "_preview_trace.json"
    at.switch_page("../pages/gates.py").run()
    ok(at)
    shown = traces.trace_choices(session(at))[at.selectbox(key="gates_pick").value]
    # The page's download: Streamlit names its file by a hash of the bytes, the type and the file name.
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    data = json.dumps(shown.trace.to_dict(), indent=1).encode()
    url = next(b.proto.url for b in at.download_button if b.key == "dl_trace")
    assert url.endswith(f"/{_calculate_file_id(data, 'application/json', trace_filename(shown))}.json"), url


def _preview_reason(at: AppTest) -> list[str]:
    return [c for c in _captions(at) if "preview" in c.lower() and ("clip" in c or "audio" in c)]


def test_the_preview_says_a_refused_upload_cannot_be_used_instead_of_asking_for_audio(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAP2DIFF_AUDIO_DIRS", str(tmp_path))  # the File-path source is opt-in
    cannot = "This clip cannot be used (see the message under Audio): the preview waits for one that can."
    at = app()

    def heard_heading() -> list[str]:
        return [m.value for m in at.markdown if m.value.startswith("**What CLAP heard**")]

    assert heard_heading() == ["**What CLAP heard**"]  # the sample's preview
    at.radio(key="w_audio_source").set_value("upload").run()
    assert _preview_reason(at) == ["Choose audio to see a preview."]  # nothing uploaded yet
    for name, data in (("notes.wav", b"%PDF-1.4 not audio"), ("silence.wav", wav(silent=True))):
        at.file_uploader(key="w_upload").set_value((name, data, "audio/wav")).run()
        ok(at)
        assert any("Audio problem" in e for e in errors(at)), errors(at)  # the error itself, under Audio
        assert _preview_reason(at) == [cannot], (name, _captions(at))
        assert heard_heading() == ["**What CLAP heard** · *older settings*"]  # the sample's, as its picture
    at.radio(key="w_audio_source").set_value("path").run()
    assert _preview_reason(at) == ["Choose audio to see a preview."]  # no path typed yet
    at.text_input(key="w_audio_path").set_value(str(tmp_path / "missing.wav")).run()
    assert _preview_reason(at) == [cannot], _captions(at)


def test_a_renders_clip_scores_fit_the_render_column_with_their_meaning_below():
    from core.scoring import SCORE_LABELS
    from studio.widgets.results import SCORE_HELP

    at = app(w_prompt="a harbour", ui_live_preview=False)
    render(at)
    at.button(key="btn_scores").click().run()
    ok(at)
    lines = next(m.value for m in at.markdown if " · Prompt match" in m.value).split("  \n")  # one a score: wraps
    cells = [line.split(" · ", 1) for line in lines]  # the value first: never the part cut off
    assert all(c[0].startswith("**") and float(c[0].strip("*")) == round(float(c[0].strip("*")), 4) for c in cells)
    shown = [c[1] for c in cells]  # by what people call them, not the CSV's field names
    assert {"Prompt match", "Audio effect (pixels)"} <= set(shown) and "prompt_match" not in shown
    name = {label: n for n, label in SCORE_LABELS.items()}
    meaning = " · ".join(f"**{label}**: {SCORE_HELP[name[label]]}" for label in shown)
    assert meaning in _captions(at), _captions(at)  # every score's meaning, as wrapping text
    assert [e.label for e in at.expander if meaning in [c.value for c in e.caption]] == ["What each score says"]


def test_a_recalled_clip_whose_name_is_here_with_other_sound_is_said_so():
    """A PNG made from another rain.wav: the sample of that name is not the same recording."""
    from PIL import Image

    from core.export import png_bytes
    from core.params import GenerationParams

    at = app()
    at.switch_page("../pages/gallery.py").run()
    for clip, said in (("rain.wav", "this server's file of that name has other sound"),
                       ("nowhere.wav", "it is not on this server")):  # fmt: skip
        made = GenerationParams(prompt="p", steps=6, width=64, height=64, models="tiny", audio_path=f"/their/{clip}",
                                audio_sha256="0" * 64)  # fmt: skip
        data = png_bytes(Image.new("RGB", (64, 64)), made)
        at.file_uploader(key="gallery_png").set_value((f"{clip}.png", data, "image/png")).run()
        at.button(key="recall_upload").click().run()
        ok(at)
        warned = [w.value for w in at.warning if "except the clip" in w.value]
        assert len(warned) == 1 and said in warned[0], warned
        at.switch_page("../pages/gallery.py").run()
