"""The passphrase that protects a key at rest (custody keys, the witness key): one recipe.

From ``--passphrase-file`` (its first line), else an environment variable, else a prompt on a
terminal (asked twice when a key is being created). Creating a protected key without any of them
is refused with `refusal`; opening one returns None, and the store then says it needs one.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from aidlink.keys.key_files import read_file


def key_passphrase(
    passphrase_file: Path | None,
    environment: str,
    *,
    prompt: str,
    refusal: str,
    creating: bool,
    needed: bool = True,
) -> bytes | None:
    """The passphrase, or None when opening and none was given (or `needed` is False).

    `prompt` names the key at the terminal ("passphrase for custody DIR: "); `refusal` is the
    one-line error for creating without a passphrase and without a terminal."""
    if passphrase_file is not None:
        passphrase = read_file(passphrase_file, "passphrase file").rstrip(b"\r\n")
        if not passphrase:
            raise ValueError(f"passphrase file {passphrase_file} is empty")
        return passphrase
    from_environment = os.environ.get(environment)
    if from_environment is not None:
        if not from_environment:
            raise ValueError(f"${environment} is set but empty")
        return from_environment.encode("utf-8")
    if not creating and not needed:
        return None
    if not sys.stdin.isatty():
        if creating:
            raise ValueError(refusal)
        return None
    entered = getpass.getpass(prompt).encode("utf-8")
    if not entered:
        raise ValueError("empty passphrase")
    if creating and getpass.getpass("repeat the passphrase: ").encode("utf-8") != entered:
        raise ValueError("the two passphrases differ")
    return entered
