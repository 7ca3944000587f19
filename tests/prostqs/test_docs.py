"""The documentation stays whole: the README is a small front door whose links all lead somewhere in the repository,
the configuration page names every setting, the catalog page matches the models, and the site builds strictly
without anything fetched from the network."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
DOCS = ROOT / "docs"
README_LIMIT = 8 * 1024  # bytes: the front door, not the reference

# [text](target) in Markdown, outside code spans (none of the README's links is inside one).
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def _slug(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading: lowercase, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _nav_pages() -> set[str]:
    """The pages listed in mkdocs.yml's nav (the file is YAML; the nav's entries end in ``: <page>.md``)."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return set(re.findall(r":\s*([\w/.-]+\.md)\s*$", text[text.index("\nnav:"):], flags=re.M))


def test_the_readme_is_a_front_door_of_at_most_8_kb():
    size = len(_readme().encode("utf-8"))
    assert size <= README_LIMIT, f"README.md is {size} bytes: move the detail into docs/ (limit {README_LIMIT})"


def test_every_link_of_the_readme_resolves_to_a_file_of_the_repository():
    links = LINK.findall(_readme())
    local = [link for link in links if not re.match(r"^[a-z]+://", link)]
    assert len(local) >= 10, local  # the README links into docs/; a regex gone blind would find none
    headings = {_slug(h) for h in re.findall(r"^#+ (.+)$", _readme(), flags=re.M)}
    for link in local:
        path, _, anchor = link.partition("#")
        if not path:
            assert anchor in headings, f"{link}: the README has no such heading"
            continue
        target = (ROOT / path).resolve()
        assert target.is_relative_to(ROOT), f"{link} leaves the repository"
        assert target.is_file(), f"{link}: no such file in the repository"


def test_the_readme_links_to_no_other_site():
    remote = [link for link in LINK.findall(_readme()) if re.match(r"^[a-z]+://", link)]
    assert all(re.match(r"^http://127\.0\.0\.1:\d+/", link) for link in remote), remote


def test_every_docs_page_the_readme_links_is_built_into_the_site():
    nav = _nav_pages()
    linked = {link.split("#", 1)[0].removeprefix("docs/") for link in LINK.findall(_readme())
              if link.startswith("docs/") and link.split("#", 1)[0].endswith(".md")}
    assert linked, "the README links no page of docs/"
    assert linked <= nav, f"not in mkdocs.yml's nav: {sorted(linked - nav)}"
    for page in nav:
        assert (DOCS / page).is_file(), f"mkdocs.yml names {page}, which does not exist"


@pytest.mark.parametrize("path", ["README.md", "prostqs/settings.py"])
def test_the_readme_and_the_settings_cite_only_files_of_the_repository(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    cited = set(re.findall(r"\b([\w./-]+\.md)\b", text))
    for name in cited:
        assert (ROOT / name).is_file(), f"{path} cites {name}, which is not in the repository (cite it by its path)"


def test_the_configuration_page_documents_every_setting_the_settings_read():
    settings_text = (ROOT / "prostqs" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", settings_text))
    assert len(read) > 50, read  # settings.py reads its knobs as env.<type>("NAME", …)
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", page))
    undocumented = sorted(read - documented)
    assert not undocumented, f"settings read but not documented in docs/configuration.md: {undocumented}"


# --- the catalog page against the models ----------------------------------------------------------------------------

ROW = re.compile(r"^\| `(?P<table>\w+)` \| `(?P<label>\w+\.\w+)` \|(?P<rest>.*)\|\s*$")


def _catalog_sections() -> dict[str, list[re.Match]]:
    sections: dict[str, list[re.Match]] = {}
    current = None
    for line in (DOCS / "catalog.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
        elif current and (match := ROW.match(line)):
            sections.setdefault(current, []).append(match)
    return sections


def _columns(cell: str) -> list[str]:
    return re.findall(r"`(\w+)`", cell)


def _project_models():
    """Every concrete model of the project's own apps (proxies read another model's table)."""
    for model in apps.get_models():
        path = Path(model._meta.app_config.path).resolve()
        # A virtualenv may live inside the checkout (.ci/run makes .venv there): installed packages are not ours.
        ours = path.is_relative_to(ROOT) and "site-packages" not in path.parts
        if ours and not model._meta.proxy:
            yield model


def _model(label: str):
    try:
        return apps.get_model(label)
    except LookupError:
        pytest.fail(f"docs/catalog.md names {label}, which is not a model")


def test_the_catalog_page_lists_each_catalog_table_with_its_model_and_exact_columns():
    rows = _catalog_sections()["The catalog's tables"]
    assert len(rows) == 50, len(rows)  # the catalog's 50 tables in 12 domains
    for row in rows:
        model = _model(row["label"])
        assert model._meta.db_table == row["table"], f"{row['label']} holds {model._meta.db_table}, not {row['table']}"
        catalog_cell, added_cell = row["rest"].split(" | ")
        catalog, added = _columns(catalog_cell), _columns(added_cell)
        actual = [f.column for f in model._meta.concrete_fields]
        assert catalog[0] == model._meta.pk.column, f"{row['table']}: the first catalog column is the primary key"
        assert not set(catalog) & set(added), f"{row['table']}: a column is listed twice"
        assert sorted(catalog + added) == sorted(actual), (
            f"{row['table']}: docs/catalog.md lists {sorted(catalog + added)}, the model has {sorted(actual)}")


def test_the_catalog_page_names_the_tables_the_product_adds_and_the_history_tables():
    sections = _catalog_sections()
    for row in sections["Tables the product adds"]:
        assert _model(row["label"])._meta.db_table == row["table"], row.group(0)
    for row in sections["History tables"]:
        model = _model(row["label"])
        assert model._meta.db_table == row["table"], row.group(0)
        assert _columns(row["rest"]) == [model.instance_type._meta.db_table], row.group(0)


def test_every_model_of_the_project_is_on_the_catalog_page():
    listed = {(row["table"], row["label"]) for rows in _catalog_sections().values() for row in rows}
    missing = sorted(f"`{m._meta.db_table}` (`{m._meta.label}`)" for m in _project_models()
                     if (m._meta.db_table, m._meta.label) not in listed)
    assert not missing, f"add to docs/catalog.md: {', '.join(missing)}"


# --- the site ---------------------------------------------------------------------------------------------------------

def test_the_site_builds_strictly_and_loads_nothing_from_the_network(tmp_path):
    site = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                           cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert build.returncode == 0, build.stdout + build.stderr
    loaded = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)=[\"']?([^\"'\s>]+)", re.I)
    css_url = re.compile(r"(?:url\(|@import)\s*[\"']?([^\"')\s;]+)", re.I)
    remote = []
    for path in site.rglob("*"):
        if path.suffix == ".html":
            urls = loaded.findall(path.read_text(encoding="utf-8"))
        elif path.suffix == ".css":
            urls = css_url.findall(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        remote += [f"{path.relative_to(site)}: {url}" for url in urls if re.match(r"^(?:[a-z]+:)?//", url, re.I)]
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 20, pages  # every page was built
    assert not remote, "\n".join(remote[:10])
