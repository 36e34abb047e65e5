"""One exception type for every bad input, so the CLI and the app can show one line."""

from __future__ import annotations

import reprlib


class EstimatorError(ValueError):
    """Bad input: names the field (or file) and the offending value.

    The CLI prints ``str(err)`` on one line and exits with status 2; the app shows it in an
    error box. Never raised for internal bugs (those stay ordinary exceptions).
    """

    def __init__(self, field: str, value: object, problem: str):
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{_short(field, 120, quote=False)}={_short(value)}: {problem}")


class _Repr(reprlib.Repr):
    """``repr`` that never walks or prints more than it shows: a value pasted by a user can be a
    list of a million entries, a YAML alias bomb, a recursive list or an integer of 10⁵ digits
    (whose plain ``repr`` raises ``ValueError``)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxdict = 2, 4, 4, 4
        self.maxset = self.maxfrozenset = self.maxdeque = self.maxarray = 4
        self.maxstring, self.maxother = 60, 60

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 200:  # ~60 digits; str() of > 4300 digits raises
            return f"<integer of about {int(x.bit_length() * 0.30103) + 1:,} digits>"
        return super().repr_int(x, level)

    def repr_instance(self, x: object, level: int) -> str:
        try:
            return super().repr_instance(x, level)
        except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
            return f"<{type(x).__name__}>"


_REPR = _Repr()


def _short(value: object, limit: int = 80, quote: bool = True) -> str:
    if not quote and isinstance(value, str):
        text = value
    else:
        try:
            text = _REPR.repr(value)
        except Exception:  # noqa: BLE001 - same reason as repr_instance
            text = f"<{type(value).__name__}>"
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class NotAvailable(EstimatorError):
    """A model the estimator derives from the user's (a dense equivalent, a shrunk validation
    copy) cannot be built or measured: that comparison is not available, and the message says
    why without blaming the user's input, which is valid.

    ``str(err)`` reads "this comparison is not available because …"; ``cause`` is the
    underlying error (naming the derived model's field), when there is one.
    """

    def __init__(self, what: str, because: str, cause: EstimatorError | None = None):
        self.cause = cause
        self.what = what
        self.because = because
        super().__init__(what, None, because)
        self.args = (f"this comparison is not available because {because}",)

    def __str__(self) -> str:
        return self.args[0]
