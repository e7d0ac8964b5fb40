"""Every knob of a generation, in one frozen dataclass, each declared once.

`GenerationParams` is the single source of truth: the CLI flags, the studio's sliders, the PNG
metadata and the tests all go through it. Each field's default (with the seed it comes from:
seeds/000 is the CLAP2Diffusion method deck, seeds/001 its README) and its `Knob` (label, help,
validation range, slider range and step, CLI flag: see core/knobs.py) stand together below.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .knobs import MULTIPLIER_MARK, Choice, Knob, ParamsError, check_field, from_plain, knob, knob_of, to_plain
from .train.layout import checkpoint_name

LEVELS: tuple[str, ...] = ("foreground", "background", "ambience")
STEMS: tuple[str, ...] = ("drums", "bass", "other", "vocals")
BLOCK_GROUPS: tuple[str, ...] = ("down", "mid", "up")

SCHEDULER_CHOICES = (
    Choice("dpmpp", "DPM++ 2M", "DPM-Solver++ (2M): good images in 20-25 steps"),
    Choice("ddim", "DDIM"),
    Choice("euler", "Euler"),
)
MODE_CHOICES = (
    Choice("zero-shot", "Zero-shot (public weights)", "CLAP names the sounds it hears and Stable Diffusion draws them"),
    Choice("trained", "Trained projector", "the original method's audio projector and adapters, from a checkpoint"),
)
NORM_MEASURE_CHOICES = (
    Choice("token", "per token (mean L2)", "the mean length of each token, comparable with the text"),
    Choice("tensor", "whole tensor", "the norm of all 77 tokens together, as the original method's slides"),
)
SWITCH_STYLE_CHOICES = (Choice("hard", "hard"), Choice("smooth", "smooth"))
SOURCE_CHOICES = (
    Choice("mix", "Mixed", "The original method: one clip, CLAP's 77 tokens split by position"),
    Choice(
        "bands",
        "Frequency bands",
        "A crossover splits low / mid / high frequencies into ambience / background / foreground",
    ),
    Choice(
        "stems", "Demucs stems", "Demucs separates drums / bass / other / vocals; the stem map routes them to levels"
    ),
)
SCHEDULERS = tuple(c.value for c in SCHEDULER_CHOICES)
MODES = tuple(c.value for c in MODE_CHOICES)
NORM_MEASURES = tuple(c.value for c in NORM_MEASURE_CHOICES)
SWITCH_STYLES = tuple(c.value for c in SWITCH_STYLE_CHOICES)
SOURCE_MODES = tuple(c.value for c in SOURCE_CHOICES)

TOKENS = 77  # SD 1.x text context length; the audio token sequence has the same length.
MAX_STEPS = 500
MAX_SIDE = 2048
MAX_SEED = 2**32 - 1
MAX_PATH = 4096
# What a run records by hash; a clip or checkpoint chosen anew drops the recorded one.
RECORDED_HASHES = {"audio_path": "audio_sha256", "checkpoint": "checkpoint_sha256"}

# Demucs stem -> hierarchy level (issue 4): the voice is what a listener attends to, drums and the
# rest of the mix are the scene around it, the bass is the room's low rumble.
DEFAULT_STEM_MAP = (("drums", "background"), ("bass", "ambience"), ("other", "background"), ("vocals", "foreground"))
_LEVEL_HELP = (
    "How loud the foreground (the clearest, most confident sound) is in the picture. It conditions the "
    "last, detail-making steps.",
    "How strongly the background sounds shape the main forms. They condition the middle steps.",
    "How strongly the ambience sets the overall mood and tone. It conditions the first, layout-making steps.",
)


@dataclass(frozen=True)
class GenerationParams:
    """What to generate and how. Frozen, hashable, and round-trips exactly through JSON."""

    # -- text ---------------------------------------------------------------------------------
    prompt: str = knob(
        "", label="Prompt", flag="--prompt", metavar="TEXT", max_len=2000,
        help="What to draw. The audio adds to it; leave it empty to let the sound alone decide.",
    )  # fmt: skip
    negative_prompt: str = knob(
        "", label="Negative prompt", flag="--negative", metavar="TEXT", max_len=2000,
        help="What to keep out of the picture (e.g. 'blurry, text, watermark').",
    )  # fmt: skip
    # -- sampling -----------------------------------------------------------------------------
    seed: int = knob(
        0, label="Seed", flag="--seed", range=(0, MAX_SEED), step=1,
        help="The starting noise. The same seed and settings give the same image.",
    )  # fmt: skip
    steps: int = knob(
        25, label="Steps", flag="--steps", range=(1, MAX_STEPS), slider=(1, 100), step=1,
        help="How many denoising steps the full render takes: more is slower and usually finer.",
    )  # fmt: skip
    guidance: float = knob(
        7.5, label="Guidance (CFG)", flag="--guidance", range=(0.0, 50.0), slider=(0.0, 20.0), step=0.5, fmt="%.1f",
        help="How strongly the picture follows the prompt (7-8 is typical; 1 switches it off).",
    )  # fmt: skip
    # seed 001: 512x512 with SD 1.5
    width: int = knob(
        512, label="Width (px)", flag="--width", range=(64, MAX_SIDE), step=64, unit="px",
        help="Image size in pixels (multiples of 8; Stable Diffusion 1.5 is made for 512).",
    )  # fmt: skip
    height: int = knob(
        512, label="Height (px)", flag="--height", range=(64, MAX_SIDE), step=64, unit="px",
        help="Image size in pixels (multiples of 8; Stable Diffusion 1.5 is made for 512).",
    )  # fmt: skip
    scheduler: str = knob(
        "dpmpp", label="Sampler", flag="--scheduler", choices=SCHEDULER_CHOICES,
        help="The sampling method. DPM++ gives good images in 20-25 steps.",
    )  # fmt: skip
    # -- audio --------------------------------------------------------------------------------
    # None: text only, the plain SD pipeline
    audio_path: str | None = knob(
        None, label="Audio", flag="--audio", metavar="PATH", optional=True, max_len=MAX_PATH, empty_ok=False,
        help="The audio clip (wav, flac, ogg/opus, mp3, aiff, ...); none: plain Stable Diffusion.",
    )  # fmt: skip
    # set by the engine from the decoded file; checked on reproduce
    audio_sha256: str | None = knob(
        None, label="Audio", flag="--audio-sha256", metavar="HEX", optional=True, max_len=64,
        help="The clip's SHA-256, set by the engine: reproducing refuses a clip whose content changed.",
    )  # fmt: skip
    # seconds; CLAP hears a 10 s window from here (seeds 000, 004)
    window_start: float = knob(
        0.0, label="Window start (s)", flag="--window-start", metavar="SECONDS", range=(0.0, 3600.0), step=0.1,
        fmt="%.1f s", unit="s",
        help="CLAP listens to 10 seconds. For a longer clip, choose where those 10 s start.",
    )  # fmt: skip
    # -- conditioning -------------------------------------------------------------------------
    mode: str = knob(
        "zero-shot", label="Conditioning mode", flag="--mode", choices=MODE_CHOICES,
        help="Zero-shot: CLAP names the sounds it hears and Stable Diffusion draws those phrases; needs no "
        "training. Trained: the original method's audio projector and adapters, from a checkpoint folder.",
    )  # fmt: skip
    checkpoint: str | None = knob(
        None, label="Checkpoint folder", flag="--checkpoint", metavar="FOLDER", optional=True, max_len=MAX_PATH,
        help="Folder with the projector (safetensors + JSON config) and, optionally, adapters.safetensors.",
    )  # fmt: skip
    checkpoint_sha256: str | None = knob(
        None, label="Checkpoint folder", flag="--checkpoint-sha256", metavar="HEX", optional=True, max_len=64,
        help="The checkpoint's SHA-256, set by the engine: reproducing refuses a checkpoint whose weights changed.",
    )  # fmt: skip
    top_k: int = knob(
        5, label="Sound events heard", flag="--top-k", range=(1, 20), slider=(1, 20), step=1,
        help="How many sound events CLAP names (zero-shot mode).",
    )  # fmt: skip
    # softmax temperature over CLAP logits; seed 001 anneals 2.0 -> 0.5
    temperature: float = knob(
        0.5, label="Label temperature", flag="--temperature", range=(0.01, 10.0), slider=(0.05, 5.0), step=0.05,
        fmt="%.2f", help="How evenly the named sounds share the weight: low favours the most likely one.",
    )  # fmt: skip
    # a global multiplier on every audio branch; 0 = plain SD
    audio_strength: float = knob(
        1.0, label="Audio strength" + MULTIPLIER_MARK, flag="--strength", metavar="S", range=(0.0, 10.0), slider=(0.0, 3.0),
        step=0.05, fmt="%.2f", unit="×",
        help="A global volume knob for all of the audio: 0 is plain Stable Diffusion, 1 is normal, above 1 "
        "lets the sound dominate.",
    )  # fmt: skip
    # down/mid/up; SonicDiffusion: mid+up
    gate_scales: tuple[float, float, float] = knob(
        (0.0, 1.0, 1.0), label="Gate scales", flag="--gates", metavar="DOWN,MID,UP", range=(0.0, 10.0),
        slider=(0.0, 3.0), step=0.05, fmt="%.2f", unit="×", parts=BLOCK_GROUPS,
        help="How much the audio speaks in the UNet's {part} blocks. Mid and up blocks are where the method "
        "puts it; 0 switches a group off.",
    )  # fmt: skip
    # -- hierarchy ----------------------------------------------------------------------------
    # seed 000 "sweet spot"; 0 = no scaling
    norm_target: float = knob(
        60.0, label="Norm target", flag="--norm-target", metavar="X", range=(0.0, 1000.0), slider=(0.0, 200.0),
        step=1.0, fmt="%.0f",
        help="Audio tokens are rescaled to this size before the weights apply. 60 is the method's sweet spot; "
        "compare it with the prompt's own text-token norm. 0 leaves them as they are.",
    )  # fmt: skip
    # "token": mean per-token L2; "tensor": whole-tensor (the original method's slides)
    norm_measure: str = knob(
        "token", label="Norm measure", flag="--norm-measure", choices=NORM_MEASURE_CHOICES,
        help="Per token: the mean length of each token (comparable with the text). Whole tensor: the original "
        "method's slides' norm of all 77 tokens together.",
    )  # fmt: skip
    # seed 000: fg/bg/amb token counts of the 77; the slider shows the two boundaries over the 77 tokens
    split: tuple[int, int, int] = knob(
        (35, 21, 21), label="Token split (fg | bg | amb)", flag="--split", metavar="FG,BG,AMB", range=(1, TOKENS),
        slider=(1, TOKENS - 1), step=1, parts=LEVELS,
        help="Mix mode splits CLAP's 77 audio tokens by position: the first go to the foreground, the middle "
        "to the background, the rest to the ambience (the original method: 35 | 21 | 21).",
    )  # fmt: skip
    # seed 000: fg/bg/amb
    level_weights: tuple[float, float, float] = knob(
        (0.7, 0.5, 0.3), label="Level weights", flag="--weights", metavar="FG,BG,AMB", range=(0.0, 10.0),
        slider=(0.0, 2.0), step=0.05, fmt="%.2f", unit="×", parts=LEVELS, part_help=_LEVEL_HELP,
        help="How strongly each level (foreground, background, ambience) conditions its steps.",
    )  # fmt: skip
    # seed 000: t>30 ambience, t>15 background, else foreground (of 50 steps)
    switch_points: tuple[float, float] = knob(
        (0.4, 0.7), label="Switch points (fraction of steps)", flag="--switch", metavar="A,B", range=(0.0, 1.0),
        slider=(0.0, 1.0), step=0.05, fmt="%.2f",
        help="When the conditioning hands over from ambience to background (the first value) and from "
        "background to foreground (the second), as a fraction of the denoising steps.",
    )  # fmt: skip
    # "hard" as the seed; "smooth" cross-fades around each switch point
    switch_style: str = knob(
        "hard", label="Switch style", flag="--switch-style", choices=SWITCH_STYLE_CHOICES,
        help="Hard switches at the switch points; smooth cross-fades between levels around them.",
    )  # fmt: skip
    crossfade: float = knob(
        0.1, label="Cross-fade width (fraction of steps)", flag="--crossfade", range=(0.0, 0.5), slider=(0.0, 0.5),
        step=0.01, fmt="%.2f", help="Width of each smooth cross-fade, as a fraction of the steps.",
    )  # fmt: skip
    # -- sources (separation issue) -----------------------------------------------------------
    sources: str = knob(
        "mix", label="Level sources", flag="--sources", choices=SOURCE_CHOICES,
        help="Where each level's audio comes from. Mixed: one clip, CLAP's tokens split by position (the "
        "original method). Frequency bands: low → ambience, mid → background, high → foreground, each heard "
        "by CLAP on its own. Demucs stems: drums / bass / other / vocals separated, each routed to a level by "
        "the stem map. Separation runs once per clip and window; every other knob reuses it.",
    )  # fmt: skip
    # Hz: low|mid and mid|high band edges. 250 Hz separates rumble, hum, wind and thunder from the
    # voice/body band (speech fundamentals and most instruments' bodies sit above ~250 Hz); 4 kHz
    # separates sibilance, birdsong, rain ticks and hiss (the "presence" region the ear picks out)
    # from the body of voices, horns and engines.
    crossovers: tuple[float, float] = knob(
        (250.0, 4000.0), label="Crossovers", flag="--crossovers", metavar="LOW_HZ,HIGH_HZ", range=(20.0, 20000.0),
        step=(10.0, 250.0), fmt="%.0f", unit="Hz", parts=("low", "high"),
        help="The band edges in Hz: below the first the ambience, between them the background, above the "
        "second the foreground.",
        part_help=(
            "Sounds below this frequency go to the ambience: bass, rumble, engine hum, thunder, the room's "
            "drone. Raise it to move low voices and toms out of the background.",
            "Sounds above this frequency go to the foreground: hiss, cymbals, birdsong, rain's sparkle, "
            "sibilants. Between the two edges (voices, most instruments, traffic) is the background.",
        ),
    )  # fmt: skip
    stem_map: tuple[tuple[str, str], ...] = knob(
        DEFAULT_STEM_MAP, label="Stem → level map", flag="--stem-map", metavar="STEM=LEVEL,...", parts=STEMS,
        help="Which level the {part} stem conditions. Stems that share a level are summed; a level with no "
        "stem gets no audio.",
    )  # fmt: skip
    # -- models -------------------------------------------------------------------------------
    models: str = knob(
        "sd15", label="Models", flag="--models", metavar="SPEC", max_len=MAX_PATH, empty_ok=False,
        help="sd15 | tiny | a Hub id | a local folder in diffusers layout.",
    )  # fmt: skip

    # ------------------------------------------------------------------------------------------
    def validate(self) -> GenerationParams:
        """Raise ParamsError naming the first field that makes no sense; return self otherwise.

        Each field is checked against its Knob (type, range, choices, length), then by its own rule
        where it has one (multiples of 8, orderings, sums), in declaration order."""
        from .param_rules import RULES  # the rules name this class: imported once it exists

        for f in dataclasses.fields(self):
            check_field(f, getattr(self, f.name))
            rule = RULES.get(f.name)
            if rule is not None:
                rule(self)
        return self

    # -- convenience --------------------------------------------------------------------------
    def replace(self, **changes: Any) -> GenerationParams:
        return dataclasses.replace(self, **changes)

    def shareable(self) -> GenerationParams:
        """These params as written into a file others see: the clip by its file name (and its
        content hash), a trained checkpoint by its run's name, a local models folder by its own
        name, never a folder of this machine. core.clips finds the clip and checkpoint again."""
        return self.replace(
            audio_path=self.audio_path and clip_name(self.audio_path),
            checkpoint=self.checkpoint and checkpoint_name(self.checkpoint),  # core/train/layout.py
            models=models_name(self.models),
        )

    def level_weight(self, level: str) -> float:
        return self.level_weights[LEVELS.index(level)]

    def gate_scale(self, group: str) -> float:
        return self.gate_scales[BLOCK_GROUPS.index(group)]

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationParams:
        """Build from a dict (e.g. PNG metadata). Unknown keys are an error, missing ones default."""
        return from_plain(cls, data, "parameter")

    @classmethod
    def from_json(cls, text: str) -> GenerationParams:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ParamsError("params", f"not valid JSON ({exc})") from None
        return cls.from_dict(data)


def stem_map_pairs(text: str) -> tuple[tuple[str, ...], ...]:
    """'drums=background,vocals=foreground' -> (('drums', 'background'), ('vocals', 'foreground')), as
    --stem-map and a sweep's stem_map values are written; `validate` says what a bad one lacks."""
    return tuple(tuple(part.strip() for part in pair.split("=", 1)) for pair in text.split(","))


