"""The functions a profile's SQL expression may call, and the check that it calls no other.

A ``text = "sql"`` profile's expression must give the same text for the same row, every
time, on every machine, and read nothing but the row. That is an allow-list, not a
deny-list, so that a new DuckDB release, which adds functions, cannot widen what a profile
may call: anything not named here (random or time-dependent functions, sequences,
variables and settings, the query's own text, logging, table functions, aggregates,
window functions, file readers) is refused when the profile is loaded.

Every name here is one of DuckDB's scalar functions or built-in macros whose definitions
only call names from this list; the suite checks each against DuckDB's own catalog
(``duckdb_functions()``: none is volatile or has side effects). The functions of
:data:`ZONED` also have overloads DuckDB marks consistent only within a query: those take
a timestamp or time with a zone and depend on the session's time zone, which the engine
fixes to UTC.
"""

from __future__ import annotations

import json
from functools import lru_cache

from .._engine import Engine
from ..errors import ProfileError, first_line

__all__ = ["ALLOWED_FUNCTIONS", "ZONED", "check_expression", "unknown_references"]

#: Operators, by the names DuckDB's parser gives them (also callable as ``"||"(a, b)``).
_OPERATORS = frozenset({
    "+", "-", "*", "/", "//", "%", "**", "^", "@", "&", "|", "~", "<<", ">>", "||",
    "=", "!=", "<", "<=", ">", ">=", "is distinct from", "is not distinct from",
    "~~", "!~~", "~~*", "!~~*", "~~~", "^@", "->>", "!__postfix",
})

_STRINGS = frozenset({
    "concat", "concat_ws", "lower", "upper", "lcase", "ucase", "length", "len",
    "char_length", "character_length", "strlen", "octet_length", "bit_length",
    "length_grapheme", "substring", "substr", "substring_grapheme", "left", "right",
    "left_grapheme", "right_grapheme", "lpad", "rpad", "trim", "ltrim", "rtrim", "replace",
    "translate", "reverse", "overlay", "position", "strpos", "instr", "starts_with", "prefix",
    "ends_with", "suffix", "contains", "split_part", "string_split", "str_split", "split",
    "string_to_array", "format", "printf", "chr", "ascii", "unicode", "ord", "nfc_normalize",
    "strip_accents", "like_escape", "not_like_escape", "ilike_escape", "not_ilike_escape",
    "regexp_replace", "regexp_extract", "regexp_extract_all", "regexp_matches",
    "regexp_full_match", "regexp_split_to_array", "string_split_regex", "str_split_regex",
    "regexp_escape", "url_encode", "url_decode",
})

_ENCODINGS = frozenset({
    "md5", "sha1", "sha256", "to_base64", "base64", "from_base64", "hex", "to_hex", "unhex",
    "from_hex", "bin", "to_binary", "unbin", "from_binary", "encode", "decode",
})

_TIMES = frozenset({
    "strftime", "strptime", "try_strptime", "date_part", "datepart", "date_trunc", "datetrunc",
    "date_diff", "datediff", "date_sub", "datesub", "date_add", "epoch", "epoch_ms",
    "epoch_us", "epoch_ns", "make_date", "make_time", "make_timestamp", "make_timestamp_ms",
    "make_timestamp_ns", "to_timestamp", "timezone", "year", "month", "day", "hour", "minute",
    "second", "millisecond", "microsecond", "nanosecond", "dayofmonth", "dayofweek",
    "dayofyear", "isodow", "isoyear", "week", "weekday", "weekofyear", "yearweek", "quarter",
    "dayname", "monthname", "last_day", "century", "decade", "millennium", "era", "julian",
    "timezone_hour", "timezone_minute", "to_centuries", "to_decades", "to_millennia",
    "to_years", "to_quarters", "to_months", "to_weeks", "to_days", "to_hours", "to_minutes",
    "to_seconds", "to_milliseconds", "to_microseconds",
})

_NUMBERS = frozenset({
    "abs", "add", "subtract", "multiply", "divide", "mod", "fmod", "power", "pow", "round",
    "round_even", "roundbankers", "floor", "ceil", "ceiling", "trunc", "sign", "greatest",
    "least", "xor", "bit_count", "factorial", "isnan", "isinf", "isfinite", "to_base",
})

_JSON = frozenset({
    "json", "json_extract", "json_extract_string", "json_extract_path",
    "json_extract_path_text", "json_value", "json_exists", "json_keys", "json_array_length",
    "json_type", "json_valid", "json_contains", "json_quote", "json_object", "json_array",
    "to_json", "json_merge_patch",
})

_STRUCTURES = frozenset({
    "list_value", "list_pack", "list_extract", "list_element", "array_extract",
    "array_length", "list_slice", "array_slice", "struct_extract", "struct_pack", "row",
})

_CONDITIONS = frozenset({"if", "nullif"})

#: Every function an expression may call (lowercase names).
ALLOWED_FUNCTIONS = (_OPERATORS | _STRINGS | _ENCODINGS | _TIMES | _NUMBERS | _JSON
                     | _STRUCTURES | _CONDITIONS)

