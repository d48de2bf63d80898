"""Data sets: rotation series and random-orientation sets, written as NXmx, SMV or CBF, on
one machine or a Dask cluster (see docs/datasets.md).

>>> from nanobragg_rs import Config
>>> from nanobragg_rs.dataset import make_plan
>>> cfg = Config()
>>> cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
>>> cfg.crystal.default_F = 100
>>> cfg.detector.detpixels_f = cfg.detector.detpixels_s = 16
>>> cfg.sampling.osc_deg = 0.5
>>> plan = make_plan(cfg, 4)
>>> [plan.frame_settings(i)["phi_deg"] for i in range(4)]
[0.0, 0.5, 1.0, 1.5]
"""

from .engines import DatasetResult, render_chunk, render_dataset
from .plan import LABEL_COLUMNS, Plan, PlanError, derive, make_plan, noise_seed, random_rotation

__all__ = [
    "LABEL_COLUMNS",
    "DatasetResult",
    "Plan",
    "PlanError",
    "derive",
    "make_plan",
    "noise_seed",
    "random_rotation",
    "render_chunk",
    "render_dataset",
]
