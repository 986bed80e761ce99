"""The console's pages and JSON endpoints (Flask, Jinja2 templates; no build step).

Every view runs through :func:`ConsoleApp.audited`: the reader is authenticated from the client
certificate the TLS layer verified (``SSL_CLIENT_CERT``, put into the WSGI environ by cheroot),
the page is computed, and the view — allowed or refused — is appended to the audit log as the
call ``console/<page>`` *before* it is answered. When the log cannot record it, the officer gets
a refusal, not the page (fail closed, as the matcher does).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import Flask, Response, g, make_response, redirect, render_template, request, url_for
from markupsafe import Markup

from aidlink.audit.bundle import BundleError, export_bundle
from aidlink.audit.entry import AuditEntry, audit_outcome, utc_now
from aidlink.audit.officer_text import escape_for_officer
from aidlink.audit.query import LOCAL_OFFSET, EntryFilter, entry_time, parse_time, stored_time
from aidlink.audit.reader import AuditReader, ProofRequestError
from aidlink.audit.report import build_report
from aidlink.audit.store import SORT_FIELDS, StoredCheckpoint, StoredCosignature, StoredEntry
from aidlink.audit.verifier_key import VerifierKey
from aidlink.console.activity_chart import activity_chart
from aidlink.console.messages import DEFAULT_LANGUAGE, LANGUAGES, script_messages, translate
from aidlink.console.officer_auth import ConsoleRefusal, Officer, OfficerAuthenticator
from aidlink.console.siem_export import cef_lines, ocsf_lines

PAGE_SIZE = 50
MAX_PROOFS = 200  # entries one /api/proofs call may ask for
MAX_EXPORT = 100_000  # entries one OCSF/CEF export may hold (narrow the filters for more)
FILTER_FIELDS = ("department", "identity", "method", "purpose", "agreement", "dataset", "outcome", "since", "until")

Record = Callable[[AuditEntry], object]


class BadRequest(ValueError):
    """A parameter the officer gave cannot be used; the message names it."""


@dataclass
class ConsoleContext:
    """What the console serves from: the log's reader, how to record a view, who may read."""

    reader: AuditReader
    record: Record  # appends an entry to the audit log durably, or raises
    authenticate: OfficerAuthenticator
    verifier_key: VerifierKey  # the audit public key the pages give the browser, and exports check against
    # Witness verifier keys (C2SP tlog-cosignature, docs/witness.md): the browser checks each one's
    # cosignature on the checkpoint it verifies entries against, which is the newest they all cosigned.
    witnesses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from aidlink.witness.cosignature import WitnessVerifier

        self.witness_names = tuple(WitnessVerifier.parse(v).name for v in self.witnesses)


def _language() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    cookie = request.cookies.get("lang")
    return cookie if cookie in LANGUAGES else DEFAULT_LANGUAGE


def entry_filter(args: Any) -> EntryFilter:
    """The EntryFilter the query parameters name; times without an offset are China Standard Time."""
    values: dict[str, Any] = {name: (args.get(name) or "").strip() or None for name in FILTER_FIELDS}
    for name in ("since", "until"):
        if values[name] is not None:
            try:
                values[name] = stored_time(parse_time(str(values[name])))
            except ValueError as exc:
                raise BadRequest(f"{name}: {exc}") from None
    try:
        return EntryFilter(**values)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"{name} must be a non-negative whole number, got {escape_for_officer(raw)[:40]!r}")
    return int(raw)


def _entry_or_none(row: StoredEntry) -> AuditEntry | None:
    try:
        return row.entry
    except ValueError:
        return None


def local_time(stored: str) -> str:
    try:
        return entry_time(stored).astimezone(LOCAL_OFFSET).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return escape_for_officer(stored)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _checkpoint_json(cp: StoredCheckpoint, cosignatures: Sequence[StoredCosignature] = ()) -> dict[str, object]:
    return {
        "number": cp.number,
        "size": cp.size,
        "time": cp.time,
        "note": cp.note.decode("utf-8", "replace"),
        "cosignatures": [c.line for c in cosignatures],
    }


