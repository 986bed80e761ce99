"""``aidlink witness …``: run an independent C2SP tlog-witness for the matcher's audit log.

The witness is meant to be run by a party other than the matcher's operator (the
security officers' office, a second department): it holds its own key, remembers the
latest checkpoint it cosigned for each log, and cosigns a new one only when it is
consistent with that. Exit codes: 0 success, 2 the command could not run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from aidlink.audit.note import NoteVerifier
from aidlink.audit.verifier_key import VerifierKeyError, read_verifier_key
from aidlink.cli.termination import TerminationSignal
from aidlink.keys.key_files import KeyFileError, read_file
from aidlink.keys.passphrase import key_passphrase
from aidlink.witness.key import WitnessKey, WitnessKeyError
from aidlink.witness.server import WitnessServer, WitnessTls
from aidlink.witness.service import Witness
from aidlink.witness.state import WitnessState

PASSPHRASE_ENVIRONMENT = "AIDLINK_WITNESS_PASSPHRASE"
STATE_FILE = "witness.sqlite"
log = logging.getLogger("aidlink.witness")


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("witness", help="an independent witness that cosigns audit checkpoints")
    commands = group.add_subparsers(dest="witness_command", metavar="COMMAND", required=True)

    keygen = commands.add_parser("keygen", help="create the witness's key (encrypted at rest) and print its vkey")
    keygen.add_argument("--dir", type=Path, required=True, help="witness directory (witness.key, witness.vkey)")
    keygen.add_argument("--name", required=True, help="the witness's name, e.g. officers.example/witness")
    _passphrase_options(keygen)
    keygen.add_argument("--unprotected", action="store_true", help="store the key unencrypted (a warning is printed)")
    keygen.set_defaults(func=_reporting("keygen", _keygen))

    show = commands.add_parser("show", help="print the witness's verifier key (give it to the matcher and officers)")
    show.add_argument("--dir", type=Path, required=True)
    show.set_defaults(func=_reporting("show", _show))

    serve = commands.add_parser("serve", help="serve POST /add-checkpoint and GET /checkpoint/<origin>")
    serve.add_argument("--dir", type=Path, required=True, help="witness directory (key, and state witness.sqlite)")
    serve.add_argument("--listen", default="127.0.0.1:7380", help="HOST:PORT (default 127.0.0.1:7380)")
    serve.add_argument(
        "--log-key",
        action="append",
        default=[],
        required=True,
        help="a log to follow: its verifier key (<origin>+<hash>+<key>, or a file with one), "
        "or ORIGIN=PEMFILE (the audit public key, audit.pub.pem); repeatable",
    )
    serve.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (e.g. from the custodian CA)")
    serve.add_argument("--tls-key", type=Path, help="the key of --tls-cert")
    _passphrase_options(serve)
    serve.set_defaults(func=_reporting("serve", _serve))


def _passphrase_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        help=f"file holding the witness key's passphrase (else ${PASSPHRASE_ENVIRONMENT}, else a prompt)",
    )


def _reporting(name: str, func):
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except (WitnessKeyError, VerifierKeyError, KeyFileError, ValueError, OSError) as exc:
            print(f"aidlink witness {name}: error: {exc}", file=sys.stderr)
            return 2

    return run


def _passphrase(args: argparse.Namespace, *, creating: bool) -> bytes | None:
    return key_passphrase(
        args.passphrase_file,
        PASSPHRASE_ENVIRONMENT,
        prompt=f"passphrase for the witness key in {args.dir}: ",
        refusal=(
            f"the witness key is encrypted at rest: give a passphrase with --passphrase-file FILE, "
            f"${PASSPHRASE_ENVIRONMENT} or at the prompt (on a terminal); --unprotected stores it unencrypted"
        ),
        creating=creating,
    )


def _keygen(args: argparse.Namespace) -> int:
    if args.unprotected:
        if args.passphrase_file is not None or os.environ.get(PASSPHRASE_ENVIRONMENT):
            raise ValueError(
                f"--unprotected and a passphrase (--passphrase-file or ${PASSPHRASE_ENVIRONMENT}) contradict each other"
            )
        print(
            "aidlink witness keygen: WARNING: the witness key is stored UNENCRYPTED (--unprotected); "
            "whoever reads the file can cosign as this witness",
            file=sys.stderr,
        )
        passphrase = None
    else:
        passphrase = _passphrase(args, creating=True)
    key = WitnessKey.create(args.dir, args.name, passphrase)
    print(key.verifier().vkey())
    return 0


def _show(args: argparse.Namespace) -> int:
    from aidlink.witness.key import VKEY_FILE

    print(read_file(args.dir / VKEY_FILE, "witness verifier key").decode("utf-8").strip())
    return 0


def read_log_key(text: str) -> NoteVerifier:
    """A log's verifier key: a vkey string or file, or ORIGIN=PEMFILE (the log signs under its origin)."""
    origin, sep, pem = text.partition("=")
    if sep and "+" not in origin:
        key = read_verifier_key(pem)
        return key.for_origin(origin)
    key = read_verifier_key(text)
    if key.name is None:
        raise ValueError(f"log key {text!r} is a PEM key without an origin: give it as ORIGIN=PEMFILE")
    return key.for_origin(key.name)


def _serve(args: argparse.Namespace) -> int:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    logs = [read_log_key(text) for text in args.log_key]
    key = WitnessKey.load(args.dir, _passphrase(args, creating=False))
    state = WitnessState(args.dir / STATE_FILE)
    tls = WitnessTls(args.tls_cert, args.tls_key) if args.tls_cert else None
    try:
        server = WitnessServer(Witness(key, logs, state), args.listen, tls).start()
    except BaseException:
        state.close()
        raise
    termination = TerminationSignal()
    print(f"witness {key.name} listening on {server.url}", flush=True)
    for verifier in logs:
        print(f"  following log {verifier.name}", flush=True)
    termination.wait()
    server.stop()
    return 0
