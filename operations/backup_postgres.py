"""PostgreSQL's side of backups: ``pg_dump`` of one snapshot, and a restore that runs no code of the dump's.

A restore first lists the dump (``pg_restore --list``) and refuses any object the app's migrations
do not create: only tables the app knows, their data, sequences, defaults, constraints and indexes,
in the app's schema; a function, trigger, extension, view or anything else stops it before the
database is touched. Then ``pg_restore`` turns the dump into SQL (``--no-owner --no-privileges``:
nothing is owned by or granted to the roles of the machine that made it) and ``psql`` runs it in
one transaction, as the app's role where ``--role`` names it, followed by the app's own statements:
drop the tables the backup predates, empty sessions, tokens and lockouts, and check every table's
row count against the manifest. A failed check raises inside that transaction, so the database
stays as it was.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from django.db import connection

from operations.backup_keys import BackupError, private_file

# pg_restore --list descriptions of what Django's migrations create (longest first: "TABLE DATA" before "TABLE").
ALLOWED_OBJECTS = (
    "TABLE DATA",
    "TABLE",
    "SEQUENCE OWNED BY",
    "SEQUENCE SET",
    "SEQUENCE",
    "DEFAULT",
    "FK CONSTRAINT",
    "CONSTRAINT",
    "INDEX",
)
_ENTRY = re.compile(r"^\d+; \d+ \d+ (?P<rest>.+)$")


def pg_environment() -> dict[str, str]:
    """libpq's variables for the configured database (no password on a command line)."""
    db = connection.settings_dict
    env = {**os.environ, "PGDATABASE": db["NAME"]}
    for key, variable in (("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD"), ("HOST", "PGHOST"), ("PORT", "PGPORT")):
        if db.get(key):
            env[variable] = str(db[key])
    if sslmode := db.get("OPTIONS", {}).get("sslmode"):
        env["PGSSLMODE"] = sslmode
    return env


def run_tool(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(command, env=pg_environment(), capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(f"{command[0]} is not installed; it comes with PostgreSQL's client tools.") from exc
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")
    return done


def dump_snapshot(target: Path, *, snapshot: str, without_data: list[str]) -> None:
    """``pg_dump`` of the exported ``snapshot`` into ``target`` (mode 0600), without the rows of ``without_data``."""
    private_file(target).close()  # pg_dump truncates the file and keeps its mode
    excluded = [f"--exclude-table-data={table}" for table in without_data]
    run_tool(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={target}", *excluded])
    target.chmod(0o600)


def dumped_tables(dump: Path, *, allowed: set[str], schema: str) -> set[str]:
    """The tables in ``dump``; BackupError if it holds anything else, or a table the app does not know."""
    listing = run_tool(["pg_restore", "--list", str(dump)]).stdout
    tables, foreign = set(), []
    for line in listing.splitlines():
        if not line.strip() or line.lstrip().startswith(";"):
            continue  # the archive's header and comments
        if not (match := _ENTRY.match(line.strip())):
            foreign.append(line.strip())
            continue
        rest = match["rest"]
        kind = next((k for k in ALLOWED_OBJECTS if rest.startswith(k + " ")), None)
        words = rest[len(kind) + 1 :].split() if kind else []
        if kind is None or not words or words[0] != schema:
            foreign.append(rest)
        elif kind in {"TABLE", "TABLE DATA"}:
            if len(words) < 2 or words[1] not in allowed:
                foreign.append(rest)
            else:
                tables.add(words[1])
    if foreign:
        shown = "; ".join(foreign[:10]) + (f"; and {len(foreign) - 10} more" if len(foreign) > 10 else "")
        raise BackupError(
            f"The database dump holds objects the app's migrations do not create, nothing was restored: {shown}."
        )
    return tables


def current_schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
    return str(schema)


def connected_as_superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])


def _count_checks(counts: dict[str, tuple[str, int]]) -> str:
    """A DO block that raises unless every table holds its count (label, rows) of the manifest."""
    quote = connection.ops.quote_name
    lines = ["DO $dermatrack_check$", "DECLARE found bigint;", "BEGIN"]
    for table, (label, expected) in sorted(counts.items()):
        lines.append(f"  SELECT count(*) INTO found FROM {quote(table)};")
        lines.append(
            f"  IF found <> {int(expected)} THEN RAISE EXCEPTION "
            f"'DermaTrack row check: % rows of {label} (expected {int(expected)})', found; END IF;"
        )
    lines += ["END", "$dermatrack_check$;"]
    return "\n".join(lines)


def restore_dump(
    dump: Path,
    *,
    workdir: Path,
    counts: dict[str, tuple[str, int]],
    drop: set[str],
    empty: set[str],
    role: str | None,
) -> None:
    """Replace the database's content with ``dump``'s in one transaction that checks the row ``counts``.

    ``drop``: tables to drop (those of migrations newer than the backup); ``empty``: tables to
    leave empty (sessions, tokens, lockouts); ``role``: the role that owns what is restored.
    """
    script = workdir / "restore.sql"
    private_file(script).close()
    run_tool(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", f"--file={script}", str(dump)])
    quote = connection.ops.quote_name
    wrapper = workdir / "restore-checked.sql"
    with private_file(wrapper) as handle:
        statements = [f"SET ROLE {quote(role)};" if role else "", f"\\i '{script}'", "RESET search_path;"]
        statements += [f"DROP TABLE IF EXISTS {quote(table)} CASCADE;" for table in sorted(drop)]
        if empty:
            statements.append(f"TRUNCATE {', '.join(quote(t) for t in sorted(empty))};")
        statements.append(_count_checks(counts))
        handle.write("\n".join(statements).encode() + b"\n")
    connection.close()  # nothing of this process holds a lock while psql replaces the tables
    psql = ["psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction", f"--file={wrapper}"]
    try:
        run_tool(psql)
    except BackupError as exc:
        if found := re.search(r"DermaTrack row check: (.+)", str(exc)):
            raise BackupError(
                f"The restored database does not hold the backup's rows ({found[1].strip()}): the restore "
                "was rolled back, the database is as it was."
            ) from exc
        raise BackupError(f"{exc} The restore was rolled back, the database is as it was.") from exc
