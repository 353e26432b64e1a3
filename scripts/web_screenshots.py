"""Screenshots of every console page, for docs/web.md: `python scripts/web_screenshots.py --out docs/img/web`.

Seeds a throwaway SQLite catalog (tests/web/seed.py), serves it with `modelward catalog serve` on a
free loopback port, and drives headless Chromium through Playwright from tests/.envs/web
(`bash scripts/test_envs.sh` builds it; the browser is Debian's /usr/bin/chromium). PNGs are
shrunk with pngquant when it is installed and written at a 1100-pixel-wide viewport (the home page
also at 390 pixels, a phone). The last one is the page a rollback lands on (``rollback.png``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import MODELWARD, child_env, free_port, stop, wait_for  # noqa: E402
from tests.web.seed import seed  # noqa: E402

from modelward import catalog as c  # noqa: E402

BROWSER_PYTHON = ROOT / "tests" / ".envs" / "web" / "bin" / "python"
DRIVER = ROOT / "tests" / "web" / "browser_driver.py"
ICM = "insurance_charges_model"
FULL = {"model", "lineage", "deployment", "attempts", "xss"}  # the others: the first screen


def _pages(running: str) -> list[tuple[str, str]]:
    return [("home", "/console/?q=insurance"), ("model", f"/console/models/{ICM}"),
            ("version", f"/console/models/{ICM}/versions/1.1.0"), ("lineage", f"/console/lineage/{ICM}/1.1.0"),
            ("deployments", "/console/deployments"), ("deployment", f"/console/deployments/{running}"),
            ("attempts", "/console/attempts"), ("audit", "/console/audit"), ("audit-verify", "/console/audit/verify"),
            ("tokens", "/console/tokens"), ("login", "/console/login"), ("xss", "/console/models/fraud_model")]


def _rollback(running: str, out: Path) -> list[dict[str, object]]:
    """Roll the running deployment back and show the deployment page the console lands on."""
    return [{"do": "goto", "url": f"/console/deployments/{running}"},
            {"do": "fill", "selector": "#rollback-reason", "value": "charges 10% too high since 1.1.0"},
            {"do": "click", "selector": "#rollback-form button[type=submit]"},
            {"do": "screenshot", "path": str(out / "rollback.png"), "full": False}]


def _drive(base: str, steps: list[dict[str, object]], viewport: tuple[int, int]) -> None:
    plan = {"base": base, "steps": steps, "viewport": list(viewport)}
    done = subprocess.run([str(BROWSER_PYTHON), str(DRIVER)], input=json.dumps(plan), capture_output=True,
                          text=True, check=False)
    if done.returncode != 0 or "failed" in json.loads(done.stdout or "{}"):
        raise SystemExit(f"the browser run failed: {done.stderr[-2000:]} {done.stdout[-2000:]}")


def _shrink(pngs: list[Path]) -> None:
    """Palette-quantize the PNGs with pngquant when it is installed (apt-get install pngquant): ~3x smaller."""
    if shutil.which("pngquant") and pngs:
        subprocess.run(["pngquant", "--force", "--ext", ".png", "--skip-if-larger", "64",
                        *map(str, pngs)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "web")
    args = parser.parse_args()
    if not BROWSER_PYTHON.exists():
        raise SystemExit("run `bash scripts/test_envs.sh` first (it builds tests/.envs/web with Playwright)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'catalog.db'}"
        c.open_catalog(url, migrate=True).dispose()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        seeded = seed(url, live_endpoint=base)
        process = subprocess.Popen([MODELWARD, "catalog", "serve", "--url", url, "--port", str(port)],
                                   env=child_env(MODELWARD_DATA_DIR=tmp, MODELWARD_LOG_LEVEL="warning"),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(base, process)
            login = [{"do": "goto", "url": "/console/login"},
                     {"do": "fill", "selector": "#token", "value": seeded.tokens["admin"]},
                     {"do": "click", "selector": "form.login button[type=submit]"}]
            steps: list[dict[str, object]] = list(login)
            for name, path in _pages(seeded.running):
                steps.append({"do": "goto", "url": path})
                if name == "deployment":
                    steps.append({"do": "wait_text", "selector": "#health .health-state", "value": "healthy"})
                steps.append({"do": "screenshot", "path": str(args.out / f"{name}.png"), "full": name in FULL})
            steps += _rollback(seeded.running, args.out)  # last: it changes what the other pages show
            _drive(base, steps, (1100, 800))
            _drive(base, [{"do": "goto", "url": "/console/"},
                          {"do": "screenshot", "path": str(args.out / "home-narrow.png"), "full": False}], (390, 844))
        finally:
            stop(process)
    _shrink(sorted(args.out.glob("*.png")))
    for png in sorted(args.out.glob("*.png")):
        print(f"{png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}  {png.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
