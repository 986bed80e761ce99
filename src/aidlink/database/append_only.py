"""Append-only tables enforced by PostgreSQL itself: triggers that refuse UPDATE,
DELETE and TRUNCATE, and those privileges revoked from PUBLIC (SQLite stores use
their own RAISE(ABORT) triggers)."""

from __future__ import annotations

from collections.abc import Sequence


def postgres_append_only(function: str, refusal: str, tables: Sequence[str]) -> str:
    """SQL for a migration: `function` raises "<refusal>: <op> of <table> refused"."""
    parts = [
        f"""CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{refusal}: % of % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
"""
    ]
    for table in tables:
        parts.append(f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {function}();
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {function}();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
""")
    parts.append(f"REVOKE UPDATE, DELETE, TRUNCATE ON {', '.join(tables)} FROM PUBLIC;\n")
    return "".join(parts)
