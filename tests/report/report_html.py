"""Reading the built report HTML without a browser (shared by the report tests)."""

from __future__ import annotations


def html_tables(html: str) -> dict[str, list[list[str]]]:
    """Body cells of every ``<table data-source=...>`` in ``html``, keyed by data-source."""
    from html.parser import HTMLParser

    class Parser(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables: dict[str, list[list[str]]] = {}
            self.current = None
            self.in_body = self.in_cell = False

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "table" and "data-source" in attrs:
                self.current = self.tables.setdefault(attrs["data-source"], [])
            elif tag == "tbody" and self.current is not None:
                self.in_body = True
            elif tag == "tr" and self.in_body:
                self.current.append([])
            elif tag == "td" and self.in_body:
                self.in_cell = True
                self.current[-1].append("")

        def handle_endtag(self, tag):
            if tag == "td":
                self.in_cell = False
            elif tag == "tbody":
                self.in_body = False
            elif tag == "table":
                self.current = None

        def handle_data(self, data):
            if self.in_cell and self.current is not None:
                self.current[-1][-1] += data

    parser = Parser()
    parser.feed(html)
    return parser.tables
