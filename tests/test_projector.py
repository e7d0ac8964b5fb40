"""Zero-shot hearing and the trained projector's checkpoint format."""

from __future__ import annotations

import json

import pytest
import torch

from core.projector import (
    AudioProjector,
    ProjectorConfig,
    ProjectorError,
    ZeroShotProjector,
    load_projector,
    save_projector,
)
from core.vocabulary import SoundEvent, Vocabulary, clap_prompt


def test_clap_stand_in_makes_its_label_the_top_one(tiny_engine):
    zs = tiny_engine.zero_shot
    for label in ("thunder", "dog barking", "car horn"):
        event = tiny_engine.vocabulary.by_label(label)
        # an audio embedding equal to the label's own CLAP text embedding
        embedding = tiny_engine.clap.embed_text([clap_prompt(event)])[0]
        heard = zs.hear(embedding, top_k=5, temperature=0.5)
        assert heard[0].label == label
        assert heard[0].similarity == pytest.approx(1.0, abs=1e-5)
        assert [h.weight for h in heard] == sorted((h.weight for h in heard), reverse=True)
        assert sum(h.weight for h in heard) == pytest.approx(1.0, abs=1e-5)


def short_phrase_projector(engine, n: int = 12) -> ZeroShotProjector:
    """The engine's CLAP and text encoder over a vocabulary whose phrases are 2 characters long,
    so that all top-k phrases fit in the 75-token budget even with the tiny byte-level tokenizer."""
    events = tuple(SoundEvent(e.label, e.category, f"p{i}") for i, e in enumerate(engine.vocabulary.events[:n]))
    return ZeroShotProjector(engine.clap, Vocabulary(events), engine.encode_text, engine.count_tokens)


def test_temperature_sharpens_the_weights(tiny_engine):
    zs = short_phrase_projector(tiny_engine)
    embedding = tiny_engine.clap.embed_text([clap_prompt(zs.vocabulary.events[3])])[0]
    sharp = zs.hear(embedding, 5, temperature=0.05)
    flat = zs.hear(embedding, 5, temperature=5.0)
    assert len(sharp) == len(flat) == 5
    assert sharp[0].weight > flat[0].weight
    assert [h.label for h in sharp] == [h.label for h in flat]  # same ranking, different confidence


def test_heard_labels_always_fit_the_text_encoder(tiny_engine):
    """Labels whose phrases would be cut off at 75 tokens are not reported as heard."""
    zs = tiny_engine.zero_shot
    embedding = tiny_engine.clap.embed_text([clap_prompt(tiny_engine.vocabulary.by_label("thunder"))])[0]
    heard = zs.hear(embedding, top_k=20, temperature=1.0)
    assert heard[0].label == "thunder"
    assert tiny_engine.count_tokens(zs.phrase_prompt(heard)) <= 75
    assert len(heard) < 20  # the tiny tokenizer spends a token per character: most do not fit
    assert sum(h.weight for h in heard) == pytest.approx(1.0, abs=1e-5)


def test_tokens_put_the_dominant_phrase_first_and_weight_the_rest(tiny_engine):
    zs = short_phrase_projector(tiny_engine)
    embedding = tiny_engine.clap.embed_text([clap_prompt(zs.vocabulary.events[0])])[0]
    heard = zs.hear(embedding, 2, 1.0)
    assert len(heard) == 2
    tokens = zs.tokens(heard)
    plain = tiny_engine.encode_text(zs.phrase_prompt(heard))
    first_len = tiny_engine.count_tokens(heard[0].phrase)
    assert torch.equal(tokens[:, : 1 + first_len], plain[:, : 1 + first_len])  # top phrase untouched
    ratio = heard[1].weight / heard[0].weight
    end = tiny_engine.count_tokens(zs.phrase_prompt(heard))
    if end > first_len + 1:
        torch.testing.assert_close(tokens[:, 2 + first_len : 1 + end], plain[:, 2 + first_len : 1 + end] * ratio)


class _OneHotClap:
    """A CLAP stand-in: label i embeds as the i-th unit vector, so an audio embedding's entries are
    the labels' cosines."""

    logit_scale = 10.0

    def embed_text(self, prompts: list[str]) -> torch.Tensor:
        return torch.eye(len(prompts))


def _fitting_projector(phrases: tuple[str, ...]) -> ZeroShotProjector:
    events = tuple(SoundEvent(f"label {i}", "things", p) for i, p in enumerate(phrases))
    return ZeroShotProjector(_OneHotClap(), Vocabulary(events), lambda _: None, len)


