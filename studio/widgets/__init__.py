"""The studio's shared widgets, one module per group; pages use them as `widgets.<name>`.

- knobs    the parameter widgets, generated from each field's Knob through the binding table
- audio    the audio picker (sample, upload, microphone, path) and the clip decode cache
- images   images from user files and runs, decoded defensively
- results  job progress, charts, heard labels, downloads, one card per audio part
- sidebar  models, conditioning mode, live preview settings
- canvas   painting a region on a photo (the Edit page's mask)
- text     user text (prompts, file names) put into Markdown as typed
"""

from __future__ import annotations

from studio.charts import LEVEL_ICON
from studio.markdown import code_md, escape_md, escape_md_prose

from .audio import audio_picker, checked_choice, clip_for, clip_problem_box, refused_for_clip, unusable_clip
from .canvas import PAINT_COLUMNS, PAINT_GAP, brush_note, paint_canvas
from .images import DAMAGED, duration, inline_png, loop_time, safe_image
from .knobs import (
    conditioning_sliders,
    knob_box,
    knob_slider,
    quality_choice,
    slider,
    slider_range,
    sources_controls,
    text_and_sampling,
)
from .results import (
    audio_setup,
    audio_used,
    chart,
    db_text,
    download_png,
    follow,
    generate_settings,
    heard,
    older_settings_note,
    part_card,
    rerun_fragment,
    scores_rows_table,
    scores_table,
    seed_line,
    skipped_note,
    trace_filename,
)
from .sidebar import show_load_error, sidebar

__all__ = [
    "DAMAGED",
    "LEVEL_ICON",
    "audio_picker",
    "audio_setup",
    "audio_used",
    "brush_note",
    "chart",
    "checked_choice",
    "clip_for",
    "clip_problem_box",
    "conditioning_sliders",
    "db_text",
    "download_png",
    "duration",
    "code_md",
    "escape_md",
    "escape_md_prose",
    "loop_time",
    "follow",
    "generate_settings",
    "heard",
    "inline_png",
    "knob_box",
    "knob_slider",
    "older_settings_note",
    "paint_canvas",
    "quality_choice",
    "refused_for_clip",
    "PAINT_COLUMNS",
    "PAINT_GAP",
    "part_card",
    "rerun_fragment",
    "safe_image",
    "scores_rows_table",
    "scores_table",
    "seed_line",
    "show_load_error",
    "sidebar",
    "skipped_note",
    "slider",
    "slider_range",
    "sources_controls",
    "text_and_sampling",
    "trace_filename",
    "unusable_clip",
]
