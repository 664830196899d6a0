"""What the attack tests plant and how they read a page back, shared by mail and web."""

from __future__ import annotations

from html.parser import HTMLParser

ATTACK = ('<script>alert(1)</script>"><img src=x onerror=alert(1)>'
          "{{7*7}}${7*7}{% raw %}\u202egnp.exe")


def evil(field: str) -> str:
    return f"[{field}]{ATTACK}"


class Page(HTMLParser):
    """HTML as a browser parses it: its tags with their attributes, and its text."""

    def __init__(self, html_text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(html_text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def value_of(self, name: str) -> str | None:
        return next((a.get("value") for t, a in self.tags if t == "input"
                     and a.get("name") == name), None)
