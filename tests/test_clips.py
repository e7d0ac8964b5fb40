"""A shared PNG names its clip by file name and hash only; reproducing finds it again (core/clips.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.audio import AudioError, file_sha256
from core.cli import main
from core.clips import find_checkpoint, find_clip, locate_clip, namesake
from core.export import read_params
from core.params import GenerationParams


@pytest.fixture
def clip(tmp_path, samples):
    """A clip outside the samples, under a folder name that must never reach a PNG."""
    path = tmp_path / "private-folder" / "hum.wav"
    path.parent.mkdir()
    shutil.copy(samples["rain"], path)
    return path


def test_shareable_params_keep_the_name_and_hash_only():
    p = GenerationParams(audio_path="/home/ana/secret/rain.wav", audio_sha256="a" * 64)
    assert p.shareable().audio_path == "rain.wav" and p.shareable().audio_sha256 == "a" * 64
    assert GenerationParams(audio_path=r"C:\Users\ana\rain.wav").shareable().audio_path == "rain.wav"
    assert GenerationParams().shareable() == GenerationParams()


def test_a_local_models_folder_is_shared_by_its_own_name(tmp_path):
    """CLAP2DIFF_MODELS or --models naming a folder: the PNG's params and its A1111 text name the
    folder, not where it lives on the server; Hub ids and the named specs stay as typed."""
    from core.export.infotext import parameters_text
    from core.models import ModelUnavailable, resolve_spec

    folder = tmp_path / "secret-team" / "models" / "sd"
    folder.mkdir(parents=True)
    for typed in (str(folder), str(folder) + "/", r"C:\srv\secret-team\sd"):
        shared = GenerationParams(models=typed).shareable()
        assert shared.models == "sd", typed
        assert "secret-team" not in parameters_text(shared)
    for typed in ("sd15", "tiny", "runwayml/stable-diffusion-v1-5"):
        assert GenerationParams(models=typed).shareable().models == typed
    with pytest.raises(ModelUnavailable, match="names a local models folder by its own name"):
        resolve_spec("sd")  # reproduced elsewhere: the message says to give the folder


def test_find_clip_by_name_and_hash_skipping_a_namesake(tmp_path, clip):
    sha = file_sha256(clip)
    impostor = tmp_path / "elsewhere" / "hum.wav"
    impostor.parent.mkdir()
    impostor.write_bytes(clip.read_bytes()[:-100] + b"\0" * 100)  # same name, other content
    assert find_clip("hum.wav", sha, [impostor.parent, clip.parent]) == clip.resolve()
    assert find_clip("hum.wav", sha, [impostor.parent]) is None
    assert find_clip("hum.wav", None, [impostor.parent]) == impostor.resolve()  # no hash: the name decides
    # The studio's uploads: <uploads>/<first 16 hex of the hash>/<any name>.
    uploads = tmp_path / "uploads"
    (uploads / sha[:16]).mkdir(parents=True)
    shutil.copy(clip, uploads / sha[:16] / "renamed.wav")
    assert find_clip("hum.wav", sha, [uploads]) == (uploads / sha[:16] / "renamed.wav").resolve()
    # A studio PNG names an upload by its safe stored name; the user's copy keeps its own name.
    own = tmp_path / "beside-the-png"
    own.mkdir()
    shutil.copy(clip, own / "my clip (1).wav")
    (own / "my-clip-1.wav").write_bytes(b"not this one")
    assert find_clip("my_clip_1_.wav", sha, [own]) == (own / "my clip (1).wav").resolve()


def test_a_namesake_is_found_beside_or_in_an_uploads_hash_folder_whatever_its_sound(tmp_path):
    """What lets a recall say 'a file of that name is here, with other sound' instead of 'not here'."""
    samples, uploads = tmp_path / "samples", tmp_path / "uploads"
    (uploads / ("a" * 16)).mkdir(parents=True)
    samples.mkdir()
    (uploads / ("a" * 16) / "take [1].wav").write_bytes(b"RIFF")  # glob characters in a name
    (samples / "rain.wav").write_bytes(b"RIFF")
    assert namesake("/their/take [1].wav", [uploads, samples]) == uploads / ("a" * 16) / "take [1].wav"
    assert namesake("C:\\them\\rain.wav", [uploads, samples]) == samples / "rain.wav"
    assert namesake("take 1.wav", [uploads, samples]) is None and namesake("snow.wav", [uploads]) is None


def test_a_missing_clip_is_named_with_its_hash_and_what_to_do(tmp_path):
    params = GenerationParams(audio_path="hum.wav", audio_sha256="0123456789ab" + "0" * 52)
    with pytest.raises(AudioError) as err:
        locate_clip(params, [tmp_path])
    assert str(err.value) == (
        "the clip this image was made from, hum.wav (sha256 0123456789ab…), is not here: "
        "pass it with --audio FILE (or put it next to the PNG)."
    )
    kept = GenerationParams(audio_path=str(tmp_path))  # an existing path is not searched for
    assert locate_clip(kept.replace(audio_path=__file__), []) == kept.replace(audio_path=__file__)


def test_a_namesake_in_the_working_folder_does_not_hide_the_clip_beside_the_png(tmp_path, samples, monkeypatch):
    """`--from` in a folder holding another 'clip.wav': the one with the recorded sound is used."""
    beside, work = tmp_path / "shared", tmp_path / "work"
    beside.mkdir(), work.mkdir()
    shutil.copy(samples["thunder"], beside / "clip.wav")
    shutil.copy(samples["rain"], work / "clip.wav")
    monkeypatch.chdir(work)
    params = GenerationParams(audio_path="clip.wav", audio_sha256=file_sha256(samples["thunder"]))
    assert locate_clip(params, [beside]).audio_path == str((beside / "clip.wav").resolve())
    # Nowhere else: the namesake is kept, and the engine's hash check says its sound differs.
    assert locate_clip(params, [tmp_path]).audio_path == "clip.wav"
    assert locate_clip(params.replace(audio_sha256=None), [beside]).audio_path == "clip.wav"  # no hash: as named


def test_cli_png_has_no_folder_and_from_finds_the_clip_next_to_it(tmp_path, clip, monkeypatch, capsys):
    out = tmp_path / "shared" / "a.png"
    out.parent.mkdir()
    args = ["--models", "tiny", "--steps", "3", "--size", "64x64", "--seed", "4", "--quiet"]
    assert main(["generate", "--audio", str(clip), "--prompt", "hum", "--out", str(out), *args]) == 0
    data = out.read_bytes()
    assert b"private-folder" not in data and str(tmp_path).encode() not in data
    params = read_params(out)
    assert params.audio_path == "hum.wav" and params.audio_sha256 == file_sha256(clip)

    # Elsewhere, without the clip: refused before any work, naming the clip.
    monkeypatch.chdir(out.parent)
    again = out.parent / "again.png"
    assert main(["generate", "--from", str(out), "--out", str(again), "--quiet"]) == 2
    assert "hum.wav (sha256" in capsys.readouterr().err and not again.exists()

    # With the clip next to the PNG: the same pixels.
    shutil.copy(clip, out.parent / "hum.wav")
    assert main(["generate", "--from", str(out), "--out", str(again), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))
    assert read_params(again) == params


def test_an_edit_png_names_its_photo_and_mask_without_folders(tmp_path, samples):
    """The edit's photo and mask are stored by name (their hashes identify them); `edit --from`
    finds them next to the PNG."""
    private = tmp_path / "private-folder"
    private.mkdir()
    Image.new("RGB", (64, 64), (30, 90, 160)).save(private / "me.png")
    region = np.zeros((64, 64), np.uint8)
    region[8:40, 8:40] = 255
    Image.fromarray(region, "L").save(private / "mask.png")
    out = tmp_path / "shared" / "edit.png"
    out.parent.mkdir()
    args = ["edit", "--image", str(private / "me.png"), "--mask", str(private / "mask.png"), "--denoise", "0.5"]
    args += ["--audio", str(samples["rain"]), "--models", "tiny", "--steps", "4", "--seed", "2", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    data = out.read_bytes()
    assert b"private-folder" not in data and str(tmp_path).encode() not in data
    for name in ("me.png", "mask.png"):
        shutil.copy(private / name, out.parent / name)
    again = out.parent / "again.png"
    assert main(["edit", "--from", str(out), "--out", str(again), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))


def test_a_trained_checkpoint_is_shared_by_its_run_and_found_one_folder_down(tmp_path):
    from core.clips import find_checkpoint, locate_checkpoint
    from core.export.infotext import parameters_text
    from core.projector import ProjectorError
    from core.sweep.axes import parse_axis
    from core.train.layout import checkpoint_name

    final = tmp_path / "private-folder" / "runs" / "city" / "final"
    step = final.parent / "checkpoints" / "step-0000500"
    for folder in (final, step):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    trained = GenerationParams(mode="trained", checkpoint=str(final))
    assert trained.shareable().checkpoint == "city/final"
    assert checkpoint_name(str(step)) == "city/checkpoints/step-0000500"
    assert checkpoint_name(r"C:\Users\ana\runs\city\final") == "city/final"
    # Another layout: the folder's own name only (no user name above a run)
    assert checkpoint_name("/home/ana/mymodel") == checkpoint_name(r"C:\Users\ana\mymodel") == "mymodel"
    assert checkpoint_name("/home/ana/checkpoints/city") == "city"
    assert checkpoint_name("/a/city/final/.") == "city/final" and checkpoint_name("final") == "final"
    assert "Checkpoint: city/final" in parameters_text(trained) and "private-folder" not in parameters_text(trained)
    axis = parse_axis("x", f"checkpoint={final},none", GenerationParams())
    assert [axis.label(0), axis.label(1)] == ["checkpoint=city/final", "checkpoint=none"]

    runs = final.parents[1]
    assert find_checkpoint("city/final", [tmp_path / "elsewhere", runs]) == final.resolve()
    assert find_checkpoint("city/final", [runs.parent]) == final.resolve()  # one folder down: runs/city/final
    assert find_checkpoint("city/checkpoints/step-0000500", [runs]) == step.resolve()
    assert find_checkpoint("city/final", [tmp_path]) is None  # two folders down: not searched
    assert find_checkpoint("../final", [runs / "city" / "checkpoints"]) is None  # never above a place searched
    (final / "config.json").unlink()
    assert find_checkpoint("city/final", [runs]) is None  # a folder without a checkpoint in it

    shared = trained.replace(checkpoint="city/checkpoints/step-0000500")
    assert locate_checkpoint(shared, [runs]).checkpoint == str(step.resolve())
    assert locate_checkpoint(trained, []) == trained  # an existing folder is not searched for
    zero_shot = GenerationParams(checkpoint="city/final")  # not trained: nothing to find
    assert locate_checkpoint(zero_shot, []) == zero_shot
    with pytest.raises(ProjectorError) as err:
        locate_checkpoint(trained.replace(checkpoint="city/final"), [runs])
    assert (
        str(err.value)
        == "the checkpoint this image was made with, city/final, is not here: pass it with --checkpoint FOLDER"
    )


def test_cli_png_names_its_checkpoint_by_run_and_from_finds_the_run_beside_it(
    tiny_engine, tmp_path, samples, monkeypatch, capsys
):
    import torch

    from core.projector import AudioProjector, ProjectorConfig, checkpoint_sha256, save_projector

    config = ProjectorConfig(input_dim=tiny_engine.clap.dim, hidden_dim=16, expand_dim=32, output_dim=32, heads=4)
    torch.manual_seed(0)
    final = tmp_path / "private-folder" / "runs" / "city" / "final"
    save_projector(AudioProjector(config), final)
    out = tmp_path / "shared" / "a.png"
    out.parent.mkdir()
    args = ["--models", "tiny", "--steps", "3", "--size", "64x64", "--seed", "4", "--quiet"]
    args += ["--audio", str(samples["rain"]), "--prompt", "rain"]
    assert main(["generate", "--mode", "trained", "--checkpoint", str(final), "--out", str(out), *args]) == 0
    data = out.read_bytes()
    assert b"private-folder" not in data and str(tmp_path).encode() not in data
    assert read_params(out).checkpoint == "city/final"

    monkeypatch.chdir(out.parent)
    again = out.parent / "again.png"
    assert main(["generate", "--from", str(out), "--out", str(again), "--quiet"]) == 2
    assert "city/final, is not here: pass it with --checkpoint FOLDER" in capsys.readouterr().err
    assert not again.exists()

    shutil.copytree(final.parents[1], out.parent / "runs")  # the run beside the PNG: shared/runs/city/final
    assert main(["generate", "--from", str(out), "--out", str(again), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))
    assert read_params(again) == read_params(out)
    assert read_params(out).checkpoint_sha256 == checkpoint_sha256(final)  # the weights, recorded


def test_a_run_trained_again_under_the_same_name_is_refused_and_the_original_copy_preferred(
    tiny_engine, tmp_path, samples, capsys, monkeypatch
):
    """A PNG records its checkpoint's hash: reproducing with other weights under the same run name
    is a clear error, not a silently different image; among copies of the run, the one with the
    recorded weights is found; naming a checkpoint explicitly records that one's hash."""
    import torch

    from core.projector import AudioProjector, ProjectorConfig, ProjectorError, checkpoint_sha256, save_projector
    from core.sweep.axes import SweepError, parse_axis

    config = ProjectorConfig(input_dim=tiny_engine.clap.dim, hidden_dim=16, expand_dim=32, output_dim=32, heads=4)
    torch.manual_seed(0)
    original = AudioProjector(config)
    retrained = AudioProjector(config)
    old, new = tmp_path / "a" / "runs" / "city" / "final", tmp_path / "b" / "runs" / "city" / "final"
    save_projector(retrained, new)
    save_projector(original, old)
    out = tmp_path / "a.png"
    args = ["--models", "tiny", "--steps", "3", "--size", "64x64", "--seed", "4", "--quiet", "--prompt", "rain"]
    args += ["--audio", str(samples["rain"])]
    assert main(["generate", "--mode", "trained", "--checkpoint", str(old), "--out", str(out), *args]) == 0
    recorded = read_params(out).checkpoint_sha256
    assert recorded == checkpoint_sha256(old) != checkpoint_sha256(new)
    assert f"Checkpoint: city/final (sha256 {recorded[:12]}…)" in Image.open(out).info["parameters"]

    # Copies of the run in two places: the recorded weights win wherever they are searched.
    assert find_checkpoint("city/final", [tmp_path / "b", tmp_path / "a"], recorded) == old.resolve()
    assert find_checkpoint("city/final", [tmp_path / "b", tmp_path / "a"]) == new.resolve()  # no hash: the first
    assert find_checkpoint("city/final", [tmp_path / "b"], recorded) == new.resolve()  # none has it: the engine says so

    # The same folder trained again: reproducing is refused, with what to do.
    save_projector(retrained, old)
    again = tmp_path / "again.png"
    assert main(["generate", "--from", str(out), "--checkpoint-sha256", recorded, "--checkpoint", str(old),
                 "--out", str(again)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "city/final is not the checkpoint this image was made with (its weights changed since" in err
    assert not again.exists()
    with pytest.raises(ProjectorError, match="not the checkpoint this image was made with"):
        tiny_engine.generate(read_params(out).replace(checkpoint=str(old), audio_path=str(samples["rain"])))
    # Run from the folder holding the retrained run, with the original copied elsewhere: the name
    # resolves here first, but the recorded weights are looked for (and found) among the places.
    kept = tmp_path / "c" / "runs" / "city" / "final"
    save_projector(original, kept)
    monkeypatch.chdir(old.parent.parent)
    from core.clips import locate_checkpoint

    wanted = read_params(out)
    assert wanted.checkpoint == "city/final" and Path("city/final").is_dir()
    assert locate_checkpoint(wanted, [tmp_path / "c" / "runs"]).checkpoint == str(kept.resolve())
    assert locate_checkpoint(wanted, [tmp_path / "b" / "runs"]).checkpoint == "city/final"  # no better copy
    # Named again explicitly: a new image with these weights, and their hash.
    assert main(["generate", "--from", str(out), "--checkpoint", str(old), "--audio", str(samples["rain"]),
                 "--out", str(again), "--quiet"]) == 0  # fmt: skip
    assert read_params(again).checkpoint_sha256 == checkpoint_sha256(new) == checkpoint_sha256(old)
    assert not np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))

    # Zero-shot carries no checkpoint hash; a checkpoint axis gives each checkpoint its own.
    zero = tiny_engine.generate(read_params(out).replace(mode="zero-shot", audio_path=str(samples["rain"])))
    assert zero.params.checkpoint_sha256 is None
    axis = parse_axis("x", f"checkpoint={old}", read_params(out))
    assert axis.apply(read_params(out), 0).checkpoint_sha256 is None
    with pytest.raises(SweepError, match="not a setting that can be swept"):
        parse_axis("x", "checkpoint_sha256=" + recorded, GenerationParams())
