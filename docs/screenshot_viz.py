"""Screenshot of `kedro viz` in a real headless browser (Chromium from the system's packages).

Starts `kedro viz run` on a free port in the project root, waits for its API, lets headless
Chromium render the page (the app draws the graph with JavaScript, hence the virtual-time budget)
and writes a small PNG to docs/kedro-viz.png. Needs `chromium` on the PATH (Debian: apt-get
install chromium).

    .venv/bin/python docs/screenshot_viz.py [--out docs/kedro-viz.png]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    for port in range(24000, 32000, 7):  # kedro-viz refuses ports above 49151
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "kedro-viz.png"))
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--height", type=int, default=1100)
    parser.add_argument("--crop-right", type=int, default=480, help="px cut on the right (the first-run tips)")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        sys.exit("no Chromium on the PATH: apt-get install chromium")
    port = free_port()
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    command = [sys.executable, "-m", "kedro", "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/main", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("kedro viz did not start")
                time.sleep(1)
        with tempfile.TemporaryDirectory() as folder:
            shot = Path(folder) / "shot.png"
            url = f"http://127.0.0.1:{port}/"
            subprocess.run(
                [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--user-data-dir={folder}/profile", f"--window-size={args.width},{args.height}",
                 "--virtual-time-budget=20000", f"--screenshot={shot}", url],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180,
            )  # fmt: skip
            image = Image.open(shot).convert("RGB")
            image = image.crop((0, 40, image.width - args.crop_right, image.height))  # banner and tips
            image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
            image.quantize(colors=128).save(args.out, optimize=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