class ConsoleApp:
    def __init__(self, context: ConsoleContext) -> None:
        self.context = context
        self.flask = Flask(__name__)
        self.flask.jinja_env.filters["officer"] = lambda value: escape_for_officer(str(value))
        self.flask.jinja_env.globals["local_time"] = local_time
        self._routes()

    # -- the audited call around every view ----------------------------------------------------
    def audited(self, page: str) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
        def decorate(view: Callable[..., Any]) -> Callable[..., Response]:
            @wraps(view)
            def run(*args: Any, **kwargs: Any) -> Response:
                g.language = _language()
                g.counts = {}
                officer: Officer | None = None
                identity, status, detail = "", "OK", ""
                try:
                    officer = self.context.authenticate(request.environ.get("SSL_CLIENT_CERT"))
                    identity = officer.identity
                    g.officer = officer
                    response = make_response(view(*args, **kwargs))
                except ConsoleRefusal as exc:
                    identity, status, detail = exc.identity, exc.status, str(exc)
                    response = self._problem(exc.http_status, "refused_title", detail)
                except (BadRequest, BundleError) as exc:
                    status, detail = "INVALID_ARGUMENT", str(exc)
                    response = self._problem(400, "bad_request", detail)
                except ProofRequestError as exc:
                    status, detail = "NOT_FOUND", str(exc)
                    response = self._problem(404, "bad_request", detail)
                query = request.query_string.decode("utf-8", "replace")
                entry = AuditEntry(
                    time=utc_now(),
                    method=f"console/{page}",
                    outcome=audit_outcome(status),
                    status=status,
                    identity=identity,
                    counts=dict(g.counts),
                    detail=detail or (f"{request.path}?{query}" if query else request.path),
                    peer=f"ipv4:{request.environ.get('REMOTE_ADDR', '')}:{request.environ.get('REMOTE_PORT', '')}",
                ).bounded()
                try:
                    self.context.record(entry)
                except Exception as exc:  # the log cannot record the view: nothing is shown
                    return self._problem(503, "refused_title", f"the audit log cannot record this view: {exc}")
                if request.args.get("lang") in LANGUAGES:
                    response.set_cookie("lang", g.language, secure=True, httponly=True, samesite="Strict")
                return response

            return run

        return decorate

    def _problem(self, http_status: int, title: str, detail: str) -> Response:
        language = getattr(g, "language", DEFAULT_LANGUAGE)
        if request.path.startswith("/api/"):
            response = make_response({"error": escape_for_officer(detail)}, http_status)
        else:
            html = render_template(
                "problem.html", t=lambda k: translate(k, language), lang=language, title=title, detail=detail
            )
            response = make_response(html, http_status)
        return response

    def _render(self, template: str, **values: Any) -> str:
        language = g.language
        officer: Officer | None = getattr(g, "officer", None)
        return render_template(
            template,
            t=lambda key: translate(key, language),
            lang=language,
            officer=officer,
            verifier_vkey=self._vkey(),
            witness_vkeys=self.context.witnesses,
            script_messages=Markup(json.dumps(script_messages(language), ensure_ascii=True)),
            **values,
        )

    def _vkey(self) -> str:
        reader = self.context.reader
        origin = reader.origin() or "aidlink.audit"
        return self.context.verifier_key.for_origin(origin).vkey()

    # -- routes ----------------------------------------------------------------------------------
    def _routes(self) -> None:
        app, ctx = self.flask, self.context

        @app.before_request
        def static_needs_an_officer() -> Response | None:
            # Pages authenticate (and are audited) in `audited`; the static script and style sheet
            # are not page views, but no one without an officer certificate receives them either.
            if request.endpoint == "static":
                try:
                    ctx.authenticate(request.environ.get("SSL_CLIENT_CERT"))
                except ConsoleRefusal as exc:
                    return make_response(str(exc), exc.http_status)
            return None

        @app.after_request
        def security_headers(response: Response) -> Response:
            response.headers["Content-Security-Policy"] = (
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            )
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
            return response

        @app.get("/")
        @self.audited("home")
        def home() -> Any:
            return redirect(url_for("log_page"))

        @app.get("/log")
        @self.audited("log")
        def log_page() -> Any:
            where = entry_filter(request.args)
            newest_first = request.args.get("sort", "newest") != "oldest"
            order_by = request.args.get("order", "time") or "time"
            if order_by not in SORT_FIELDS:
                raise BadRequest(f"order: {order_by!r} is not a field the log can be sorted by")
            after = _int_arg("after")  # keyset paging: the seq of the previous page's last entry
            keyset = None
            if after is not None:
                last = ctx.reader.store.query(EntryFilter(from_seq=after, to_seq=after), limit=1)
                if not last or _entry_or_none(last[0]) is None:
                    raise BadRequest(f"after: the log has no readable entry {after}")
                keyset = ctx.reader.store.sort_keyset(after, order_by)
            rows = ctx.reader.store.page(where, PAGE_SIZE + 1, newest_first, keyset, order_by)
            more = len(rows) > PAGE_SIZE
            rows = rows[:PAGE_SIZE]
            g.counts = {"entries": len(rows)}
            keep: dict[str, Any] = {
                k: v for k, v in request.args.items() if k in (*FILTER_FIELDS, "sort", "order") and v
            }
            next_url = url_for("log_page", **keep, after=rows[-1].seq) if more else None
            return self._render(
                "log.html",
                rows=[(row, _entry_or_none(row)) for row in rows],
                args=request.args,
                next_url=next_url,
                first_url=url_for("log_page", **keep) if after is not None else None,
                export_query=request.query_string.decode("utf-8", "replace"),
                newest_first=newest_first,
                order_by=order_by,
                sort_fields=tuple(SORT_FIELDS),
                filter_fields=FILTER_FIELDS,
            )

        @app.get("/entry/<int:seq>")
        @self.audited("entry")
        def entry_page(seq: int) -> Any:
            rows = ctx.reader.store.query(EntryFilter(from_seq=seq, to_seq=seq), limit=1)
            if not rows:
                raise ProofRequestError(f"the log has no entry {seq}")
            g.counts = {"entries": 1}
            row = rows[0]
            return self._render("entry.html", row=row, entry=_entry_or_none(row))

        @app.get("/consistency")
        @self.audited("consistency")
        def consistency_page() -> Any:
            checkpoints = ctx.reader.store.checkpoints()[-500:]
            return self._render("consistency.html", checkpoints=list(reversed(checkpoints)))

        @app.get("/report")
        @self.audited("report")
        def report_page() -> Any:
            now = datetime.now(UTC)
            try:
                until = parse_time(request.args["until"]) if request.args.get("until") else now
                since = parse_time(request.args["since"]) if request.args.get("since") else until - timedelta(days=1)
                report = build_report(ctx.reader.store, since, until)
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
            hourly = ctx.reader.store.hourly_counts(stored_time(since), stored_time(until))
            g.counts = {"calls": report.total, "anomalies": len(report.anomalies)}
            return self._render(
                "report.html",
                report=report,
                chart=Markup(activity_chart(hourly, since, until, g.language)),
                since=since.astimezone(LOCAL_OFFSET).strftime("%Y-%m-%dT%H:%M"),
                until=until.astimezone(LOCAL_OFFSET).strftime("%Y-%m-%dT%H:%M"),
            )

        # -- what the browser verifies ----------------------------------------------------------
        @app.get("/api/checkpoints")
        @self.audited("api/checkpoints")
        def checkpoints_json() -> Any:
            numbers = [n for n in (_int_arg("number"), _int_arg("number2")) if n is not None]
            stored = ctx.reader.store.checkpoints()
            if numbers:
                chosen = [cp for cp in stored if cp.number in numbers]
                missing = set(numbers) - {cp.number for cp in chosen}
                if missing:
                    raise ProofRequestError(f"the log has no checkpoint #{min(missing)}")
            else:
                chosen = stored[-1:]
            g.counts = {"checkpoints": len(chosen)}
            return {"verifier_key": self._vkey(), "checkpoints": [_checkpoint_json(cp) for cp in chosen]}

        @app.get("/api/proofs")
        @self.audited("api/proofs")
        def proofs_json() -> Any:
            """The newest checkpoint, and for each asked entry it covers: the stored body, the
            tree's leaf hash and the inclusion proof; the browser checks all of them."""
            raw = request.args.getlist("seq")
            if len(raw) > MAX_PROOFS:
                raise BadRequest(f"at most {MAX_PROOFS} entries per request, got {len(raw)}")
            seqs = []
            for text in raw:
                if not text.isascii() or not text.isdigit() or len(text) > 18:
                    raise BadRequest(f"seq must be a non-negative whole number, got {escape_for_officer(text)[:40]!r}")
                seqs.append(int(text))
            # The newest checkpoint every configured witness cosigned (the newest one when none is
            # configured, or none has cosigned yet: the browser then says it is not witnessed).
            store = ctx.reader.store
            latest = store.latest_cosigned_checkpoint(ctx.witness_names) or ctx.reader.latest_checkpoint()
            if latest is None:
                return {"checkpoint": None, "entries": []}
            entries: list[dict[str, object]] = []
            for seq in seqs:
                if seq >= latest.size:
                    entries.append({"seq": seq, "covered": False})
                    continue
                rows = ctx.reader.store.query(EntryFilter(from_seq=seq, to_seq=seq), limit=1)
                if not rows:
                    raise ProofRequestError(f"the log has no entry {seq}")
                proof = ctx.reader.inclusion(seq, latest.size)
                entries.append(
                    {
                        "seq": seq,
                        "covered": True,
                        "body": _b64(rows[0].body),
                        "leaf_hash": _b64(proof.leaf_hash),
                        "proof": [_b64(h) for h in proof.hashes],
                    }
                )
            g.counts = {"entries": len(entries)}
            checkpoint = _checkpoint_json(latest, store.cosignatures_of(latest.number))
            return {"verifier_key": self._vkey(), "checkpoint": checkpoint, "entries": entries}

        @app.get("/api/consistency")
        @self.audited("api/consistency")
        def consistency_json() -> Any:
            first, second = _int_arg("from"), _int_arg("to")
            if first is None or second is None:
                raise BadRequest("from and to (checkpoint numbers) are both required")
            by_number = {cp.number: cp for cp in ctx.reader.store.checkpoints()}
            for number in (first, second):
                if number not in by_number:
                    raise ProofRequestError(f"the log has no checkpoint #{number}")
            cp1, cp2 = by_number[first], by_number[second]
            if cp1.size > cp2.size:
                cp1, cp2 = cp2, cp1
            hashes: list[str] = []
            if 0 < cp1.size < cp2.size:
                hashes = [_b64(h) for h in ctx.reader.consistency(cp1.size, cp2.size).hashes]
            return {
                "verifier_key": self._vkey(),
                "checkpoint1": _checkpoint_json(cp1),
                "checkpoint2": _checkpoint_json(cp2),
                "proof": hashes,
            }

        # -- exports --------------------------------------------------------------------------------
        @app.get("/export/bundle")
        @self.audited("export/bundle")
        def export_bundle_file() -> Any:
            result = export_bundle(ctx.reader, entry_filter(request.args), ctx.verifier_key)
            g.counts = {"entries": result.entries, "left_out_after_checkpoint": result.left_out_after_checkpoint}
            body = json.dumps(result.bundle, indent=1, ensure_ascii=False) + "\n"
            return _download(body, "aidlink-audit-bundle.json", "application/json")

        @app.get("/export/ocsf")
        @self.audited("export/ocsf")
        def export_ocsf() -> Any:
            rows = self._export_rows()
            return _download("".join(ocsf_lines(rows)), "aidlink-audit-ocsf.jsonl", "application/x-ndjson")

        @app.get("/export/cef")
        @self.audited("export/cef")
        def export_cef() -> Any:
            rows = self._export_rows()
            return _download("".join(cef_lines(rows)), "aidlink-audit.cef", "text/plain")

    def _export_rows(self) -> list[StoredEntry]:
        rows = self.context.reader.store.query(entry_filter(request.args), limit=MAX_EXPORT + 1)
        if len(rows) > MAX_EXPORT:
            raise BadRequest(f"more than {MAX_EXPORT} entries match; narrow the filters (e.g. the time window)")
        valid = [row for row in rows if _entry_or_none(row) is not None]
        g.counts = {"entries": len(valid), "unreadable": len(rows) - len(valid)}
        return valid


def _download(body: str, filename: str, mime: str) -> Response:
    response = make_response(body.encode("utf-8"))
    response.headers["Content-Type"] = f"{mime}; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
