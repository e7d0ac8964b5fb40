"""The live preview's own cost in the studio (issue 13, item 1; figures: bench/studio_latency.py).

What a slider release sends to the browser is recorded from Streamlit's message queue: a quick
preview is sent once, as the new picture, with no progress bar; a slow one (the engine thread held
busy) first shows the old picture marked "updating…" and a progress bar. The heard chart's figure
is built once per distinct labels, not on every rerun.
"""

from __future__ import annotations

import threading

import pytest
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

from tests.studio_helpers import app as _app
from tests.studio_helpers import ok as _ok
from tests.studio_helpers import session as _session


class Sent:
    """The elements a script run sent, in order: (type, text) per new element."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.elements: list[tuple[str, str]] = []
        self.on_element = lambda kind: None
        real = ForwardMsgQueue.enqueue

        def enqueue(queue: ForwardMsgQueue, msg) -> None:
            if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                kind = element.WhichOneof("type")
                text = element.markdown.body if kind == "markdown" else ""
                self.elements.append((kind, text))
                self.on_element(kind)
            real(queue, msg)

        monkeypatch.setattr(ForwardMsgQueue, "enqueue", enqueue)

    def clear(self) -> None:
        self.elements.clear()

    def count(self, kind: str) -> int:
        return sum(k == kind for k, _ in self.elements)

    def texts(self) -> list[str]:
        return [t for _, t in self.elements if t]


def test_a_quick_preview_is_sent_once_without_a_progress_bar(monkeypatch):
    from studio import jobs

    at = _app()
    sent = Sent(monkeypatch)
    monkeypatch.setattr(jobs, "QUICK", 120.0)  # "quick" whatever the machine's load
    before = _session(at).preview.result
    at.slider(key="w_weight_fg").set_value(0.45).run()
    _ok(at)
    after = _session(at).preview.result
    assert after is not before and after.params.level_weights[0] == pytest.approx(0.45)
    assert sent.count("imgs") == 1, sent.elements  # the new picture only, not the old one first
    assert sent.count("progress") == 0
    assert not any("updating" in t for t in sent.texts())
    assert any("weights 0.45/0.50/0.30" in t for t in sent.texts())


def test_a_slow_preview_shows_the_old_picture_updating_then_the_new(monkeypatch):
    from studio import jobs, worker

    at = _app()
    sent = Sent(monkeypatch)
    monkeypatch.setattr(jobs, "QUICK", 0.01)
    gate = threading.Event()
    sent.on_element = lambda kind: gate.set() if kind == "progress" else None  # the bar is up: let it run
    held = worker.submit(gate.wait, 120, priority=worker.INTERACTIVE)  # the engine thread is busy
    try:
        at.slider(key="w_weight_fg").set_value(0.55).run()
    finally:
        gate.set()
        held.result(timeout=120)
    _ok(at)
    assert _session(at).preview.result.params.level_weights[0] == pytest.approx(0.55)
    kinds = [k for k, _ in sent.elements]
    assert kinds.count("imgs") == 2 and "progress" in kinds  # the old picture, then the new one
    assert kinds.index("imgs") < kinds.index("progress") < len(kinds) - 1 - kinds[::-1].index("imgs")
    texts = sent.texts()
    updating = [t for t in texts if "updating" in t]
    assert updating and "weights 0.70/0.50/0.30" in updating[0]  # the old picture's caption
    assert "weights 0.55/0.50/0.30" in texts[-1] or any("weights 0.55/0.50/0.30" in t for t in texts)


def test_the_heard_figure_is_built_once_per_labels(monkeypatch):
    from core.trace import HeardLabel
    from studio import charts
    from studio.widgets import results

    built = []
    real = charts.heard_figure
    monkeypatch.setattr(charts, "heard_figure", lambda *a, **k: built.append(a) or real(*a, **k))
    results._heard_figure.cache_clear()
    rain = [HeardLabel("Rain", "rain", "nature", 0.6, 0.31), HeardLabel("Wind", "wind", "nature", 0.4, 0.22)]
    first = results.heard_figure(rain, None, "#3A6EA5")
    again = results.heard_figure(list(rain), None, "#3A6EA5")  # an equal list from another trace
    assert again is first and len(built) == 1
    other = results.heard_figure(rain[:1], None, "#3A6EA5")
    titled = results.heard_figure(rain, "foreground", "#E4572E")
    assert len(built) == 3 and other is not first and titled is not first
    assert list(first.data[0].y) == ["Wind", "Rain"]  # the figure is the one charts builds


def test_a_preview_travels_inside_its_message_and_a_large_image_as_a_file():
    """The preview is a data: URL holding exactly the preview's PNG (no second request to /media);
    an image above the limit keeps Streamlit's file route."""
    import base64

    from studio.widgets import images

    at = _app()
    at.slider(key="w_weight_fg").set_value(0.4).run()
    _ok(at)
    png = _session(at).preview.result.png
    urls = [img.url for element in at.get("image") for img in element.proto.imgs]
    inline = [u for u in urls if u.startswith("data:image/png;base64,")]
    assert len(inline) == 1, urls
    assert base64.b64decode(inline[0].split(",", 1)[1]) == png
    assert images.inline_png(b"x" * (images.INLINE_MAX_BYTES + 1)) == b"x" * (images.INLINE_MAX_BYTES + 1)
