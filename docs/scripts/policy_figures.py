"""The figures behind matcher/schema_policies.py for one schema: density of 5 departments' rows
under two secrets, and missing-aware scores of mca x nhsa (population 4,000, seed 7)."""
import sys
import numpy as np
from aidlink.gateway.encoding import LinkageSchema
from aidlink.gateway.pipeline import RecordPipeline
from aidlink.gateway.synthetic import SyntheticPopulation
from aidlink.gateway.synthetic.extracts import department_extract
from aidlink.matcher.missing_aware import missing_aware_pairs
from aidlink.matcher.schema_policies import V2_OPTIONAL_SEGMENTS
from aidlink.matcher.similarity import candidate_pairs

schema = LinkageSchema.shipped(sys.argv[1])
pop = SyntheticPopulation.generate(4000, seed=7)
extracts = {d: department_extract(pop, d, seed=7) for d in ("mca", "edu", "nhsa", "hrss", "cdpf")}
densities, enc = [], {}
for s, secret in enumerate((b"secret one" * 4, b"secret two" * 4)):
    pipe = RecordPipeline(schema, secret, 1)
    for d, ex in extracts.items():
        rows = []
        for r in ex.rows:
            try:
                e, _ = pipe.encode_person(r)
            except Exception:
                continue
            rows.append((r["rec_id"], np.frombuffer(e, dtype=np.uint8)))
        if s == 0:
            enc[d] = rows
        densities.extend(np.unpackbits(x).mean() for _, x in rows)
d = np.array(densities)
print(f"records {len(d)}; density min {d.min():.3f} p0.1 {np.quantile(d, .001):.3f} p1 {np.quantile(d, .01):.3f} "
      f"median {np.median(d):.3f} p99 {np.quantile(d, .99):.3f} p99.9 {np.quantile(d, .999):.3f} max {d.max():.3f}")
A = np.stack([x for _, x in enc["mca"]]); B = np.stack([x for _, x in enc["nhsa"]])
ta = [extracts["mca"].truth[i] for i, _ in enc["mca"]]; tb = [extracts["nhsa"].truth[i] for i, _ in enc["nhsa"]]
pairs, _ = missing_aware_pairs(A, B, V2_OPTIONAL_SEGMENTS, lambda a, b, *_: candidate_pairs(a, b, 0.5))
same = np.array([ta[i] == tb[j] for i, j in zip(pairs.a_index, pairs.b_index)])
sc = pairs.scores
truth_pairs = sum(1 for i in ta for j in tb if i == j) if len(ta) * len(tb) < 5e6 else None
print(f"mca {len(A)} x nhsa {len(B)}: same person {same.sum()} of {truth_pairs} true pairs found >= 0.5; min {sc[same].min():.3f} p1 {np.quantile(sc[same], .01):.3f}")
o = sc[~same]
print(f"other pairs: max {o.max():.3f}; >= 0.6 {int((o >= .6).sum())}, >= 0.65 {int((o >= .65).sum())}, >= 0.7 {int((o >= .7).sum())}, >= 0.75 {int((o >= .75).sum())}")
