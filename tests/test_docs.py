"""The README's references stay inside the repository, and the design it relies on is there."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _links(text: str) -> list[str]:
    """Markdown link targets and backticked paths to .md files."""
    return re.findall(r"\]\(([^)#\s]+)", text) + re.findall(r"`([^`\s]+\.md)`", text)


def test_every_document_the_readme_points_to_is_in_the_repository():
    targets = [t for t in _links(README) if not t.startswith(("http://", "https://"))]
    assert "docs/architecture.md" in targets
    for target in targets:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT), f"README points outside the repository: {target}"
        assert path.is_file(), f"README points to a missing file: {target}"


def test_the_architecture_page_names_modules_that_exist():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for name in re.findall(r"`((?:app|contracts|migrations)/[\w/.]+)`", text):
        assert (ROOT / name.rstrip("/")).exists(), f"docs/architecture.md names a missing path: {name}"
    for section in ("## The domain", "## On chain and off chain", "## The write path", "## The read path",
                    "## The indexer", "## Components"):  # fmt: skip
        assert section in text
