"""The user docs report what ships: no work history, short enough to read, tables that match the index."""
import io
import re
import tokenize
from pathlib import Path

import pytest

from tts_gym import pretrained
from tts_gym.zoo import computed_steps, fastest_keeping_success
from tts_gym.zoo.listing import markdown, readme_table, with_readme_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = sorted(path for folder in ("tts_gym", "scripts", "examples", "benchmarks", "tests")
                 for path in (ROOT / folder).rglob("*.py") if path != Path(__file__).resolve())  # not the rule itself
# How the work was organised is no reader's business: the word for a sitting, or a dated work entry.
HISTORY = re.compile(r"\bsessions?\b|\b20\d\d-[01]\d-[0-3]\d\b", re.IGNORECASE)
PROSE_TOKENS = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}


def history_in(text: str, first_line: int = 1) -> list[tuple[int, str]]:
    return [(first_line + text.count("\n", 0, hit.start()), hit.group()) for hit in HISTORY.finditer(text)]


def prose(path: Path):
    """(line, text) of every comment and string literal (docstrings included) of a Python file."""
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if token.type in PROSE_TOKENS:
            yield token.start[0], token.string


def test_history_rule_catches_what_it_should_and_nothing_else():
    assert [word for _, word in history_in("Since the twenty-first Session;\nmeasured 2026-11-23")] == \
        ["Session", "2026-11-23"]
    assert history_in("sessional, obsession, session_id, requests.Session(), seed 100000-100049, 0.93-1.00") == \
        [(1, "Session")]  # only prose is scanned: in code, requests.Session would not be read


def test_no_work_history_in_the_docs_or_in_any_docstring_or_comment():
    found = [f"{path.relative_to(ROOT)}:{line}: {word}" for path in DOCS for line, word in history_in(path.read_text())]
    found += [f"{path.relative_to(ROOT)}:{line + at - 1}: {word}"
              for path in SOURCES for line, text in prose(path) for at, word in history_in(text)]
    assert not found, "\n".join(found)


def test_the_reports_stay_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    assert len((ROOT / "BENCHMARKS.md").read_text().splitlines()) <= 400


def test_the_readme_table_is_what_tts_gym_zoo_prints():
    readme = (ROOT / "README.md").read_text()
    assert readme_table(readme) == markdown(pretrained()), "regenerate it: tts-gym zoo --readme README.md"
    outside = with_readme_table(readme, "").splitlines()
    assert not [line for line in outside if line.startswith("|")], "the README's only table is the zoo's"


def test_rewriting_the_readme_table_keeps_the_rest():
    text = "intro\n<!-- zoo -->\n| old |\n<!-- /zoo -->\nafter\n"
    assert with_readme_table(text, "| new |") == "intro\n<!-- zoo -->\n| new |\n<!-- /zoo -->\nafter\n"
    with pytest.raises(ValueError, match="no <!-- zoo -->"):
        readme_table("no markers")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_local_links_and_pictures_exist(doc):
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text())
    missing = [target for target in targets if "://" not in target and not (doc.parent / target).exists()]
    assert not missing, missing


def measured(steps, success, low=0.0, sampler="ddim", reuse=0.0):
    return {"sampler": sampler, "steps": steps, "success_rate": success, "success_ci95": [low, 1.0],
            "mean_sparsity": reuse}


def test_the_fastest_configuration_that_keeps_the_best_dense_success_is_chosen():
    dense = {"ddim16": measured(16, 0.96, low=0.87), "ddpm100": measured(100, 0.94, low=0.84, sampler="ddpm")}
    pruners = [(0.8, measured(16, 0.90, reuse=0.75)), (0.9, measured(16, 0.80, reuse=0.85)), (0.95, None)]
    entry = {"results": dense, "variants": [{"sparsity": rho, "sampler": "ddim", "steps": 16, "results": results}
                                            for rho, results in pruners]}
    choice = fastest_keeping_success(entry)
    assert (choice["sparsity"], choice["steps"]) == (0.8, 16) and computed_steps(choice) == pytest.approx(4.0)
    entry["variants"][0]["results"]["success_rate"] = 0.86  # below dense DDIM-16's interval: dense is fastest
    assert fastest_keeping_success(entry)["sparsity"] is None and fastest_keeping_success(entry)["steps"] == 16
    assert fastest_keeping_success({"variants": entry["variants"]}) is None  # no dense run to compare with
