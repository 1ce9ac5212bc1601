"""Recording eval results in the zoo index (on a temporary index, not the package's)."""
import json

import numpy as np
import pytest
import torch

from helpers import tiny_policy
from tts_gym import SparseDiffusionPolicy
from tts_gym.sparsity.planners.base import FixedPlanner
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
    with pytest.raises(ValueError, match=r"no variant \(0.9, 'ddpm', 100, 'omni'\); shipped: \[\(0.95"):
        ship.record_results("kitchen", summary_file(tmp_path, "tts"), sparsity=0.9)
    with pytest.raises(ValueError, match="no shipped policy 'lift'"):
        ship.record_results("lift", summary_file(tmp_path, "tts"))
    assert index.read_text() == before


def test_a_frozen_plan_ships_beside_its_pruner_and_is_picked_by_strategy(index, tmp_path, monkeypatch):
    from tts_gym.zoo import variant_files

    monkeypatch.setattr(ship, "HERE", tmp_path)
    policy_file = tmp_path / "kitchen.pt"
    tiny_policy().save(policy_file)
    policy = tiny_policy()
    fixed = policy.with_planner(FixedPlanner(np.zeros((policy.sampler.num_steps, policy.config.backbone.n_blocks), np.int8)))
    fixed.save_planner(tmp_path / "frozen_source.pt")
    ship.ship_pruner("kitchen", str(tmp_path / "frozen_source.pt"), 0.95, "ddpm", 100, "freeze x.pt", None, "frozen")
    entry = json.loads(index.read_text())["policies"]["kitchen"]
    assert [v.get("strategy", "omni") for v in entry["variants"]] == ["omni", "frozen"]  # the pruner stays
    assert variant_files("kitchen", entry, 0.95, root=tmp_path)[1].name == "x.pt"
    assert variant_files("kitchen", entry, 0.95, root=tmp_path, strategy="frozen")[1].name == \
        "kitchen_frozen_ddpm100_rho0.95.pt"
    with pytest.raises(ValueError, match="no variant"):
        variant_files("kitchen", entry, 0.95, root=tmp_path, strategy="one_for_all")
    with pytest.raises(ValueError, match="give its sparsity"):
        variant_files("kitchen", entry, None, root=tmp_path, strategy="frozen")


def test_withdrawing_a_pruner_removes_its_file_and_entry_only(index, tmp_path, monkeypatch):
    monkeypatch.setattr(ship, "HERE", tmp_path)
    (tmp_path / "x.pt").write_bytes(b"pruner")
    with pytest.raises(ValueError, match="no variant"):
        ship.withdraw_pruner("kitchen", 0.9, "ddpm", 100)
    assert (tmp_path / "x.pt").is_file()
    assert ship.withdraw_pruner("kitchen", 0.95, "ddpm", 100)["file"] == "x.pt"
    entry = json.loads(index.read_text())["policies"]["kitchen"]
    assert entry["variants"] == [] and entry["file"] == "kitchen.pt" and not (tmp_path / "x.pt").exists()


def test_new_weights_under_a_shipped_name_drop_its_results_and_pruners(tmp_path, monkeypatch):
    monkeypatch.setattr(ship, "HERE", tmp_path / "zoo")
    monkeypatch.setattr(ship, "INDEX", tmp_path / "zoo" / "index.json")
    (tmp_path / "zoo").mkdir()
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    tiny_policy().save(first)
    retrained = tiny_policy()
    with torch.no_grad():
        next(retrained.model.parameters()).add_(1.0)
    retrained.save(second)

    ship.ship_policy("tiny", str(first), "recipe", summary_file(tmp_path, "dense", p1=0.5))
    pruner = tmp_path / "zoo" / "tiny_omni_ddpm100_rho0.95.pt"
    pruner.write_bytes(b"pruner")
    entry = json.loads(ship.INDEX.read_text())
    entry["policies"]["tiny"]["variants"] = [{"sparsity": 0.95, "sampler": "ddpm", "steps": 100, "file": pruner.name}]
    ship.INDEX.write_text(json.dumps(entry))

    ship.ship_policy("tiny", str(first), "recipe", None)  # the same weights again: nothing measured goes stale
    SparseDiffusionPolicy.load(first).save(first, metadata={"note": "re-saved"})
    ship.ship_policy("tiny", str(first), "recipe", None)  # other metadata, same weights: still nothing
    entry = json.loads(ship.INDEX.read_text())["policies"]["tiny"]
    assert entry["results"]["ddpm100"]["p1"] == 0.5 and len(entry["variants"]) == 1 and pruner.is_file()

    ship.ship_policy("tiny", str(second), "recipe", None)
    entry = json.loads(ship.INDEX.read_text())["policies"]["tiny"]
    assert "results" not in entry and entry["variants"] == [] and not pruner.exists()


