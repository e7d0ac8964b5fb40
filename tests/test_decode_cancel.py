"""Cancel inside the VAE decode (core/callbacks.py DecodeCancel): a Cancel pressed while a large
image decodes stops it at the next decoder layer, and the hooks never change a pixel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from core.callbacks import DecodeCancel
from core.cancel import Cancelled


def _layers(engine) -> list[torch.nn.Module]:
    return [m for m in engine.pipe.vae.decoder.modules() if isinstance(m, DecodeCancel.LAYERS)]


def _counting(engine) -> tuple[list[int], list]:
    """How many decoder layers ran (a hook of the test's own, on the same layers)."""
    ran = [0]
    handles = [m.register_forward_hook(lambda *_: ran.__setitem__(0, ran[0] + 1)) for m in _layers(engine)]
    return ran, handles


def test_the_decode_hooks_change_no_pixel_and_leave_nothing_behind(tiny_engine, tiny_params):
    plain = tiny_engine.generate(tiny_params)
    watched = tiny_engine.generate(tiny_params, cancel=threading.Event())  # never set: hooks on
    assert np.array_equal(np.asarray(plain.image), np.asarray(watched.image))
    assert all(not m._forward_pre_hooks for m in _layers(tiny_engine))

    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    with DecodeCancel(tiny_engine.pipe.vae.decoder, threading.Event()) as checks:
        tiny_engine.pipe.vae.decode(latents)
    assert checks.slices == len(_layers(tiny_engine))  # every layer once, then nothing held
    with DecodeCancel(tiny_engine.pipe.vae.decoder, None) as unwatched:  # nothing to honour: no hook at all
        assert all(not m._forward_pre_hooks for m in _layers(tiny_engine))
        tiny_engine.pipe.vae.decode(latents)
    assert unwatched.slices == 0


def test_a_cancel_during_the_decode_stops_it_at_the_next_layer(tiny_engine, tiny_params):
    cancel = threading.Event()
    layers = _layers(tiny_engine)
    decoder = tiny_engine.pipe.vae.decoder
    ran, handles = _counting(tiny_engine)
    handles.append(decoder.up_blocks[1].register_forward_pre_hook(lambda *_: cancel.set()))  # Cancel pressed here
    try:
        with pytest.raises(Cancelled, match="during the decode"):
            tiny_engine.generate(tiny_params, cancel=cancel)
    finally:
        for h in handles:
            h.remove()
    ahead = (decoder.conv_in, decoder.mid_block, decoder.up_blocks[0])  # what runs before up_blocks[1]
    done_before = sum(isinstance(m, DecodeCancel.LAYERS) for part in ahead for m in part.modules())
    assert 0 < ran[0] == done_before < len(layers)  # not one layer ran after the Cancel
    assert all(not m._forward_pre_hooks for m in layers)
    assert not tiny_engine.lock._is_owned()


def test_a_studio_job_cancelled_during_its_decode_ends_cancelled(tiny_engine, tiny_params):
    from studio import jobs

    ran, handles = _counting(tiny_engine)
    job_box: list = []
    first = _layers(tiny_engine)[0]
    handles.append(first.register_forward_hook(lambda *_: job_box[0].request_cancel()))
    try:
        job = jobs.generation_job(tiny_engine, tiny_params, kind="render")
        job_box.append(job)
        assert job.wait(60)
    finally:
        for h in handles:
            h.remove()
    assert job.cancelled and job.error is None and job.result is None and job.status == "Cancelled"
    assert ran[0] == 1  # the first decoder layer finished; the next one never started
    assert job.step == tiny_params.steps  # every denoising step ran: the cancel came during the decode


def test_an_edit_cancelled_during_its_decode_stops_there_too(tiny_engine, samples, tmp_path):
    from PIL import Image

    from core.edit import EditParams
    from core.edit.run import edit_photo
    from core.params import GenerationParams

    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), (90, 120, 200)).save(photo)
    gen = GenerationParams(prompt="a city", audio_path=str(samples["thunder"]), steps=4, models="tiny", seed=7)
    params = EditParams(gen).replace(image_path=str(photo))
    cancel = threading.Event()
    ran, handles = _counting(tiny_engine)
    handles.append(_layers(tiny_engine)[0].register_forward_hook(lambda *_: cancel.set()))
    try:
        with pytest.raises(Cancelled, match="during the decode"):
            edit_photo(tiny_engine, params, cancel=cancel)
    finally:
        for h in handles:
            h.remove()
    assert ran[0] == 1  # the encoder's layers are not hooked; in the decoder only the first one ran
