"""Fast paths (core/fastpaths.py) on CPU: each switch changes what runs, previews only, and a
Render's pixels never depend on them.

The compiled UNet is checked with a counting torch.compile backend (dynamo's graph, run eagerly: no
C compiler needed): which forward runs when the toggle is on, off and on again, and that new slider
values add no graph (no recompile). channels_last is on CPU too, with pixels within a stated
tolerance of the standard memory order (CPU convolutions pick other kernels for it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from core.events import Stage
from core.fastpaths import FAST_PATHS, FastSettings
from core.models import default_dtype, load_preview_vae, resolve_spec

# channels_last vs the standard order on CPU, tiny models (measured): identical at 64 px, at most 1
# level of 255 on ~0.02% of the pixels at 128 and 256 px; a wrong layout would change the picture.
CHANNELS_LAST_CPU_TOLERANCE = 2


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def count_calls(module: torch.nn.Module) -> list[int]:
    """A forward hook counting calls of `module` (e.g. a decoder)."""
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_every_fast_path_is_declared_once_and_previews_only_where_it_may_change_pixels():
    settings = {f.name for f in dataclasses.fields(FastSettings)}
    assert set(FAST_PATHS) == settings | {"fp16_sdpa"}
    assert FastSettings() == FastSettings(**{n: FAST_PATHS[n].default for n in settings})
    assert all(FAST_PATHS[n].preview_only and FAST_PATHS[n].toggle for n in settings)
    assert not FAST_PATHS["fp16_sdpa"].preview_only and FAST_PATHS["fp16_sdpa"].default
    assert FastSettings.all_on().enabled() == ["spare_core", "channels_last", "compile", "tiny_decoder"]
    assert FastSettings().enabled() == ["spare_core"]  # compile, TAESD and channels_last start off


def test_fp16_and_sdpa_are_the_defaults(tiny_engine):
    from diffusers.models.attention_processor import AttnProcessor2_0

    assert default_dtype("cuda") == torch.float16 and default_dtype("cuda:1") == torch.float16
    assert default_dtype("cpu") == torch.float32
    kinds = {type(p) for p in tiny_engine.pipe.unet.attn_processors.values()}
    assert kinds == {AttnProcessor2_0}  # PyTorch's fused scaled_dot_product_attention


def test_without_taesd_in_the_cache_previews_use_the_full_vae_and_say_so(
    tiny_engine, tiny_params, tmp_path, monkeypatch
):
    monkeypatch.delenv("CLAP2DIFF_TAESD", raising=False)
    vae, note = load_preview_vae(resolve_spec("owner/model"), "cpu", torch.float32, cache_dir=str(tmp_path))
    assert vae is None and "TAESD not in the cache" in note and "madebyollin/taesd" in note
    # A folder named by CLAP2DIFF_TAESD: the note is about that folder, not a download.
    (tmp_path / "taesd").mkdir()
    for source, said in ((tmp_path / "taesd", "cannot be read"), (tmp_path / "nowhere", "which is not a folder")):
        monkeypatch.setenv("CLAP2DIFF_TAESD", str(source))
        _, folder_note = load_preview_vae(resolve_spec("owner/model"), "cpu", torch.float32, cache_dir=str(tmp_path))
        assert said in folder_note and str(source) in folder_note and "download" not in folder_note

    monkeypatch.setattr(tiny_engine.bundle, "preview_vae", None)
    monkeypatch.setattr(tiny_engine.bundle, "preview_vae_note", note)
    label = tiny_engine.fast.decoder_label(FastSettings(tiny_decoder=True))
    assert label.startswith("full VAE") and "TAESD not in the cache" in label
    full_vae = count_calls(tiny_engine.pipe.vae.decoder)
    asked = tiny_engine.generate(tiny_params, fast=FastSettings(tiny_decoder=True))
    plain = tiny_engine.generate(tiny_params, fast=FastSettings())
    assert full_vae[0] == 2
    assert np.array_equal(pixels(asked.image), pixels(plain.image))


def test_with_taesd_previews_use_it_and_renders_never_do(tiny_engine, tiny_params):
    from diffusers import AutoencoderTiny

    taesd = tiny_engine.bundle.preview_vae
    assert isinstance(taesd, AutoencoderTiny)  # the tiny spec has a random-weight one
    assert tiny_engine.fast.decoder_label(FastSettings(tiny_decoder=True)) == "TAESD (tiny decoder)"
    assert tiny_engine.fast.decoder_label(FastSettings()) == "full VAE"
    tiny_calls, full_calls = count_calls(taesd.decoder), count_calls(tiny_engine.pipe.vae.decoder)

    preview = tiny_engine.generate(tiny_params, fast=FastSettings(tiny_decoder=True))
    assert (tiny_calls[0], full_calls[0]) == (1, 0)
    assert preview.image.size == (tiny_params.width, tiny_params.height)
    render = tiny_engine.generate(tiny_params)
    assert (tiny_calls[0], full_calls[0]) == (1, 1)
    assert np.abs(pixels(preview.image) - pixels(render.image)).mean() > 5  # another decoder's picture


@pytest.fixture
def two_threads(monkeypatch):
    """Torch reporting 2 intra-op threads: conftest sets OMP_NUM_THREADS=1, and on one thread no core
    can be spared, so a preview and a render ran alike whatever the code did. Simulated (torch's
    get/set_num_threads patched): 2 real OpenMP threads on a busy 2-core machine made this 4x slower."""
    threads = [2]
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads[0])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads.__setitem__(0, int(n)))
    return 2


def test_a_preview_that_spares_a_core_runs_on_one_thread_fewer_and_a_render_on_all(
    tiny_engine, tiny_params, two_threads
):
    full = torch.get_num_threads()
    seen: list[int] = []

    def during(_info) -> None:
        seen.append(torch.get_num_threads())

    before = tiny_engine.generate(tiny_params, progress=during)
    assert full == two_threads and set(seen) == {full}
    seen.clear()
    tiny_engine.generate(tiny_params, fast=FastSettings(spare_core=True), progress=during)
    assert set(seen) == {max(1, full - 1)} and torch.get_num_threads() == full  # restored when the run ends
    seen.clear()
    tiny_engine.generate(tiny_params, fast=FastSettings(spare_core=False), progress=during)
    assert set(seen) == {full}
    seen.clear()
    after = tiny_engine.generate(tiny_params, progress=during)
    assert set(seen) == {full}
    assert np.array_equal(pixels(after.image), pixels(before.image))


def test_a_run_that_fails_still_gives_the_core_back(tiny_engine, tiny_params, two_threads):
    full = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="stop here"), tiny_engine.fast.threads_for(FastSettings()) as threads:
        assert threads == full - 1 == torch.get_num_threads() == 1
        raise RuntimeError("stop here")
    assert torch.get_num_threads() == full


def test_channels_last_is_for_previews_only_and_within_tolerance_on_cpu(tiny_engine, tiny_params):
    conv = tiny_engine.pipe.unet.conv_in.weight
    seen: list[bool] = []

    def during(_info) -> None:
        seen.append(conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous())

    only = FastSettings(spare_core=False)  # channels_last on its own
    standard = tiny_engine.generate(tiny_params, fast=only, progress=during)
    assert not any(seen)
    fast = tiny_engine.generate(tiny_params, fast=dataclasses.replace(only, channels_last=True), progress=during)
    assert seen[-1] and tiny_engine.fast.channels_last
    render = tiny_engine.generate(tiny_params, progress=during)
    assert not seen[-1] and not tiny_engine.fast.channels_last  # a render puts the standard order back
    assert np.array_equal(pixels(render.image), pixels(standard.image))
    assert np.abs(pixels(fast.image) - pixels(standard.image)).max() <= CHANNELS_LAST_CPU_TOLERANCE


def test_a_unet_that_cannot_compile_fails_one_preview_plainly_then_previews_run_uncompiled(
    tiny_engine, tiny_params, monkeypatch
):
    from core.errors import UserError
    from core.fastpaths import CompileFailed

    monkeypatch.setattr(tiny_engine.fast, "compile_options", {"backend": "no-such-backend"})
    monkeypatch.setattr(tiny_engine.fast, "compile_error", None)
    monkeypatch.setattr(tiny_engine.fast, "compiled", None)
    with pytest.raises(CompileFailed, match="Compiling the UNet failed .*InvalidBackend") as failed:
        tiny_engine.generate(tiny_params, fast=FastSettings(compile=True))
    assert isinstance(failed.value, UserError)  # the studio shows its message
    assert type(tiny_engine.pipe.unet).__name__ == "UNet2DConditionModel"  # put back
    again = tiny_engine.generate(tiny_params, fast=FastSettings(compile=True))
    eager = tiny_engine.generate(tiny_params, fast=FastSettings())
    assert np.array_equal(pixels(again.image), pixels(eager.image))
    assert tiny_engine.fast.compiled is None and tiny_engine.state.static is None


# -- the compiled UNet ----------------------------------------------------------------------------
class CountingBackend:
    """A torch.compile backend that runs dynamo's graph eagerly and counts graphs made and run."""

    def __init__(self):
        self.graphs = 0
        self.runs = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs):
        self.graphs += 1

        def run(*args):
            self.runs += 1
            return gm.forward(*args)

        return run