def test_a_refused_file_leaves_the_shipped_one_and_the_index_as_they_were(tmp_path, monkeypatch):
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    monkeypatch.setattr(ship, "HERE", zoo)
    monkeypatch.setattr(ship, "INDEX", zoo / "index.json")
    first, retrained = tmp_path / "first.pt", tiny_policy()
    tiny_policy().save(first)
    ship.ship_policy("tiny", str(first), "recipe", None)
    shipped = {path.name: path.read_bytes() for path in zoo.iterdir()}

    with torch.no_grad():
        next(retrained.model.parameters()).add_(1.0)
    retrained.save(tmp_path / "retrained.pt")
    monkeypatch.setattr(ship, "MAX_FILE_BYTES", 1024)
    with pytest.raises(ValueError, match=r"over the 0 MB budget; .*tiny.pt is unchanged"):
        ship.ship_policy("tiny", str(tmp_path / "retrained.pt"), "recipe", None)
    retrained.save_planner(tmp_path / "pruner_of_other_weights.pt")
    with pytest.raises(ValueError, match="pruner_of_other_weights.pt was trained on other weights"):
        ship.ship_pruner("tiny", str(tmp_path / "pruner_of_other_weights.pt"), 0.9, "ddpm", 100, "recipe", None)
    assert {path.name: path.read_bytes() for path in zoo.iterdir()} == shipped


def test_other_inference_choices_keep_the_pruners_and_drop_what_was_measured_under_the_old(tmp_path, monkeypatch):
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    monkeypatch.setattr(ship, "HERE", zoo)
    monkeypatch.setattr(ship, "INDEX", zoo / "index.json")
    trained = tmp_path / "trained.pt"
    tiny_policy().save(trained)
    horizon = tiny_policy().config.n_action_steps
    ship.ship_policy("tiny", str(trained), "recipe", summary_file(tmp_path, "dense", p1=0.5, action_steps=horizon))
    entry = json.loads(ship.INDEX.read_text())
    entry["policies"]["tiny"]["variants"] = [{"sparsity": 0.95, "sampler": "ddpm", "steps": 100, "file": "p.pt",
                                               "results": {"p1": 0.4}}]
    ship.INDEX.write_text(json.dumps(entry))

    ship.ship_policy("tiny", str(trained), "recipe", None, action_steps=horizon - 1)
    entry = json.loads(ship.INDEX.read_text())["policies"]["tiny"]
    assert SparseDiffusionPolicy.load(zoo / "tiny.pt").config.n_action_steps == horizon - 1
    assert entry["action_steps"] == horizon - 1 and "results" not in entry
    assert entry["variants"][0]["file"] == "p.pt" and entry["variants"][0]["results"] is None
    with pytest.raises(ValueError, match=f"ran with action_steps {horizon}; the shipped 'tiny' uses {horizon - 1}"):
        ship.record_results("tiny", summary_file(tmp_path, "old", p1=0.5, action_steps=horizon))
    ship.record_results("tiny", summary_file(tmp_path, "new", p1=0.6, action_steps=horizon - 1))
    assert json.loads(ship.INDEX.read_text())["policies"]["tiny"]["results"]["ddpm100"]["p1"] == 0.6

    ship.ship_policy("tiny", str(trained), "recipe", None, temperature=0.5)
    entry = json.loads(ship.INDEX.read_text())["policies"]["tiny"]
    shipped = SparseDiffusionPolicy.load(zoo / "tiny.pt").config
    assert (shipped.temperature, shipped.n_action_steps) == (0.5, horizon)  # the file's own horizon again
    assert entry["temperature"] == 0.5 and "results" not in entry and entry["variants"][0]["file"] == "p.pt"
    with pytest.raises(ValueError, match="ran with temperature 1.0; the shipped 'tiny' uses 0.5 .*--temperature 1.0"):
        ship.record_results("tiny", summary_file(tmp_path, "warm", p1=0.5, temperature=1.0, action_steps=horizon))

    ship.ship_policy("tiny", str(trained), "recipe", None, temperature=0.5, temporal_ensemble=True, ensemble_decay=0.1)
    entry = json.loads(ship.INDEX.read_text())["policies"]["tiny"]
    assert SparseDiffusionPolicy.load(zoo / "tiny.pt").config.temporal_ensemble
    assert entry["temporal_ensemble"] is True and entry["ensemble_decay"] == 0.1
    with pytest.raises(ValueError, match="ran with temporal_ensemble False.*with --temporal-ensemble, or ship .* --no-temporal-ensemble"):
        ship.record_results("tiny", summary_file(tmp_path, "chunked", p1=0.5, temperature=0.5, temporal_ensemble=False))


