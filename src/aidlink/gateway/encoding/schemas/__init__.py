"""Linkage schemas shipped with aidlink (JSON package data).

``RECOMMENDED_THRESHOLD`` is the Dice threshold recommended for ``chinese-person-v3.json``
(evidence and the command reproducing it: docs/quality.md).
"""

RECOMMENDED_THRESHOLD = 0.78
