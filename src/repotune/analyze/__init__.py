"""repotune.analyze: what the code is. tree-sitter units and static facts for the 14 aspects, on Ray Data.

`analyze_file(data, path, language)` is the pure core; `run_step(ctx)` the pipeline step.
"""

from repotune.parsing.extract import FileAnalysis, Unit, analyze_file
from repotune.analyze.step import run_step

__all__ = ["FileAnalysis", "Unit", "analyze_file", "run_step"]