def test_the_zoo_table_has_a_row_per_measured_run_and_marks_the_unmeasured():
    from tts_gym.zoo.listing import markdown

    levels = {"p1": 1.0, "p2": 0.5, "p3": 0.25, "p4": 0.125}
    dense = {"sampler": "ddim", "steps": 16, "episodes": 8, "success_rate": 0.125, "success_ci95": [0.02, 0.47],
             "mean_sparsity": 0.0, **levels}
    tts = {**dense, "mean_sparsity": 0.84}
    entries = {"kitchen": {"results": {"ddim16": dense}, "variants": [
        {"sparsity": 0.95, "sampler": "ddpm", "steps": 100, "results": None},
        {"sparsity": 0.9, "sampler": "ddim", "steps": 16, "results": tts},
    ]}}
    lines = markdown(entries).splitlines()
    assert len(lines) == 2 + 3
    assert lines[2] == "| kitchen | dense | DDIM-16 | 0% | p1-p4 1.00 / 0.50 / 0.25 / 0.12 (0.02-0.47) | 8 |"
    assert lines[3].startswith("| kitchen | TTS rho 0.95 | DDPM-100 | - | not measured")  # DDPM-100 before DDIM-16
    assert "| TTS rho 0.90 | DDIM-16 | 84% |" in lines[4]


def test_the_zoo_command_lists_every_shipped_file_and_refuses_an_unknown_name(capsys):
    from tts_gym import pretrained
    from tts_gym.cli import main

    assert main(["zoo"]) == 0
    table = capsys.readouterr().out
    for name, entry in pretrained().items():
        runs = len(entry.get("results") or {}) + len(entry.get("variants", []))
        assert sum(line.startswith(f"| {name} |") for line in table.splitlines()) == runs
    with pytest.raises(SystemExit, match="no shipped policy 'nope'"):
        main(["zoo", "--policy", "nope"])


def test_results_measured_on_other_weights_than_the_shipped_copy_are_refused(tmp_path, monkeypatch):
    from tts_gym.evaluation.episode_log import IDENTITY_FILE, policy_identity

    zoo = tmp_path / "zoo"
    zoo.mkdir()
    monkeypatch.setattr(ship, "HERE", zoo)
    monkeypatch.setattr(ship, "INDEX", zoo / "index.json")
    trained = tiny_policy()
    trained.save(tmp_path / "trained.pt")
    ship.ship_policy("tiny", str(tmp_path / "trained.pt"), "recipe", None)  # stored in fp16

    def measured_on(policy, name):
        folder = tmp_path / name
        folder.mkdir()
        (folder / IDENTITY_FILE).write_text(json.dumps(policy_identity(policy, "env")))
        sampler = policy.config.sampler
        return summary_file(folder, "summary", p1=0.5, sampler=sampler.name, steps=sampler.num_inference_steps)

    before = ship.INDEX.read_text()
    with pytest.raises(ValueError, match="measured on other weights, planner or settings than the shipped 'tiny'"):
        ship.record_results("tiny", measured_on(SparseDiffusionPolicy.load(tmp_path / "trained.pt"), "fp32"))
    assert ship.INDEX.read_text() == before
    shipped = SparseDiffusionPolicy.load(zoo / "tiny.pt")
    ship.record_results("tiny", measured_on(shipped, "shipped"))
    key = f"{shipped.config.sampler.name}{shipped.config.sampler.num_inference_steps}"
    assert json.loads(ship.INDEX.read_text())["policies"]["tiny"]["results"][key]["p1"] == 0.5


def test_the_listing_names_each_plan_kind():
    from tts_gym.zoo.listing import plan_name

    assert plan_name({"sparsity": None}) == "dense"
    assert plan_name({"sparsity": 0.92}) == "TTS rho 0.92"
    assert plan_name({"sparsity": 0.92, "strategy": "frozen"}) == "TTS rho 0.92, frozen"
    assert plan_name({"sparsity": 0.92, "strategy": "tail"}) == "tail plan rho 0.92"
    assert plan_name({"sparsity": 0.94, "strategy": "interval"}) == "interval plan rho 0.94"
