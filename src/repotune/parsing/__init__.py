"""Understanding one file: tree-sitter grammars and queries per language, the units and static facts of a file,
and the redaction of secrets in its text. Analyze runs it over a repository; synthesize checks generated code
with it."""
