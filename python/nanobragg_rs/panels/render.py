"""Render every panel of a multi-panel detector, each as its own reference run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import _core
from ..config import Config
from ..simulate import Noise, Simulator
from .model import Panel


@dataclass(frozen=True)
class DetectorImages:
    """Float images of every panel, in panel order and each panel's own pixel order."""

    names: tuple[str, ...]
    images: tuple[np.ndarray, ...]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.images[self.names.index(name)]

    def stacked(self) -> np.ndarray:
        """A (panels, slow, fast) array; all panels must share a shape."""
        shapes = {im.shape for im in self.images}
        if len(shapes) != 1:
            raise ValueError(f"panels have different shapes {sorted(shapes)}: use .images")
        return np.stack(self.images)

    def concatenated(self) -> np.ndarray:
        """The panels one after another, flat (the -floatfile layout)."""
        return np.concatenate([im.reshape(-1) for im in self.images])


class MultiSimulator:
    """A configuration with a panel list, resolved into one Simulator per panel.

    Each panel is the reference's custom-convention run of that panel alone (its serial
    state, such as the phi carry-over and the interpolation shutdown, restarts per panel).
    A panel whose fast x slow points at the sample is simulated turned (slow axis reversed)
    and its rows are put back, so every image is in the panel's own pixel order.
    """

    def __init__(self, config: Config, panels: tuple[Panel, ...] | None = None) -> None:
        panels = tuple(panels if panels is not None else (config.detector.panels or ()))
        if not panels:
            raise _core.ConfigError("detector.panels: the panel list is empty")
        self.config = config
        self.panels = panels
        sf = config.crystal.structure_factors
        table = sf.table(config.crystal.default_F) if sf is not None else None
        masks: list[np.ndarray | None] = []
        for p in panels:
            if p.mask is None:
                masks.append(None)
                continue
            m = np.asarray(p.mask)
            if m.shape != p.shape:
                raise _core.ConfigError(f"detector.panels[{p.name}]: mask has shape {m.shape}, the panel is {p.shape}")
            masks.append(np.ascontiguousarray(m.reshape(-1) != 0, dtype=np.uint16))
        pairs = _core.panel_simulations(config.to_dict(), [p.to_core() for p in panels], table, masks)
        self.simulators = tuple(Simulator._from_core(sim, config) for sim, _ in pairs)
        #: Whether each panel was simulated turned (its rows reversed).
        self.turned = tuple(t for _, t in pairs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.panels)

    def _own_order(self, k: int, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(image[::-1]) if self.turned[k] else image

    def render(
        self,
        threads: int | None = None,
        progress: Callable[[int], object] | None = None,
        isa: str | None = None,
    ) -> DetectorImages:
        """Every panel's float image (photons per pixel), in panel order. ``progress`` gets
        the rows done over all panels."""
        images = []
        done = 0
        for k, sim in enumerate(self.simulators):
            cb = None
            if progress is not None:
                base = done
                cb = lambda rows, base=base: progress(base + rows)  # noqa: E731
            images.append(self._own_order(k, sim.render(threads=threads, progress=cb, isa=isa)))
            done += self.panels[k].slow_pixels
        return DetectorImages(self.names, tuple(images))

    def max_float(self, images: DetectorImages) -> float:
        """The largest float pixel over all panels, as the reference finds it per panel."""
        return max(sim.max_pixel(im)[0] for sim, im in zip(self.simulators, images.images))

    def scale(self, images: DetectorImages) -> float:
        """The integer-image scale of the whole detector: 55000 / the largest float pixel."""
        m = self.max_float(images)
        return 55000.0 / m if m > 0.0 else 1.0

    def noise(self, images: DetectorImages, seed: int) -> tuple[Noise, ...]:
        """Poisson noise for each panel: panel k draws as the reference does with seed+k."""
        out = []
        for k, (sim, im) in enumerate(zip(self.simulators, images.images)):
            n = sim.noise(self._own_order(k, im), seed + k)
            out.append(Noise(self._own_order(k, n.photons), n.total))
        return tuple(out)

    def index(self, name: str) -> int:
        """Panel index of ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise _core.ConfigError(f"detector.panels: no panel named '{name}'") from None

    def trace(self, name: str, fpixel: int, spixel: int, isa: str | None = None) -> tuple[float, list[str]]:
        """Value and TRACE lines of pixel (fast, slow) of panel ``name`` (own pixel order)."""
        k = self.index(name)
        p = self.panels[k]
        if not (0 <= fpixel < p.fast_pixels and 0 <= spixel < p.slow_pixels):
            raise _core.ConfigError(f"detector.panels[{name}]: pixel ({fpixel}, {spixel}) is outside the {p.fast_pixels}x{p.slow_pixels} panel")
        if self.turned[k]:
            spixel = p.slow_pixels - 1 - spixel
        return self.simulators[k].trace(fpixel, spixel, isa)


def render_panels(config: Config, *, threads: int | None = None) -> DetectorImages:
    """Render every panel of ``config.detector.panels``."""
    return MultiSimulator(config).render(threads=threads)