#: Allowed functions whose overloads on zoned timestamps depend on the session's time zone.
ZONED = frozenset({
    "+", "-", "strftime", "date_part", "datepart", "date_trunc", "datetrunc", "date_diff",
    "datediff", "date_sub", "datesub", "timezone", "year", "month", "day", "hour", "minute",
    "second", "millisecond", "microsecond", "dayofmonth", "dayofweek", "dayofyear", "isodow",
    "isoyear", "week", "weekday", "weekofyear", "yearweek", "quarter", "dayname", "monthname",
    "last_day", "century", "decade", "millennium", "era", "julian", "timezone_hour",
    "timezone_minute",
})


#: The kinds of expression node an expression may hold (functions are checked by name).
_ALLOWED_CLASSES = {"CONSTANT", "COLUMN_REF", "FUNCTION", "OPERATOR", "CASE", "CAST", "TYPE",
                    "COMPARISON", "CONJUNCTION", "BETWEEN", "COLLATE"}
_CLASS_WORDS = {"SUBQUERY": "a subquery", "WINDOW": "a window function", "STAR": "*",
                "PARAMETER": "a parameter", "LAMBDA": "a lambda", "LAMBDA_REF": "a lambda",
                "POSITIONAL_REFERENCE": "a positional reference", "DEFAULT": "DEFAULT"}


def _walk(node, found: set[tuple[str, ...]], problems: list[str]) -> None:
    if isinstance(node, dict):
        kind = node.get("class")
        if isinstance(kind, str) and kind not in _ALLOWED_CLASSES:
            problems.append(_CLASS_WORDS.get(kind, f"an expression of kind {kind.lower()}"))
        if kind == "COLUMN_REF":
            names = tuple(str(n) for n in node.get("column_names") or ())
            if names:
                found.add(names)
        if kind == "FUNCTION":
            name = str(node.get("function_name", "")).lower()
            prefix = ".".join(str(p) for p in (node.get("catalog"), node.get("schema")) if p)
            if prefix:  # a schema's function may be anyone's macro
                problems.append(f"the function {prefix}.{name}() (only plain names)")
            elif name not in ALLOWED_FUNCTIONS:
                problems.append(f"the function {name}()")
        for value in node.values():
            _walk(value, found, problems)
    elif isinstance(node, list):
        for value in node:
            _walk(value, found, problems)


@lru_cache(maxsize=64)
def _parse(expression: str) -> tuple[tuple[tuple[str, ...], ...], str | None]:
    """The column references of an expression, and why it is refused (None when it is not)."""
    engine = Engine()
    try:
        sql = f"SELECT ({expression}\n) AS __text"
        tree = json.loads(engine.scalar("SELECT json_serialize_sql($1)", [sql]))
    finally:
        engine.close()
    if tree.get("error"):
        message = first_line(tree.get("error_message", "unparsable"))
        if "Only SELECT" in message:  # a statement of its own after the expression
            return (), "it must be one expression, not several statements"
        return (), f"syntax error: {message}"
    statements = tree.get("statements") or []
    if len(statements) != 1:
        return (), "it must be one expression, not several statements"
    node = statements[0].get("node", {})
    extra = [k for k in ("where_clause", "having", "qualify", "sample") if node.get(k)]
    if (node.get("type") != "SELECT_NODE" or len(node.get("select_list", [])) != 1
            or node.get("from_table", {}).get("type") != "EMPTY" or extra
            or node.get("group_expressions") or node.get("modifiers")
            or (node.get("cte_map") or {}).get("map")):
        return (), "it must be one expression over the row's columns"
    found: set[tuple[str, ...]] = set()
    problems: list[str] = []
    _walk(node["select_list"], found, problems)
    if problems:
        unique = list(dict.fromkeys(problems))
        calls = any(p.startswith("the function") for p in unique)
        return (), (f"it uses {', '.join(unique)}"
                    + ("; an expression may call only pure scalar functions (string, date and "
                       "time, cast, hash, JSON, arithmetic, comparison)" if calls else ""))
    return tuple(sorted(found)), None


def check_expression(expression: str, name: str) -> tuple[str, ...]:
    """The columns ``expression`` reads; :class:`ProfileError` when a profile may not use it.

    ``name`` names the profile in the message. A reference ``s.f`` reads the column ``s``
    (a struct's field ``f``).

    Raises
    ------
    ProfileError
        When the expression does not parse, is not one scalar expression over the row, or
        calls a function that is not on :data:`.functions.ALLOWED_FUNCTIONS` (the message
        names it).
    """
    refs, problem = _parse(expression)
    if problem:
        raise ProfileError(f"invalid expression in hash profile {name!r}: {problem}")
    return tuple(sorted({ref[0] for ref in refs}))


def unknown_references(expression: str, columns) -> list[str]:
    """The references of ``expression`` that name no column of ``columns``.

    DuckDB binds a bare name that is no column to a function of the session
    (``current_date``, ``current_user``...): those are refused, not evaluated.
    """
    known = {c.lower() for c in columns}
    refs, _ = _parse(expression)
    return [".".join(ref) for ref in refs
            if ref[0].lower() not in known and not (len(ref) > 1 and ref[1].lower() in known)]