@pytest.fixture(scope="module")
def compiled_engine():
    """An engine of its own (its UNet gets compiled), with the counting backend."""
    from core.engine import Engine

    torch._dynamo.reset()
    engine = Engine("tiny", device="cpu")
    backend = CountingBackend()
    engine.fast.compile_options = {"backend": backend, "fullgraph": True}
    return engine, backend


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_compile_toggle_runs_the_compiled_unet_and_slider_changes_do_not_recompile(compiled_engine, tiny_params):
    engine, backend = compiled_engine
    params = tiny_params.replace(steps=3)
    stages: list[str] = []

    def status(event) -> None:
        if isinstance(event, Stage):
            stages.append(event.name)

    eager = engine.generate(params, fast=FastSettings())
    assert (backend.graphs, backend.runs) == (0, 0)

    compiled = engine.generate(params, fast=FastSettings(compile=True), on_status=status)
    assert backend.graphs == 1 and backend.runs == params.steps  # every step ran the compiled graph
    # The warm-up is said as such and stays said through the loop that traces (no "Denoising" over it),
    # and its time is reported as the compile's, not as the loop's.
    assert "compile" in stages and "denoise" not in stages
    assert compiled.timings["compile"] == compiled.timings["denoise"] and "compile" not in eager.timings
    assert np.array_equal(pixels(compiled.image), pixels(eager.image))  # eager backend: same numbers
    np.testing.assert_allclose(compiled.trace.ratios, eager.trace.ratios, rtol=1e-5)
    assert compiled.trace.step_levels == eager.trace.step_levels

    engine.generate(params, fast=FastSettings())  # toggled off: the pipeline's own UNet again
    assert backend.runs == params.steps
    assert type(engine.pipe.unet).__name__ == "UNet2DConditionModel"

    graphs_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    static = engine.fast._static  # the graph's slider buffers: allocated once, then only written
    buffers = [t.data_ptr() for t in (static.blend_t, static.scale_t, static.ratio_now)]
    stages.clear()
    sliders = [
        dict(audio_strength=0.3, seed=11),
        dict(gate_scales=(1.0, 0.0, 2.0)),
        dict(level_weights=(0.5, 0.0, 2.0)),
        dict(switch_points=(0.1, 0.9), switch_style="smooth"),
        dict(audio_strength=0.0),
    ]
    for change in sliders:
        warm = engine.generate(params.replace(**change), fast=FastSettings(compile=True), on_status=status)
        assert "compile" not in warm.timings
        # and the slider's new value reaches the compiled graph (eager backend: the same numbers)
        plain = engine.generate(params.replace(**change), fast=FastSettings())
        assert np.array_equal(pixels(warm.image), pixels(plain.image)), change
        assert warm.trace.step_levels == plain.trace.step_levels, change
    assert backend.graphs == 1  # no recompile for any slider
    assert engine.fast._static is static  # a CUDA graph keeps reading the same storage
    assert [t.data_ptr() for t in (static.blend_t, static.scale_t, static.ratio_now)] == buffers
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs_before
    assert backend.runs == params.steps * (1 + len(sliders))
    assert "compile" not in stages and "denoise" in stages  # warm already: no warm-up announced


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_render_is_identical_with_every_preview_path_enabled(compiled_engine, tiny_params):
    engine, backend = compiled_engine
    before = engine.generate(tiny_params)
    runs = backend.runs
    preview = engine.generate(tiny_params.replace(steps=3), fast=FastSettings.all_on())
    assert backend.runs > runs and engine.fast.channels_last  # the preview took the fast paths
    runs = backend.runs
    after = engine.generate(tiny_params)
    assert backend.runs == runs  # the render ran the eager UNet
    assert np.array_equal(pixels(after.image), pixels(before.image))
    assert np.array_equal(after.trace.ratios, before.trace.ratios)
    assert preview.image.size == before.image.size


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_an_edit_preview_runs_the_compiled_unet_and_keep_structure_never_does(compiled_engine, tiny_params, tmp_path):
    from PIL import Image

    from core.edit import EditParams
    from core.edit.run import edit_photo, run_steps

    engine, backend = compiled_engine
    y, x = np.mgrid[0:64, 0:64]
    Image.fromarray(np.stack([x * 4, y * 4, (x * y) % 256], -1).astype(np.uint8), "RGB").save(tmp_path / "p.png")
    params = EditParams(tiny_params.replace(steps=4)).replace(image_path=str(tmp_path / "p.png"), denoise=0.5)
    eager = edit_photo(engine, params, fast=FastSettings())
    runs = backend.runs
    compiled = edit_photo(engine, params, fast=FastSettings(compile=True))
    assert backend.runs == runs + run_steps(4, 0.5) == runs + 2  # every step the img2img loop ran
    assert np.array_equal(pixels(compiled.image), pixels(eager.image))  # eager backend: same numbers
    assert compiled.trace.step_levels == eager.trace.step_levels
    assert type(engine.pipe.unet).__name__ == "UNet2DConditionModel"  # put back

    runs = backend.runs  # keep structure injects through hooks in the UNet's layers: always eager
    structure = edit_photo(engine, params.replace(edit_mode="structure"), fast=FastSettings(compile=True))
    assert backend.runs == runs and structure.injected is not None


