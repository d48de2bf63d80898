"""Digest of every golden and golden-fixed image on every instruction-set path this CPU runs.

A refactor that must not change a single pixel is checked by writing the digest before and
after it and comparing the two files:

    python tests/tools/image_digest.py > before.txt
    ... change the code, rebuild ...
    python tests/tools/image_digest.py > after.txt && diff before.txt after.txt

Each line is `corpus case isa sha256(float image bytes) sha256(int image) sha256(noise image)`:
the float image as rendered, and the recorded-value images (integer and Poisson noise, through
the same conversions the writers use), so the response stage is covered too.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPORA = {
    "golden": (ROOT.parent / "shared" / "golden", []),
    "golden-fixed": (ROOT.parent / "shared" / "golden-fixed", ["-fix_quirks"]),
}


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:24]


def main() -> int:
    from nanobragg_rs import Simulator, _core, config_from_args, parse_args
    from nanobragg_rs.io import images

    inputs = ROOT.parent / "shared" / "golden" / "inputs"
    isas = _core.supported_isas()
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(inputs, pathlib.Path(tmp) / "inputs")
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            for corpus, (folder, extra) in CORPORA.items():
                manifest = folder / "manifest.json"
                if not manifest.is_file():
                    print(f"# {corpus}: not found at {folder}", file=sys.stderr)
                    continue
                for case in json.loads(manifest.read_text()):
                    args = case["args"] + extra
                    run = parse_args(args)
                    sim = Simulator(config_from_args(args))
                    for isa in isas:
                        img = sim.render(isa=isa)
                        roi = sim.panel.roi
                        max_i = sim.max_pixel(img)[0]
                        scale = run.output.scale if run.output.scale > 0 else (55000.0 / max_i if max_i > 0 else 1.0)
                        ints = images.int_image(img, scale, run.output.adc, roi)
                        noise = sim.noise(img, run.output.seed if run.output.seed is not None else 12345)
                        counts, over = images.noise_counts(noise.photons, run.output.adc, roi)
                        print(corpus, case["name"], isa, _sha(img), _sha(ints), _sha(counts), over, flush=True)
        finally:
            os.chdir(cwd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
