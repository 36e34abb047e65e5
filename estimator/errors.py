"""One exception type for every bad input, so the CLI and the app can show one line."""

from __future__ import annotations


class EstimatorError(ValueError):
    """Bad input: names the field (or file) and the offending value.

    The CLI prints ``str(err)`` on one line and exits with status 2; the app shows it in an
    error box. Never raised for internal bugs (those stay ordinary exceptions).
    """

    def __init__(self, field: str, value: object, problem: str):
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}={_short(value)}: {problem}")


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
