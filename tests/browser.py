"""A browser's part in a web flow, done with a real HTTP client: read a page's form, submit it.

Only what the registration flow needs: the first <form> of a page, its method and action
(resolved against the page's URL), and its named <input> fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import aiohttp


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    status: int
    url: str
    text: str

    def form(self) -> Form:
        parser = _FormParser()
        parser.feed(self.text)
        assert parser.form is not None, f"no form on {self.url}: {self.text[:300]}"
        parser.form.action = urljoin(self.url, parser.form.action)
        return parser.form


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form: Form | None = None
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and self.form is None:
            self.form = Form(values.get("method", "get").lower(), values.get("action", ""))
        elif tag == "input" and self.form is not None and not self._done and "name" in values:
            self.form.fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._done = True


class Browser:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def get(self, url: str) -> Page:
        async with self.session.get(url) as response:
            return Page(response.status, str(response.url), await response.text())

    async def submit(self, form: Form, *, follow: bool = True, **changes: str) -> Page:
        data = {**form.fields, **changes}
        async with self.session.request(
            form.method.upper(), form.action, data=data, allow_redirects=follow
        ) as response:
            if not follow and response.status in (301, 302, 303):
                return Page(response.status, response.headers["Location"], "")
            return Page(response.status, str(response.url), await response.text())
