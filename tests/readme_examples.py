"""Reading README.md's examples: fenced blocks, shell commands, table selections, links.

Pure text work, kept apart from tests/test_readme.py, which runs what this finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Block:
    lang: str
    text: str
    line: int
    options: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.lang or 'text'}@{self.line}"


def fenced_blocks(text: str) -> list[Block]:
    """Every ``` block with its language, first line number and doc-test options."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        options = {}
        above = lines[i - 1] if i else ""
        if marker := re.fullmatch(r"<!-- doc-test: (.*) -->", above.strip()):
            for word in marker.group(1).split():
                name, _, value = word.partition("=")
                options[name] = value or "yes"
        blocks.append(Block(opening.group(1), "\n".join(lines[i + 1 : end]), i + 2, options))
        i = end + 1
    return blocks


def without_fences(text: str) -> str:
    """The text with fenced blocks blanked out (line numbers kept)."""
    return re.sub(r"^```.*?^```", lambda m: "\n" * m.group().count("\n"), text, flags=re.M | re.S)


def indented_commands(text: str) -> list[Block]:
    """4-space-indented `commcredits …` lines outside fences (Markdown code blocks)."""
    found = []
    for n, line in enumerate(without_fences(text).splitlines(), 1):
        if re.match(r"^    (?:\.venv/bin/)?commcredits ", line):
            found.append(Block("indented", line.strip(), n))
    return found


def inline_commands(text: str) -> list[Block]:
    """Code spans that are a command: `commcredits …` (table pipes unescaped)."""
    found = []
    prose = without_fences(text)
    for match in re.finditer(r"`((?:\.venv/bin/)?commcredits [^`]+)`", prose):
        command = " ".join(match.group(1).replace("\\|", "|").split())
        found.append(Block("inline", command, prose.count("\n", 0, match.start()) + 1))
    return found


def logical_lines(script: str) -> list[str]:
    """Shell lines with `\\` continuations joined, comments and blank lines left out."""
    joined = re.sub(r"\\\n\s*", " ", script)
    lines = (ln.strip() for ln in joined.splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


def needs_postgresql(text: str) -> bool:
    return "createdb" in text or "postgresql://" in text


def table_spans(text: str) -> list[tuple[int, str, str]]:
    """(line, operation type, span) for each code span in the first column of a table whose
    header names query fields (`field`), mutations (`mutation`) or subscriptions."""
    kinds = {"field": "query", "mutation": "mutation", "subscription": "subscription"}
    found, kind = [], None
    for n, line in enumerate(without_fences(text).splitlines(), 1):
        if not line.startswith("|"):
            kind = None
            continue
        first = line.split("|")[1].strip()
        if kind is None:
            kind = kinds.get(first, "")  # the header row; other tables are not selections
            continue
        if kind and not set(first) <= set("-: "):
            found += [(n, kind, span) for span in re.findall(r"`([^`]+)`", first)]
    return found


def without_arguments(selection: str) -> str:
    """`lots(first, after) { … }` → `lots { __typename }`: arguments (balanced parentheses)
    dropped, and `…` taken as "any selection"."""
    out, depth = [], 0
    for char in selection:
        depth += char == "("
        if depth == 0:
            out.append(char)
        depth -= char == ")" and depth > 0
    text = " ".join("".join(out).replace("…", " ").split())
    return re.sub(r"\{\s*\}", "{ __typename }", text)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped,
    spaces to `-` (code ticks and link syntax are gone before)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+?)\s*$", without_fences(text), flags=re.M):
        slug = github_slug(heading)
        seen[slug] = seen.get(slug, -1) + 1
        yield slug if seen[slug] == 0 else f"{slug}-{seen[slug]}"


def links(text: str) -> list[str]:
    prose = re.sub(r"`[^`\n]*`", "", without_fences(text))  # code spans are not links
    return re.findall(r"\]\(([^)\s]+)\)", prose) + re.findall(r"<(https?://[^>\s]+)>", prose)
