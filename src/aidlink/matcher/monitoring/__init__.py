"""Dynamic monitoring (Art. 14-18): linkage graph, risk rules, warnings, referrals, feedback."""
