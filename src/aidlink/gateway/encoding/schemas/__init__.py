"""Linkage schemas shipped with aidlink (JSON package data).

``RECOMMENDED_THRESHOLD`` is the Dice threshold recommended for the default schema,
``chinese-person-v2.1.json``, and for ``chinese-person-v2.json`` (missing-aware scores; evidence
and the commands reproducing it: docs/encoding-v2.md); ``V3_RECOMMENDED_THRESHOLD`` the one for ``chinese-person-v3.json``
(docs/quality.md). The matcher holds the same figures per schema fingerprint
(``matcher.schema_policies``), where they are the default of every compare.
"""

RECOMMENDED_THRESHOLD = 0.72
V3_RECOMMENDED_THRESHOLD = 0.78
