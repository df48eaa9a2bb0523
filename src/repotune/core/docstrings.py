"""Docstring references as CodeXGLUE / CodeSearchNet use them: the first paragraph of the docstring, with its
whitespace normalised. Shared by synthesize (the code2doc target) and evaluate (the reference it scores against).
"""

from __future__ import annotations

import re

# A line that opens the docstring's reference part (parameters, returns, examples) ends the summary even when no
# blank line comes before it: Sphinx/reST fields, Google and NumPy sections, doctest prompts, Javadoc/JSDoc tags.
_SECTION = re.compile(
    r"^\s*(?::(?:param|parameter|arg|argument|key|keyword|type|raises?|returns?|rtype|yields?)\b|@\w+|>>>|"
    r"(?:Args|Arguments|Parameters|Params|Returns?|Yields?|Raises|Examples?|Notes?|See Also|Attributes|"
    r"Keyword Arguments|Other Parameters|Warnings?|References|Usage)\s*:?\s*$)", re.I)


def docstring_summary(docstring: str | None) -> str:
    """The docstring's first paragraph, whitespace-normalised ('' when there is none).

    CodeXGLUE's code-to-text references are this part (CodeSearchNet's `docstring_summary`); parameters,
    examples and notes are left out, so scores can be read next to its published table.
    """
    lines: list[str] = []
    for line in (docstring or "").strip().splitlines():
        if not line.strip() or (lines and _SECTION.match(line)):
            if lines:
                break
            if not line.strip():
                continue
        if not lines and _SECTION.match(line):
            return ""  # the docstring starts with its parameters: it has no summary
        lines.append(line.strip().lstrip("*").strip() if line.lstrip().startswith("*") else line.strip())
    return " ".join(" ".join(lines).split())