def test_only_names_exactly_the_paths_a_bench_asks_for():
    assert FastSettings.only().enabled() == []
    assert FastSettings.only("tiny_decoder", "spare_core").enabled() == ["spare_core", "tiny_decoder"]
    with pytest.raises(ValueError, match="no preview fast path named nope"):
        FastSettings.only("nope")


def test_the_compiled_unet_traces_again_for_a_new_shape_never_for_a_slider(tiny_engine, tiny_params, monkeypatch):
    """The warm-up key (what makes a compiled preview say "one-time warm-up" and count its time as
    compiling) holds the image size, guidance on/off and the mode; slider values stay out of it."""
    key = tiny_engine.fast.warm_key
    for changes in (dict(width=96), dict(height=96), dict(guidance=1.0), dict(mode="trained", checkpoint="x")):
        assert key(tiny_params.replace(**changes)) != key(tiny_params), changes
    for changes in (dict(audio_strength=0.3), dict(norm_target=20.0), dict(switch_points=(0.1, 0.2)), dict(seed=9)):
        assert key(tiny_params.replace(**changes)) == key(tiny_params), changes
    standard = key(tiny_params)
    monkeypatch.setattr(tiny_engine.fast, "channels_last", True)  # other weight strides: another graph
    assert key(tiny_params) != standard


