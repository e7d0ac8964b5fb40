"""Synthesise the studio's sample sounds with numpy: small, deterministic, license-free.

    python assets/make_samples.py            # writes assets/samples/*.wav

Each sound is built so a part of the pipeline has something to hear: rain and birdsong live
above 2 kHz (foreground band), engine hum below 250 Hz (ambience band), the street mixes all
three, and tones.wav holds one pure tone per band for the band-split tests. Fixed seeds, 16-bit
PCM, 22.05 kHz: the same bytes on every run, each file well under 1 MB.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from core.export.atomic import atomic_write  # noqa: E402

RATE = 22050
OUT = Path(__file__).resolve().parent / "samples"
PEAK = 0.8  # -2 dBFS: loud enough to hear, headroom for resampling overshoot


# -- building blocks -------------------------------------------------------------------------------
def _t(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.arange(int(round(seconds * rate))) / rate


def _band(x: np.ndarray, lo: float | None, hi: float | None, rate: int = RATE, order: int = 4) -> np.ndarray:
    if lo and hi:
        sos = signal.butter(order, [lo, hi], btype="bandpass", fs=rate, output="sos")
    elif lo:
        sos = signal.butter(order, lo, btype="highpass", fs=rate, output="sos")
    else:
        sos = signal.butter(order, hi, btype="lowpass", fs=rate, output="sos")
    return signal.sosfilt(sos, x)


def _fade(x: np.ndarray, seconds: float = 0.02, rate: int = RATE) -> np.ndarray:
    n = min(int(seconds * rate), x.shape[-1] // 2)
    ramp = np.sin(np.linspace(0, np.pi / 2, n)) ** 2
    x = x.copy()
    x[..., :n] *= ramp
    x[..., -n:] *= ramp[::-1]
    return x


def _normalise(x: np.ndarray, peak: float = PEAK) -> np.ndarray:
    return x * (peak / np.max(np.abs(x)))


def _brown(n: int, rng: np.random.Generator) -> np.ndarray:
    x = np.cumsum(rng.standard_normal(n))
    return x - signal.savgol_filter(x, 4001 if n > 4001 else (n // 2) * 2 - 1, 1)  # remove drift


# -- the sounds ------------------------------------------------------------------------------------
def rain(seconds: float = 8.0, seed: int = 1) -> np.ndarray:
    """Hiss (band-passed noise, 1-8 kHz, slowly gusting) plus droplet ticks (decaying 2-5 kHz pings)."""
    rng = np.random.default_rng(seed)
    t = _t(seconds)
    hiss = _band(rng.standard_normal(t.size), 1000, 8000) * (0.8 + 0.2 * np.sin(2 * np.pi * 0.3 * t))
    drops = np.zeros(t.size)
    for start in rng.uniform(0, seconds - 0.05, size=int(40 * seconds)):
        i = int(start * RATE)
        d = _t(rng.uniform(0.01, 0.03))
        ping = np.sin(2 * np.pi * rng.uniform(2000, 5000) * d) * np.exp(-d / rng.uniform(0.003, 0.008))
        drops[i : i + d.size] += ping[: t.size - i] * rng.uniform(0.3, 1.0)
    return _fade(_normalise(0.35 * hiss / np.std(hiss) + drops))


def thunder(seconds: float = 8.0, seed: int = 2) -> np.ndarray:
    """A crack at 1.5 s (broadband burst), a rolling rumble under 150 Hz that swells and fades, rain."""
    rng = np.random.default_rng(seed)
    t = _t(seconds)
    rumble = _band(_brown(t.size, rng), 20, 150)
    rumble /= np.std(rumble)
    swell = np.clip((t - 1.4) / 0.4, 0, 1) * np.exp(-np.clip(t - 1.8, 0, None) / 2.5)
    swell *= 1 + 0.4 * np.sin(2 * np.pi * 0.7 * t)  # rolling
    crack = rng.standard_normal(t.size) * np.exp(-np.clip(t - 1.5, 0, None) / 0.08) * (t >= 1.5)
    crack = _band(crack, 80, 6000)
    background = rain(seconds, seed + 100) * 0.25
    return _fade(_normalise(1.0 * rumble * swell + 2.5 * crack / np.max(np.abs(crack)) + background))


def birdsong(seconds: float = 6.0, seed: int = 3) -> np.ndarray:
    """Phrases of fast FM chirps sweeping 2-6 kHz, with vibrato, over a faint breeze."""
    rng = np.random.default_rng(seed)
    t = _t(seconds)
    out = 0.01 * _band(rng.standard_normal(t.size), 200, 2000)
    phrase_start = 0.2
    while phrase_start < seconds - 0.8:
        at = phrase_start
        for _ in range(int(rng.integers(3, 7))):
            dur = rng.uniform(0.05, 0.15)
            d = _t(dur)
            f0, f1 = rng.uniform(2000, 6000, size=2)
            freq = f0 + (f1 - f0) * (d / dur) + 300 * np.sin(2 * np.pi * rng.uniform(20, 60) * d)
            chirp = np.sin(2 * np.pi * np.cumsum(freq) / RATE) * np.sin(np.pi * d / dur) ** 2
            i = int(at * RATE)
            out[i : i + d.size] += chirp[: t.size - i] * rng.uniform(0.5, 1.0)
            at += dur + rng.uniform(0.03, 0.08)
        phrase_start = at + rng.uniform(0.3, 0.8)
    return _fade(_normalise(out))


def engine(seconds: float = 8.0, seed: int = 4, f0: float = 40.0) -> np.ndarray:
    """Idling engine: harmonics of a 40 Hz firing rate up to ~120 Hz, revving slowly, with
    half-rate amplitude modulation (uneven cylinders) and a little low mechanical noise."""
    rng = np.random.default_rng(seed)
    t = _t(seconds)
    rev = f0 * (1 + 0.08 * np.sin(2 * np.pi * 0.25 * t) + 0.04 * np.clip(t - seconds / 2, 0, None))
    phase = 2 * np.pi * np.cumsum(rev) / RATE
    hum = sum(np.sin(k * phase + k) / k for k in range(1, 4))  # 40, 80, 120 Hz
    hum = hum * (1 + 0.3 * np.sin(phase / 2))  # half-order modulation
    noise = _band(rng.standard_normal(t.size), 30, 200)
    return _fade(_normalise(hum + 0.3 * noise / np.std(noise)))


def street(seconds: float = 8.0, seed: int = 5) -> np.ndarray:
    """Stereo street: engine hum in the middle, a car horn on the left (two notes, 2.5 s and 5.2 s),
    chatter-like bursts on the right (speech-band noise with 4-6 Hz syllable modulation)."""
    rng = np.random.default_rng(seed)
    t = _t(seconds)
    hum = engine(seconds, seed + 100, f0=55.0)
    horn = np.zeros(t.size)
    for at, dur in ((2.5, 0.6), (5.2, 0.3)):
        d = _t(dur)
        tone = sum(np.sign(np.sin(2 * np.pi * f * d)) for f in (415.0, 520.0))  # square-ish pair
        tone = _band(tone, 300, 3000) * np.sin(np.pi * d / dur) ** 0.2
        i = int(at * RATE)
        horn[i : i + d.size] += tone
    chatter = np.zeros(t.size)
    for at in rng.uniform(0, seconds - 1.2, size=5):
        d = _t(rng.uniform(0.6, 1.2))
        burst = _band(rng.standard_normal(d.size), 300, 3000)
        burst *= np.clip(np.sin(2 * np.pi * rng.uniform(4, 6) * d), 0, None) ** 2 * np.hanning(d.size)
        i = int(at * RATE)
        chatter[i : i + d.size] += burst / np.std(burst)
    horn /= np.max(np.abs(horn))
    chatter /= np.max(np.abs(chatter))
    left = 0.6 * hum + 0.5 * horn + 0.15 * chatter
    right = 0.6 * hum + 0.15 * horn + 0.5 * chatter
    return _fade(_normalise(np.stack([left, right])))


def tones(seconds: float = 5.0) -> np.ndarray:
    """100 Hz + 1 kHz + 6 kHz at equal amplitude: one pure tone in each band (low / mid / high)."""
    t = _t(seconds)
    x = sum(np.sin(2 * np.pi * f * t) for f in (100.0, 1000.0, 6000.0))
    return _fade(_normalise(x))


SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "rain": rain,
    "thunder": thunder,
    "birdsong": birdsong,
    "engine": engine,
    "street": street,
    "tones": tones,
}


def write_wav(path: Path, x: np.ndarray, rate: int = RATE) -> None:
    """16-bit PCM, written atomically (core.export.atomic), so no reader sees half a file."""
    data = np.asarray(x, dtype=np.float64)
    buf = io.BytesIO()
    sf.write(buf, data.T if data.ndim == 2 else data, rate, subtype="PCM_16", format="WAV")
    atomic_write(path, buf.getvalue())


def main(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in SAMPLES.items():
        path = out / f"{name}.wav"
        write_wav(path, make())
        written.append(path)
        print(f"{path.relative_to(out.parent.parent) if out == OUT else path}  {path.stat().st_size / 1024:.0f} KiB")
    return written


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
