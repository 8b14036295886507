"""The documentation is generated from the YAML and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from engine.language.docs import render_all

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_generated_pages_are_current():
    pages = render_all()
    stale = [rel for rel, text in pages.items() if not (DOCS / rel).is_file() or (DOCS / rel).read_text() != text]
    assert stale == [], f"run `caseclock docs` to regenerate: {stale}"
    on_disk = {str(p.relative_to(DOCS)) for sub in ("workflows", "authorities") for p in (DOCS / sub).glob("*.md")}
    assert on_disk == set(pages), "pages without a workflow or profile behind them"


def test_every_deadline_appears_with_its_source():
    page = render_all()["workflows/cla_review.md"]
    assert "Case Review (England) Regulations 2010, reg 33" in page and "| `first_review`" in page
    assert page.count("```mermaid") == 1
    sunderland = render_all()["authorities/sunderland.md"]
    assert "91 days after the event" in sunderland
