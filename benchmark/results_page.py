"""The published results page: results/README.md rendered to a static index.html beside it.

The README is the page (one section per report, tables, sample grids); the HTML copy is for a
reader who opens the folder in a browser: it links each suite's leaderboard.html instead of
its leaderboard.md, loads nothing from outside, and says which README it was built from.

    python -m ganbench.results_page results/README.md      # writes results/index.html
"""
from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

from markdown_it import MarkdownIt

from .errors import GanbenchError
from .results import atomic_write_text

CSS = """body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.45}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f3f3f3}img{max-width:100%;image-rendering:pixelated}code{background:#f6f6f6;padding:0 .2rem}"""

#: a relative link to a suite's markdown leaderboard, which the page swaps for the HTML one
LEADERBOARD_LINK = re.compile(r'href="(?![a-z]+:)([^"]*?)leaderboard\.md(#[^"]*)?"')


def render(markdown: str, source: str = "README.md") -> str:
    """The HTML page of a results README (commonmark with tables), links to leaderboards kept local."""
    body = MarkdownIt("commonmark").enable("table").render(markdown)
    body = LEADERBOARD_LINK.sub(lambda m: f'href="{m.group(1)}leaderboard.html{m.group(2) or ""}"', body)
    title = next((line[2:].strip() for line in markdown.splitlines() if line.startswith("# ")), "Results")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}"
            f"<hr>\n<p><small>Built from {html.escape(source)} by <code>python -m ganbench.results_page"
            "</code>.</small></p>\n</body>\n</html>\n")


def write_page(readme: Path) -> Path:
    """Write index.html beside ``readme``; return its path."""
    readme = Path(readme)
    try:
        text = readme.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GanbenchError(f"{readme} does not exist", hint="pass the results folder's README.md") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GanbenchError(f"{readme} cannot be read as text: {exc}") from None
    out = readme.with_name("index.html")
    atomic_write_text(out, render(text, readme.name))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ganbench.results_page", description=__doc__.splitlines()[0])
    ap.add_argument("readme", nargs="?", default="results/README.md", type=Path)
    args = ap.parse_args(argv)
    try:
        print(write_page(args.readme))
    except GanbenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