def clip_name(path: str) -> str:
    """The file name of a clip path written on any system ('C:\\a\\b.wav' and '/a/b.wav': 'b.wav')."""
    return re.split(r"[\\/]", path)[-1] or path


def models_name(spec: str) -> str:
    """A models spec as a file others see names it: a local folder by its own name
    ('/srv/team/models/sd' -> 'sd'; core.models.resolve_spec asks for the folder when that name is
    not one here); 'sd15', 'tiny', Hub ids and anything else that names no folder, as typed."""
    folder = Path(spec).expanduser()
    if folder.is_absolute() or spec.startswith((".", "~")) or "\\" in spec or folder.is_dir():
        return clip_name(spec.rstrip("\\/")) or spec
    return spec


@functools.cache
def knobs() -> Mapping[str, Knob]:
    """Every field's Knob, in declaration order: what the sliders, the CLI and the tests read."""
    return MappingProxyType({f.name: knob_of(f) for f in dataclasses.fields(GenerationParams)})


def default(name: str) -> Any:
    """A field's default: the one place other modules (schedule, bands) take theirs from."""
    return GenerationParams.__dataclass_fields__[name].default


__all__ = ["BLOCK_GROUPS", "DEFAULT_STEM_MAP", "LEVELS", "MODES", "NORM_MEASURES", "SCHEDULERS", "SOURCE_MODES", "STEMS",
           "RECORDED_HASHES", "SWITCH_STYLES", "TOKENS", "GenerationParams", "Knob", "ParamsError", "clip_name",
           "default", "knobs", "models_name", "stem_map_pairs"]  # fmt: skip
