"""An independent witness for the audit log (C2SP tlog-witness, tlog-cosignature)."""
