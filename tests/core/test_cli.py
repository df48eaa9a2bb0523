"""The command line as a user runs it: a subprocess, its exit code, its one-line errors."""

import json
import subprocess
import sys

import pytest


def repotune(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repotune", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": "/tmp"})


def test_help_lists_commands():
    result = repotune("--help")
    assert result.returncode == 0
    for command in ("run", "status", "ls", "show", "config", "presets"):
        assert command in result.stdout


def test_run_help_lists_config_fields():
    result = repotune("run", "--help")
    assert result.returncode == 0
    assert "store.url" in result.stdout and "analyze.source" in result.stdout


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    result = repotune("run", "store.urll=s3://x", cwd=tmp_path)
    assert result.returncode == 2
    assert "store.urll: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".repotune").exists(), "nothing may be written for an invalid config"


def test_unknown_step_exit_4(tmp_path):
    result = repotune("run", "--steps", "nope", f"store.url=file://{tmp_path}/s", cwd=tmp_path)
    assert result.returncode == 4
    assert "unknown step 'nope'" in result.stderr


def test_status_of_missing_run(tmp_path):
    result = repotune("status", "ghost", "--store", f"file://{tmp_path}/s")
    assert result.returncode == 1
    assert "no run 'ghost'" in result.stderr


def test_ls_json_on_empty_store(tmp_path):
    result = repotune("ls", "--json", "--store", f"file://{tmp_path}/s")
    assert result.returncode == 0
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("preset", ["default"])
def test_config_prints_commented_yaml(preset):
    result = repotune("config", "--preset", preset)
    assert result.returncode == 0
    assert "# Root of the store" in result.stdout


def test_user_text_with_brackets_is_printed_as_written_never_as_markup(tmp_path):
    store, name, run_id = f"file://{tmp_path}/s", "shop[/x][red]", "a[red]b"
    result = repotune("run", "--steps", "analyze", f"store.url={store}", "analyze.use_ray=false", f"run_id={run_id}",
                      f"analyze.repository={name}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    # progress and summaries go to stderr; the summary names the repository, the last line the run
    assert f"{name}: 11 files" in result.stderr and f"run {run_id} in" in result.stderr
    shown = repotune("show", run_id, "analyze", "--store", store)
    assert shown.returncode == 0 and f"of run {run_id}: succeeded" in shown.stdout and name in shown.stdout


def test_a_store_url_without_a_bucket_is_one_line_not_a_markup_crash(tmp_path):
    result = repotune("run", "--steps", "analyze", "store.url=s3://", cwd=tmp_path)
    assert result.returncode in (2, 3), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "MarkupError" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


@pytest.mark.parametrize("args, code, expected", [
    (["run", "analyze.bogus[x]=1"], 2, "analyze.bogus[x]"),
    (["run", "--steps", "nope[/x]", "store.url=file://{tmp}/s"], 4, "unknown step 'nope[/x]'"),
    (["run", "--config", "{tmp}/missing[red].yaml"], 2, "missing[red].yaml"),
    (["run", "--preset", "nope[/b]"], 2, "nope[/b]"),
    (["status", "ghost[/b]", "--store", "file://{tmp}/s"], 1, "no run 'ghost[/b]'"),
    (["run", "--steps", "analyze", "analyze.source={tmp}/gone[/x]", "store.url=file://{tmp}/s"], 4, "gone[/x]"),
    (["run", "--steps", "analyze", "analyze.use_ray=false", "store.url=file://{tmp}/s[b]"], 0,
     "s%5Bb%5D/runs/local/"),  # the store names itself by its file URI, where brackets are escaped
])
def test_brackets_in_any_user_given_value_come_back_as_written(tmp_path, args, code, expected):
    tmp = str(tmp_path)
    result = repotune(*(a.replace("{tmp}", tmp) for a in args), cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == code, out[-2000:]
    assert expected.replace("{tmp}", tmp) in out.replace("\n", "") and "Traceback" not in out and "Markup" not in out
