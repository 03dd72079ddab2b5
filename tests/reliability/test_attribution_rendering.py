"""ATTRIBUTION.md shows manifest text as typed: no link, image, HTML or extra structure.

Rendered with a CommonMark parser (markdown-it-py); each photo must stay one list item whose
text is exactly the manifest's text, whitespace folded.
"""

import markdown_it  # declared in the dev extras: this guarantee must never go untested
import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from idphoto.data import lineage

FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1)", "-1+1", "@x", '=HYPERLINK("http://e.example","a")']
# Text as a CommonMark renderer shows it: every character but NUL, which it replaces.
_TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=40)


def _fold(text):
    return " ".join(text.split())


def _attribution(records):
    rows = [
        lineage.lineage_row(
            {**record, "line": n, "path": "p.png", "obligations": ["attribution"]},
            lineage.ACCEPTED,
            "ok",
        )
        for n, record in enumerate(records, start=2)
    ]
    table = pa.Table.from_pylist(rows, schema=lineage.SCHEMA)
    return lineage.attribution_markdown(table, "idphoto")


def _items(markdown):
    """The text of each top-level list item, after checking it holds nothing but text."""
    tokens = markdown_it.MarkdownIt("commonmark").parse(markdown)
    start = next(i for i, t in enumerate(tokens) if t.type == "bullet_list_open")
    items, depth = [], 0
    for token in tokens[start:]:
        depth += token.nesting if token.type.endswith(("list_open", "list_close")) else 0
        assert token.type not in ("html_block", "code_block", "fence", "heading_open", "hr")
        if token.type == "inline":
            kinds = {child.type for child in token.children}
            assert kinds <= {"text"}, (kinds, token.content)
            assert depth == 1, f"a nested list in {token.content!r}"
            items.append("".join(child.content for child in token.children))
    return items


def _expected(record):
    return (
        f"{_fold(record['title']) or 'Untitled'} by {_fold(record['author']) or 'unknown author'}"
        f", {_fold(record['source_url']) or 'no source given'}, licensed under "
        f"{record['spdx']} (id {record['id']})"
    )


@settings(max_examples=300, deadline=None)
@given(title=_TEXT, author=_TEXT, source=_TEXT)
@example(title="- x", author="[a](javascript:alert(1))", source="<script>x</script>")
@example(title="1. x", author="![i](http://e.example/i.png)", source="&lt;b&gt;")
@example(title="# x\n---", author="`x` *y* _z_ ~~w~~", source="<http://e.example>")
@example(title=FORMULAS[0], author=FORMULAS[1], source=FORMULAS[2])
def test_manifest_text_renders_as_the_same_plain_text(title, author, source):
    record = {
        "id": "p-1",
        "title": title,
        "author": author,
        "source_url": source,
        "spdx": "CC-BY-4.0",
        "licence": "CC BY 4.0",
    }
    assert _items(_attribution([record])) == [_expected(record)]


def test_formula_text_appears_verbatim_in_attribution():
    records = [
        {"id": f"p-{n}", "title": f, "author": f, "source_url": "", "spdx": "CC-BY-4.0"}
        for n, f in enumerate(FORMULAS)
    ]
    items = _items(_attribution(records))
    assert items == [_expected({**r, "source_url": ""}) for r in records]
