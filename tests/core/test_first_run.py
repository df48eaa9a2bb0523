"""The first run a newcomer sees: the quickstart trains a real small model (the suite keeps `tiny`), long steps
report progress, and what libraries print (Ray, transformers) goes to a log file instead of the console."""

import subprocess
import sys
from pathlib import Path

from repotune.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_trains_smollm2_and_the_default_keeps_tiny():
    quick = load_config(preset="quickstart")
    assert quick.train.base_model == "smollm2" and quick.analyze.source == "sample:tinyshop"
    assert "apply_rules" in quick.deploy.smoke_prompt  # the smoke request asks about the sample's code
    assert load_config().train.base_model == "tiny"
    script = (ROOT / "scripts" / "quickstart.sh").read_text()
    assert "repotune run --preset quickstart" in script


def test_library_output_goes_to_the_log_file_and_progress_to_the_console(tmp_path):
    log = tmp_path / "repotune.log"
    result = subprocess.run(
        [sys.executable, "-m", "repotune", "run", f"store.url=file://{tmp_path}/s", "train.max_steps=3", "analyze.use_ray=true",
         "--steps", "analyze,label,synthesize,dataset,train"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REPOTUNE_LOG_FILE": str(log), "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    console = result.stderr + result.stdout
    assert "✔ analyze" in console and "train: 3/3 steps" in console  # plain progress lines off a terminal
    for noise in ("streaming_executor", "core_worker", "Loading weights", "Token authentication", "FutureWarning"):
        assert noise not in console, noise
    written = log.read_text()
    assert "streaming_executor" in written  # Ray Data's executor log: it went to the file, not nowhere
    assert "train: 3/3 steps" in written
