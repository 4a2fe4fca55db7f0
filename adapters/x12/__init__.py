"""X12 5010/4010 adapter: streaming codec, native model, implementation-guide tables.

Wire ↔ native only (no mapping, no checking). See docs/x12.md.
"""
