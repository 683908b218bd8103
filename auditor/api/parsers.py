"""Request body parsers of the API (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"])."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing a body nested deeper than Python's recursion limit with a 400.

    The json module decodes nested arrays and objects recursively: a body of 100,000 `[` raises RecursionError, which
    DRF does not expect from a parser and would answer with a 500. No request this API takes nests more than two
    levels, so anything that deep is malformed.
    """

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the body is nested too deeply.") from None
