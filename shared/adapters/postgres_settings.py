"""Session settings from a DATABASE_URL (libpq's `options`, Prisma's `schema`), and how a pooled session sends
them: the `-c name=value` switches split as the server splits them, and SET LOCAL that means what the startup
message would."""

from __future__ import annotations

import re

from shared.contracts.errors import PermanentError

# A setting's name as the server accepts it (a custom one has a dot): safe to write into SET LOCAL.
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$")
# Settings whose value is a list of identifiers (GUC_LIST_QUOTE): SET takes each element apart, not one string.
_IDENTIFIER_LISTS = frozenset({"search_path", "temp_tablespaces"})
# The startup message's own fields, not settings (pg8000 would refuse the connection, not the URL).
_STARTUP_FIELDS = frozenset({"user", "database", "replication", "options"})


def _split_words(options: str) -> list[str]:
    """The server's pg_split_opts: words separated by whitespace, a backslash keeps the next character."""
    words: list[str] = []
    word: list[str] | None = None
    escaped = False
    for char in options:
        if escaped:
            word = (word or []) + [char]
            escaped = False
        elif char == "\\":
            escaped, word = True, word or []
        elif char.isspace():
            if word is not None:
                words.append("".join(word))
            word = None
        else:
            word = (word or []) + [char]
    if word is not None:
        words.append("".join(word))
    return words


def _setting(assignment: str) -> tuple[str, str]:
    name, equals, value = assignment.partition("=")
    name = name.replace("-", "_")  # the server's ParseLongOption: --statement-timeout is statement_timeout
    if not equals or not _SETTING_NAME.match(name) or name.lower() in _STARTUP_FIELDS:
        raise PermanentError(f"DATABASE_URL options: {assignment.split('=')[0]!r} is not a name=value setting")
    return name, value


def options_settings(options: str) -> dict[str, str]:
    """The settings libpq's `options` carries: `-c name=value`, `-cname=value` or `--name=value`, each once."""
    settings: dict[str, str] = {}
    words = iter(_split_words(options))
    for word in words:
        if word == "-c":
            assignment = next(words, "")
        elif word.startswith(("-c", "--")):
            assignment = word[2:]
        else:
            raise PermanentError(f"DATABASE_URL options: only -c name=value settings are supported, not {word[:20]!r}")
        name, value = _setting(assignment)
        settings[name] = value
    return settings


def quoted_identifier(name: str) -> str:
    """An identifier as search_path takes it, case kept (what Prisma does with `schema`)."""
    return '"' + name.replace('"', '""') + '"'


def _downcased_identifier(name: str) -> str:
    """As the server folds a bare name: A-Z only (not other letters), cut at 63 bytes (NAMEDATALEN - 1)."""
    folded = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in name).encode()[:63]
    return folded.decode(errors="ignore")


def _identifier_list(value: str) -> list[str]:
    """The server's SplitIdentifierString: comma-separated, "quoted" kept as written, bare ones lower-cased."""
    elements: list[str] = []
    rest = value.strip()
    while rest:
        if rest.startswith('"'):
            match = re.match(r'"((?:[^"]|"")*)"', rest)
            if match is None:
                raise PermanentError(f"DATABASE_URL: unterminated quoted name in {value!r}")
            elements.append(match.group(1).replace('""', '"'))
            rest = rest[match.end() :].strip()
        else:
            bare, _, _ = rest.partition(",")
            elements.append(_downcased_identifier(bare.strip()))
            rest = rest[len(bare) :]
        if rest and not rest.startswith(","):
            raise PermanentError(f"DATABASE_URL: a list of names expected, not {value!r}")
        rest = rest[1:].strip()
    return elements


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def set_local_sql(settings: dict[str, str]) -> str:
    """SET LOCAL for each setting, meaning what it means in a startup message (a list is given element by
    element: one quoted string would be a single schema named "app, public")."""
    statements = []
    for name, value in settings.items():
        if name.lower() in _IDENTIFIER_LISTS:
            elements = _identifier_list(value)
            rendered = ", ".join(_literal(element) for element in elements) if elements else "''"
        else:
            rendered = _literal(value)
        statements.append(f"SET LOCAL {name} = {rendered}")
    return "; ".join(statements)


def with_own_settings(url_settings: dict[str, str], own: dict[str, str]) -> dict[str, str]:
    """The URL's settings, then recount's own: recount's bounds (statement_timeout, ...) win over the URL's,
    since the time budget is computed from them."""
    own_names = {name.lower() for name in own}
    return {name: value for name, value in url_settings.items() if name.lower() not in own_names} | own
