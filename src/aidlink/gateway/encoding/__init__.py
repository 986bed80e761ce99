"""Bloom-filter encodings (CLKs) of person records in clkhash's linkage-schema v3 format.

Bit-for-bit compatible with clkhash 0.18.3 without depending on it (see
:mod:`gateway.encoding.encoder` for why)::

    encoder = Encoder(LinkageSchema.default_chinese(), secret)
    clks = encoder.encode_many([{"name": "王丽", "name_pinyin": "wang li", ...}])
"""

from aidlink.gateway.encoding.clkhash_json import ClkFileError, clks_from_json, clks_to_json, read_clks, write_clks
from aidlink.gateway.encoding.encoder import Encoder
from aidlink.gateway.encoding.errors import FeatureValueError, RecordError, SchemaError
from aidlink.gateway.encoding.features import Feature
from aidlink.gateway.encoding.schema import LinkageSchema

__all__ = [
    "ClkFileError",
    "Encoder",
    "Feature",
    "FeatureValueError",
    "LinkageSchema",
    "RecordError",
    "SchemaError",
    "clks_from_json",
    "clks_to_json",
    "read_clks",
    "write_clks",
]
