"""The results page: results/README.md as a static index.html that links local leaderboards."""
from __future__ import annotations

from pathlib import Path

import pytest

from ganbench.errors import GanbenchError
from ganbench.results_page import main, render, write_page

ROOT = Path(__file__).resolve().parents[1]

README = """# Published results

| | fd ↓ |
|---|---|
| real data (floor) | 0.010 |

![best grid](cifar_automobile/run-s1/samples/step_0005000.png)

See [the leaderboard](cifar_automobile/leaderboard.md), [a table](a/leaderboard.md#table-1) and
[upstream](https://example.org/x/leaderboard.md).
"""


def test_the_page_renders_tables_and_grids_and_links_the_html_leaderboards():
    page = render(README)
    assert "<title>Published results</title>" in page and "<h1>Published results</h1>" in page
    assert "<table>" in page and "<td>real data (floor)</td>" in page
    assert '<img src="cifar_automobile/run-s1/samples/step_0005000.png" alt="best grid"' in page
    assert 'href="cifar_automobile/leaderboard.html"' in page and 'href="a/leaderboard.html#table-1"' in page
    assert 'href="https://example.org/x/leaderboard.md"' in page  # another site's page is left alone
    assert "http" not in page.replace("https://example.org/x/leaderboard.md", "")  # nothing loaded from outside


def test_write_page_puts_index_html_beside_the_readme_and_says_what_is_missing(tmp_path, capsys):
    (tmp_path / "README.md").write_text(README, encoding="utf-8")
    assert main([str(tmp_path / "README.md")]) == 0
    assert "<h1>Published results</h1>" in (tmp_path / "index.html").read_text(encoding="utf-8")
    with pytest.raises(GanbenchError, match="does not exist"):
        write_page(tmp_path / "nope" / "README.md")
    assert main([str(tmp_path / "nope.md")]) == 1 and "does not exist" in capsys.readouterr().err


def test_the_committed_results_page_is_built_from_the_committed_readme():
    readme = ROOT / "results" / "README.md"
    assert (ROOT / "results" / "index.html").read_text(encoding="utf-8") == render(
        readme.read_text(encoding="utf-8"), "README.md"), "rebuild it: python -m ganbench.results_page"
