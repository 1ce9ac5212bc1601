"""Recording eval results in the zoo index (on a temporary index, not the package's)."""
import json

import pytest

from tts_gym.zoo import ship


@pytest.fixture
def index(tmp_path, monkeypatch):
    path = tmp_path / "index.json"
    variant = {"sparsity": 0.95, "sampler": "ddpm", "steps": 100, "file": "x.pt", "recipe": "r", "results": None}
    path.write_text(json.dumps({"policies": {"kitchen": {"file": "kitchen.pt", "variants": [variant]}}}))
    monkeypatch.setattr(ship, "INDEX", path)
    return path


def summary_file(tmp_path, name, **fields):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"episodes": 50, "sampler": "ddpm", "steps": 100, **fields}))
    return str(path)


def test_results_go_to_the_dense_entry_or_the_matching_variant(index, tmp_path):
    ship.record_results("kitchen", summary_file(tmp_path, "dense", p1=0.34))
    ship.record_results("kitchen", summary_file(tmp_path, "tts", p1=0.02), sparsity=0.95)
    entry = json.loads(index.read_text())["policies"]["kitchen"]
    assert entry["results"]["ddpm100"]["p1"] == 0.34 and entry["variants"][0]["results"]["p1"] == 0.02


def test_results_for_an_unshipped_variant_are_refused_unchanged(index, tmp_path):
    before = index.read_text()
    with pytest.raises(ValueError, match=r"no variant \(0.9, 'ddpm', 100\); shipped: \[\(0.95"):
        ship.record_results("kitchen", summary_file(tmp_path, "tts"), sparsity=0.9)
    with pytest.raises(ValueError, match="no shipped policy 'lift'"):
        ship.record_results("lift", summary_file(tmp_path, "tts"))
    assert index.read_text() == before
