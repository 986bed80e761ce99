"""Data files shipped with the normalizer (Jiangsu division codes)."""
