import pytest
import yaml

from repotune.config import RunConfig, apply_override, commented_yaml, field_docs, list_presets, load_config
from repotune.core.errors import ConfigError


def test_defaults_are_embedded():
    cfg = load_config()
    assert cfg.store.url.startswith("file://")
    assert cfg.analyze.source == "sample:tinyshop"


def test_every_shipped_preset_loads():
    assert "default" in list_presets()
    for preset in list_presets():
        assert isinstance(load_config(preset=preset), RunConfig)


def test_overrides_are_typed_yaml_values():
    cfg = load_config(overrides=["run_id=exp-7", "store.secure=false", "ray.num_cpus=2"])
    assert cfg.run_id == "exp-7"
    assert cfg.store.secure is False
    assert cfg.ray.num_cpus == 2


def test_file_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"run_id": "from-file", "ray": {"num_cpus": 1}}))
    cfg = load_config(path, ["ray.num_cpus=2"])
    assert (cfg.run_id, cfg.ray.num_cpus) == ("from-file", 2)


def test_unknown_key_names_the_field():
    with pytest.raises(ConfigError, match=r"store\.urll: unknown key"):
        load_config(overrides=["store.urll=s3://x"])


def test_wrong_type_names_field_value_and_rule():
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["ray.num_cpus=lots"])
    message = str(err.value)
    assert "ray.num_cpus" in message and "'lots'" in message and "integer" in message


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_id: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config(preset="nope")


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_override({}, "no-equals-sign")
    with pytest.raises(ConfigError, match="is not a section"):
        apply_override({"run_id": "x"}, "run_id.deeper=1")


def test_every_field_is_documented():
    undocumented = [name for name, _, desc in field_docs() if not desc]
    assert undocumented == []


def test_commented_yaml_round_trips():
    cfg = load_config(overrides=["run_id=rt"])
    text = commented_yaml(cfg)
    assert "# Name of the run" in text
    assert RunConfig.model_validate(yaml.safe_load(text)) == cfg


def test_section_hash_changes_only_with_its_section():
    a = load_config()
    b = load_config(overrides=["run_id=other"])
    c = load_config(overrides=["ray.num_cpus=1"])
    assert a.section_hash("analyze") == b.section_hash("analyze") == c.section_hash("analyze")
    assert a.section_hash("ray") != c.section_hash("ray")


@pytest.mark.parametrize("override", ["analyze.max_file_bytes=-1", "analyze.max_archive_bytes=0",
                                      "analyze.max_archive_files=-5", "analyze.context_tokens=-1"])
def test_negative_analyze_limits_are_refused_with_the_field(override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"{key}.*greater than"):
        load_config(overrides=[override])
