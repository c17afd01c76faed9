"""companion: the compute behind the book. One module per paper, shared machinery beside them.

Shared machinery: `config` (scales, argument checks), `cache` (results on disk), `runtime` (device,
seeds, threads), `training` (the loop), `models` (transformer, MLP), `plotting` (house style),
`explorer` (kernel-free sliders and filters), `exercises` (checks), `sweeps` (joblib grids),
`notebooks` (student copies), `topics` (the chapters by topic name). Chapters: `induction_heads`,
`hidden_progress`, `pareto_frontiers`, `increasing_complexity`, `margin_features`,
`variable_creation`, `watermark_sand`, `transcendence`, `knowable_unknowable`; the capstone,
`alignment_challenges`, maps their results onto the open problems of alignment and safety.
"""

from .cache import Result, cache_root, cached
from .config import SCALES, resolve_scale
from .runtime import pick_device, set_seed

__version__ = "0.1.0"
__all__ = ["Result", "cache_root", "cached", "SCALES", "resolve_scale", "pick_device", "set_seed"]
