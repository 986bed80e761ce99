"""The notice every matching result carries (Art. 26 of the measures).

Results are reference data for carrying out duties, not legal data. The matcher sends it with
every answer; every file a user downloads repeats it (see :mod:`aidlink.cli.downloads`).
"""

NOTICE = (
    "比对结果仅作为履行职责的参考依据，不作为法定依据。Matching results are reference data "
    "for carrying out duties, not legal data (Art. 26)."
)