def test_phrases_that_fill_the_75_tokens_exactly_are_all_heard():
    """The token budget is inclusive: phrases that fill exactly 75 tokens (77 minus BOS/EOS) are
    all kept, one token more drops the last. One token per character, ", " costs 2."""
    phrases = ("a" * 40, "b" * 33, "c")  # "a…, b…" is 40 + 2 + 33 = 75 tokens; with ", c" 78
    sims = torch.tensor([0.9, 0.5, 0.3])
    heard = _fitting_projector(phrases).hear(sims, top_k=3, temperature=1.0)
    assert [h.label for h in heard] == ["label 0", "label 1"]
    assert len(ZeroShotProjector.phrase_prompt(heard)) == 75
    longer = (phrases[0] + "a", *phrases[1:])  # 76 tokens: only the most confident is kept
    assert [h.label for h in _fitting_projector(longer).hear(sims, top_k=3, temperature=1.0)] == ["label 0"]


def small_config(**overrides) -> ProjectorConfig:
    values = dict(input_dim=32, hidden_dim=16, expand_dim=32, output_dim=32, layers=2, heads=4)
    values.update(overrides)
    return ProjectorConfig(**values)


def test_projector_shapes_and_round_trip(tmp_path):
    torch.manual_seed(0)
    projector = AudioProjector(small_config()).eval()
    x = torch.randn(3, 32)
    out = projector(x)
    assert out.shape == (3, 77, 32)
    save_projector(projector, tmp_path / "ckpt")
    loaded = load_projector(tmp_path / "ckpt", input_dim=32, output_dim=32)
    assert loaded.config == projector.config
    torch.testing.assert_close(loaded(x), out, rtol=0, atol=0)
    assert not list(tmp_path.glob("ckpt/.*tmp"))  # atomic writes leave no temp files


def test_projector_tokens_come_out_of_its_final_layer_norm():
    """The last layer is a LayerNorm over each token (its learnt scale and shift included): a
    checkpoint's `norm.*` weights shape every token the UNet sees."""
    torch.manual_seed(0)
    projector = AudioProjector(small_config()).eval()
    with torch.no_grad():
        projector.norm.weight.fill_(2.0)
        projector.norm.bias.fill_(0.5)
        out = projector(torch.randn(2, 32))
    torch.testing.assert_close(out.mean(dim=-1), torch.full((2, 77), 0.5), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=-1, unbiased=False), torch.full((2, 77), 2.0), atol=1e-3, rtol=0)


def test_default_config_follows_the_seed():
    c = ProjectorConfig()
    assert (c.hidden_dim, c.expand_dim, c.output_dim, c.tokens, c.layers) == (768, 3072, 768, 77, 4)


def test_mismatched_checkpoints_give_clear_errors(tmp_path):
    torch.manual_seed(0)
    save_projector(AudioProjector(small_config()), tmp_path / "good")
    with pytest.raises(ProjectorError, match="expects 32-d CLAP embeddings, this CLAP gives 512-d"):
        load_projector(tmp_path / "good", input_dim=512)
    with pytest.raises(ProjectorError, match="this UNet wants 768-d"):
        load_projector(tmp_path / "good", output_dim=768)
    with pytest.raises(ProjectorError, match="projector checkpoint folder .*missing does not exist"):
        load_projector(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProjectorError, match="has no config.json"):
        load_projector(tmp_path / "empty")

    # weights from another architecture: same config file, different tensors
    save_projector(AudioProjector(small_config(layers=1)), tmp_path / "other")
    (tmp_path / "other" / "config.json").write_text((tmp_path / "good" / "config.json").read_text())
    with pytest.raises(ProjectorError, match="missing"):
        load_projector(tmp_path / "other")

    save_projector(AudioProjector(small_config(hidden_dim=8)), tmp_path / "shape")
    cfg = json.loads((tmp_path / "shape" / "config.json").read_text())
    cfg["hidden_dim"] = 16
    (tmp_path / "shape" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ProjectorError, match="wrong shape"):
        load_projector(tmp_path / "shape")

    (tmp_path / "good" / "projector.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ProjectorError, match="not a readable safetensors"):
        load_projector(tmp_path / "good")
    (tmp_path / "good" / "config.json").write_text('{"input_dim": 32, "colour": 3}')
    with pytest.raises(ProjectorError, match="unknown keys: colour"):
        load_projector(tmp_path / "good")


@pytest.mark.parametrize(
    "config, message",
    [
        ({"heads": 0}, "heads must be at least 1"),
        ({"layers": 0}, "layers must be at least 1"),
        ({"tokens": 10}, "tokens must be 77"),
        ({"hidden_dim": 16, "expand_dim": 24}, "not a multiple of hidden_dim"),
        ({"output_dim": 30, "heads": 4}, "not divisible by heads"),
        ({"input_dim": "wide"}, "malformed"),
    ],
)
def test_impossible_configs_are_projector_errors(tmp_path, config, message):
    torch.manual_seed(0)
    save_projector(AudioProjector(small_config()), tmp_path / "ckpt")
    base = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({**base, **config}))
    with pytest.raises(ProjectorError, match=message):
        load_projector(tmp_path / "ckpt")
