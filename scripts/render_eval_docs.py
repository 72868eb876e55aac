"""Render the evaluation report of a synthetic scene and screenshot it for the docs.

    python scripts/render_eval_docs.py [--out out/eval_report] [--screenshot docs/eval_report.png]

Evaluates the imperfect labels of `avlabel.eval.synthetic` (60 frames, 30 objects, one
don't-care region per frame, ego poses) against their truth, writes the HTML report and,
when Chromium is installed (Debian: apt-get install chromium), a 1400 x 3000 screenshot of
its top. Prints the headline numbers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from avlabel.eval.evaluate import evaluate
from avlabel.eval.render import write_report
from avlabel.eval.synthetic import synthetic_scene

ROOT = Path(__file__).resolve().parent.parent


def screenshot(page: Path, image: Path, *, width: int = 1400, height: int = 3000) -> bool:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("no Chromium found: skipping the screenshot (apt-get install chromium)", file=sys.stderr)
        return False
    image.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={image}", f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=180)
    return image.exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "eval_report")
    parser.add_argument("--screenshot", type=Path, default=ROOT / "docs" / "eval_report.png")
    args = parser.parse_args()

    scene = synthetic_scene(60, 30, seed=5, ignore_regions=1)
    result = evaluate(scene.predictions, scene.truth, world_from_ego=scene.poses)
    page = write_report(result, args.out, predictions=scene.predictions, truth=scene.truth)
    print(f"report: {page}")
    print(json.dumps(result.headline(), indent=1))
    if screenshot(page, args.screenshot):
        print(f"screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