def test_the_decoder_note_is_the_bundles_own_reason(tiny_engine, monkeypatch):
    """A CLAP2DIFF_TAESD that names no folder is said as such in the sidebar, not as a missing download."""
    monkeypatch.setattr(tiny_engine.bundle, "preview_vae", None)
    said = "CLAP2DIFF_TAESD names /x, which is not a folder"
    monkeypatch.setattr(tiny_engine.bundle, "preview_vae_note", said)
    assert tiny_engine.fast.decoder_label(FastSettings(tiny_decoder=True)) == f"full VAE ({said})"
    monkeypatch.setattr(tiny_engine.bundle, "preview_vae_note", "")
    assert tiny_engine.fast.decoder_label(FastSettings(tiny_decoder=True)) == "full VAE (TAESD not in the cache)"
    assert tiny_engine.fast.decoder_label(None) == "full VAE"


def test_channels_last_converts_unet_and_both_vaes_once_for_a_stream_of_previews(tiny_engine, monkeypatch):
    """Every model a preview runs is in channels_last, and the conversion is paid once, not per preview."""
    fast = tiny_engine.fast
    pipe = tiny_engine.pipe
    modules = {"unet": pipe.unet, "vae": pipe.vae, "taesd": fast.preview_vae}
    moved: list[str] = []
    for name, module in modules.items():
        original = module.to
        monkeypatch.setattr(module, "to", lambda *a, _n=name, _o=original, **k: (moved.append(_n), _o(*a, **k))[1])
    only = FastSettings.only("channels_last")
    try:
        for _ in range(3):
            fast.prepare(only)
        assert sorted(moved) == ["taesd", "unet", "vae"]  # once each
        for module in modules.values():
            weight = next(p for p in module.parameters() if p.dim() == 4)
            assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    finally:
        fast.prepare(None)  # the standard order back for the other tests
    assert sorted(moved) == ["taesd", "taesd", "unet", "unet", "vae", "vae"]
    assert not fast.channels_last and all(
        next(p for p in m.parameters() if p.dim() == 4).is_contiguous() for m in modules.values()
    )


def test_compile_options_use_cuda_graphs_on_a_gpu_only_unless_a_backend_is_named(monkeypatch):
    from core.fastpaths import COMPILE_BACKEND_ENV, compile_options

    monkeypatch.delenv(COMPILE_BACKEND_ENV, raising=False)
    assert compile_options("cuda") == compile_options("cuda:1") == {"mode": "reduce-overhead", "fullgraph": True}
    assert compile_options("cpu") == {"fullgraph": True}
    monkeypatch.setenv(COMPILE_BACKEND_ENV, "aot_eager")
    assert compile_options("cuda") == {"backend": "aot_eager", "fullgraph": True}
