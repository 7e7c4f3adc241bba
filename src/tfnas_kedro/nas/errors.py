"""Errors raised by the library, and readable messages from pydantic's validation errors."""

from __future__ import annotations

from pydantic import ValidationError


class ConfigError(ValueError):
    """A configuration (search space, parameters, description) is invalid; the message names the key."""


class SearchError(RuntimeError):
    """The search cannot go on (NaN loss, mismatched checkpoint, unreachable target)."""


def _format_loc(prefix: str, loc: tuple) -> str:
    parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts)


def describe_validation_error(err: ValidationError, prefix: str = "") -> str:
    """One line per problem, each starting with the dotted key it concerns (``stages[2].min_depth``)."""
    lines = []
    for problem in err.errors(include_url=False):
        # model validators report at the object's own location and prefix "Value error, "
        message = problem["msg"].removeprefix("Value error, ")
        where = _format_loc(prefix, problem["loc"])
        lines.append(f"{where}: {message}" if where else message)
    return "\n".join(lines)


def validate_model(model_cls, data, prefix: str = ""):
    """Validate ``data`` into ``model_cls``, raising :class:`ConfigError` with key-named messages."""
    try:
        return model_cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, prefix)) from None
