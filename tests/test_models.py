"""Model specs and loading: the real from_pretrained path on folders, clear errors when missing."""

from __future__ import annotations

import numpy as np
import pytest

from core.models import ModelUnavailable, load_models, resolve_spec


def test_specs_resolve():
    assert resolve_spec("tiny").tiny
    sd = resolve_spec("sd15")
    assert (
        sd.sd_source == "stable-diffusion-v1-5/stable-diffusion-v1-5" and sd.clap_source == "laion/clap-htsat-unfused"
    )
    assert resolve_spec("someone/sd-model").sd_source == "someone/sd-model"
    with pytest.raises(ModelUnavailable, match="Unknown model"):
        resolve_spec("not a model")


def test_missing_real_model_says_which_and_how(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable) as err:
        load_models("sd15", device="cpu")
    message = str(err.value)
    # Both missing models are named, each with its own download command, and the way out once.
    assert "Stable Diffusion could not be loaded" in message and "CLAP could not be loaded" in message
    # Only the files the pipeline reads (about 4.3 GB), not the whole repository's tens of GB.
    assert ('hf download stable-diffusion-v1-5/stable-diffusion-v1-5 --include "*.json" "*.txt" '
            '"text_encoder/model.safetensors" "unet/diffusion_pytorch_model.safetensors" '
            '"vae/diffusion_pytorch_model.safetensors"`') in message  # fmt: skip
    assert "hf download laion/clap-htsat-unfused`" in message
    assert message.count("'tiny'") == 1
    # One sentence ends before the next begins: never "...cached locally CLAP could not be loaded".
    assert ". CLAP could not be loaded" in message and ".. " not in message


def test_hub_command_is_the_one_this_install_has(monkeypatch, tmp_path):
    """Without `hf` on PATH the message names the CLI beside this Python (.venv/bin/hf)."""
    import core.models as models

    monkeypatch.setattr(models.shutil, "which", lambda name: None)
    fake_python = tmp_path / "venv" / "bin" / "python"
    fake_python.parent.mkdir(parents=True)
    (fake_python.parent / "hf").write_text("")
    monkeypatch.setattr(models.sys, "executable", str(fake_python))
    monkeypatch.chdir(tmp_path)
    assert models.hf_command() == "venv/bin/hf"
    monkeypatch.setattr(models.shutil, "which", lambda name: "/usr/bin/hf")
    assert models.hf_command() == "hf"


def test_real_loading_path_on_saved_folders(tmp_path, monkeypatch, tiny_engine, tiny_params):
    """Save the tiny models in the hub layout, then load them through diffusers'/transformers'
    from_pretrained exactly as a real checkpoint: same pixels as the in-code tiny models."""
    from transformers import ClapProcessor

    from core.engine import Engine
    from core.tiny import tiny_clap, tiny_sd_pipeline

    tiny_sd_pipeline().save_pretrained(tmp_path / "sd")
    clap_model, features, tokenizer = tiny_clap()
    clap_model.save_pretrained(tmp_path / "clap")
    ClapProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(tmp_path / "clap")
    monkeypatch.setenv("CLAP2DIFF_CLAP", str(tmp_path / "clap"))

    engine = Engine(str(tmp_path / "sd"), device="cpu")
    assert not engine.spec.tiny
    from_folder = engine.generate(tiny_params)
    in_code = tiny_engine.generate(tiny_params)
    assert np.array_equal(np.asarray(from_folder.image), np.asarray(in_code.image))
    assert from_folder.params.models == str(tmp_path / "sd")


def test_broken_tokenizer_is_refused(tmp_path, monkeypatch):
    """The silent trap: a CLIP tokenizer that loads with a tiny vocabulary must not pass."""
    from core.tiny import tiny_sd_pipeline

    pipe = tiny_sd_pipeline()
    pipe.save_pretrained(tmp_path / "sd")
    import json

    tokenizer_file = tmp_path / "sd" / "tokenizer" / "tokenizer.json"
    data = json.loads(tokenizer_file.read_text())
    data["model"]["vocab"] = dict(list(data["model"]["vocab"].items())[:2])
    tokenizer_file.write_text(json.dumps(data))
    with pytest.raises(ModelUnavailable, match="tokenizer"):
        load_models(str(tmp_path / "sd"), device="cpu")


def test_a_spec_is_read_as_typed_give_or_take_spaces_and_typos_are_refused_by_name(tmp_path, monkeypatch):
    """A pasted " tiny " is the tiny demo; a local-looking path that is not a folder, or an id with an
    empty or spaced part, is an unknown model, not a Hub id whose download command cannot work."""
    monkeypatch.chdir(tmp_path)
    assert (
        resolve_spec(" tiny\n").tiny
        and resolve_spec(" sd15 ").sd_source == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    )
    for typo in ("./missing", "~/missing", "owner/", "/model", "owner/my model"):
        with pytest.raises(ModelUnavailable, match="Unknown model"):
            resolve_spec(typo)
    (tmp_path / "models").mkdir()
    assert resolve_spec("models").sd_source == str(tmp_path / "models")  # a folder here wins over the Hub


def test_a_clap_tokenizer_missing_its_files_is_refused(tmp_path):
    """The same silent trap for CLAP: a tokenizer with a tiny vocabulary must not pass."""
    import json

    from transformers import ClapProcessor

    from core.models import _load_clap
    from core.tiny import tiny_clap

    clap_model, features, tokenizer = tiny_clap()
    clap_model.save_pretrained(tmp_path / "clap")
    ClapProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(tmp_path / "clap")
    model, _, loaded = _load_clap(str(tmp_path / "clap"))  # intact: loads
    assert len(loaded) == model.config.text_config.vocab_size
    tokenizer_file = tmp_path / "clap" / "tokenizer.json"
    data = json.loads(tokenizer_file.read_text())
    data["model"]["vocab"] = dict(list(data["model"]["vocab"].items())[:2])
    tokenizer_file.write_text(json.dumps(data))
    with pytest.raises(ModelUnavailable, match=r"CLAP tokenizer of .* has only \d+ tokens.*download"):
        _load_clap(str(tmp_path / "clap"))


def test_the_tiny_models_load_in_the_dtype_asked_and_clap_stays_fp32():
    """fp16 on a GPU for the tiny demo as for a real model (checked on CPU: only loaded, not run)."""
    import torch

    bundle = load_models("tiny", device="cpu", dtype=torch.float16)
    assert bundle.dtype == torch.float16
    assert {m.dtype for m in (bundle.pipe.unet, bundle.pipe.vae, bundle.pipe.text_encoder)} == {torch.float16}
    assert bundle.preview_vae.dtype == torch.float16 and not bundle.preview_vae.training
    assert next(bundle.clap_model.parameters()).dtype == torch.float32


def test_the_default_device_is_the_gpu_when_there_is_one(monkeypatch):
    import torch

    from core.models import default_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == "cpu"


def test_a_local_folder_that_cannot_load_is_named_as_a_folder_not_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "sd").mkdir()  # a folder, but not in diffusers layout
    monkeypatch.setenv("CLAP2DIFF_CLAP", str(tmp_path / "clap-missing"))
    (tmp_path / "clap-missing").mkdir()
    with pytest.raises(ModelUnavailable) as err:
        load_models(str(tmp_path / "sd"), device="cpu")
    message = str(err.value)
    assert f"Stable Diffusion could not be loaded from the folder {tmp_path / 'sd'}. Details:" in message
    assert f"CLAP could not be loaded from the folder {tmp_path / 'clap-missing'}. Details:" in message
    assert "download" not in message
