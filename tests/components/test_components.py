"""components/<name>/: each KFP component as a file a Kubeflow user loads, kept equal to the definitions the
pipeline compiles (repotune.kfp.components), with every input and output described."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from repotune.kfp.publish import NAMES, component_readme, component_yaml

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "repotune compile-components components"


@pytest.mark.parametrize("name", NAMES)
def test_the_published_component_matches_its_definition(name):
    folder = ROOT / "components" / name
    compiled = component_yaml(name)
    assert (folder / "component.yaml").read_text() == compiled, f"components/{name} drifted: run {REGENERATE}"
    assert (folder / "README.md").read_text() == component_readme(name, compiled), \
        f"components/{name}/README.md drifted: run {REGENERATE}"


@pytest.mark.parametrize("name", NAMES)
def test_a_user_loads_the_component_and_every_input_is_described(name):
    from kfp import components

    component = components.load_component_from_file(str(ROOT / "components" / name / "component.yaml"))
    assert component.name == name
    inputs = yaml.safe_load((ROOT / "components" / name / "component.yaml").read_text())["components"][
        f"comp-{name}"]["inputDefinitions"]["parameters"]
    assert {"config_yaml", "overrides"} <= set(inputs)
    assert all(spec.get("description") for spec in inputs.values()), f"{name}: an input without a description"
    table = [line for line in (ROOT / "components" / name / "README.md").read_text().splitlines()
             if line.startswith("| `")]
    assert table and all(not line.rstrip().endswith("|  |") for line in table), f"{name}: an undescribed row"


def test_the_components_folder_holds_exactly_the_components():
    folders = sorted(p.name for p in (ROOT / "components").iterdir() if p.is_dir())
    assert folders == sorted(NAMES)
