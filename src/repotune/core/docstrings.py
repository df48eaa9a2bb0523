"""Docstring references as CodeXGLUE / CodeSearchNet use them: the first paragraph of the docstring, with its
whitespace normalised. Shared by synthesize (the code2doc target) and evaluate (the reference it scores against).
"""

from __future__ import annotations

import re

_SECTION_NAMES = (r"(?:Args|Arguments|Parameters|Params|Options|Returns?|Yields?|Receives|Raises|Warns|Examples?|"
                  r"Notes?|See Also|Explanation|Attributes|Methods|(?:Keyword|Named) Arguments|Other Parameters|"
                  r"Warnings?|References|Usage)")
# A line that opens the docstring's reference part (parameters, returns, examples) ends the summary even when no
# blank line comes before it: Sphinx/reST fields, Google and NumPy sections, doctest prompts, Javadoc/JSDoc tags.
_SECTION = re.compile(
    r"^\s*(?::(?:param|parameter|arg|argument|key|keyword|type|raises?|returns?|rtype|yields?)\b|@\w+|>>>|"
    + _SECTION_NAMES + r"\s*:?\s*$)", re.I)
# reST and NumPy underline a title; a title that opens with a section's name ("Parameters (internal use only)" over
# "---------") is that section, any other (a module's "Progress bars" over "============") is the summary.
_UNDERLINE = re.compile(r"^\s*([-=~^*])\1{2,}\s*$")
_SECTION_TITLE = re.compile(r"^\s*" + _SECTION_NAMES + r"\b", re.I)


def docstring_summary(docstring: str | None) -> str:
    """The docstring's first paragraph, whitespace-normalised ('' when there is none).

    CodeXGLUE's code-to-text references are this part (CodeSearchNet's `docstring_summary`); parameters,
    examples and notes are left out, so scores can be read next to its published table.
    """
    lines: list[str] = []
    all_lines = (docstring or "").strip().splitlines()
    for i, line in enumerate(all_lines):
        underlined = i + 1 < len(all_lines) and bool(_UNDERLINE.match(all_lines[i + 1]))
        section = bool(_SECTION.match(line) or (underlined and _SECTION_TITLE.match(line)))
        if not line.strip() or _UNDERLINE.match(line) or (lines and section):
            if lines:
                break
            continue
        if section:
            return ""  # the docstring starts with its parameters: it has no summary
        lines.append(line.strip().lstrip("*").strip() if line.lstrip().startswith("*") else line.strip())
        if underlined:
            break  # a title is a paragraph of its own
    return " ".join(" ".join(lines).split())
