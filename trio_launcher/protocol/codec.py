"""JSON wire codec: ``encode(message) -> str`` and ``decode(str | bytes) -> message``.

The wire JSON is exactly n8n's: one object per frame with a ``type`` key,
camelCase field names, optional fields left out when absent, opaque payloads
passed through untouched. Decoding is strict about the fields it knows (a
string where an integer belongs is an error, never coerced) and tolerant of
what it does not: extra keys are ignored and an unknown ``type`` decodes to
:class:`~.messages.UnknownMessage`.

Whatever the input, :func:`decode` raises nothing but
:class:`~.errors.RemoteProtocolError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any, Final

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.v import format_exception

from .errors import LocalProtocolError, RemoteProtocolError
from .messages import ABSENT, MESSAGE_TYPES, Message, UnknownMessage

__all__ = ["converter", "decode", "encode", "wire_name"]


def wire_name(field_name: str) -> str:
    """The camelCase wire name of a snake_case field (``task_id`` -> ``taskId``)."""
    head, *rest = field_name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class _WrongType(TypeError):
    def __init__(self, expected: str, value: object) -> None:
        super().__init__(f"expected {expected}, got {_json_type(value)}")


def _json_type(value: object) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    if value is None:
        return "null"
    return names.get(type(value), "object")


def _strict_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise _WrongType("a string", value)
    return value


def _strict_int(value: object, _: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _WrongType("an integer", value)
    return value


def _strict_str_tuple(value: object, _: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _WrongType("an array of strings", value)
    return tuple(value)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _strict_str_tuple)
    conv.register_unstructure_hook(tuple, list)
    # Hooks are generated per class on first use: the runner's start-up pays
    # only for the few messages it actually sees.
    conv.register_structure_hook_factory(_is_message, partial(_structure_fn, conv))
    conv.register_unstructure_hook_factory(_is_message, partial(_unstructure_fn, conv))
    return conv


def _is_message(cls: Any) -> bool:
    return cls in _MESSAGE_CLASSES


def _renames(cls: type, *, opaque_as_is: bool = False) -> dict[str, Any]:
    overrides = {}
    for f in attrs.fields(cls):
        opaque = opaque_as_is and f.type in (Any, "Any")
        overrides[f.name] = override(
            rename=wire_name(f.name),
            omit_if_default=f.default is ABSENT,
            # Opaque payloads are JSON already: encode them as they are, not copied.
            unstruct_hook=_as_is if opaque else None,
        )
    return overrides


def _as_is(value: Any) -> Any:
    return value


def _structure_fn(conv: cattrs.Converter, cls: type) -> Any:
    return make_dict_structure_fn(cls, conv, **_renames(cls))


def _unstructure_fn(conv: cattrs.Converter, cls: type) -> Any:
    return make_dict_unstructure_fn(cls, conv, **_renames(cls, opaque_as_is=True))


_MESSAGE_CLASSES: Final = frozenset(MESSAGE_TYPES.values())


#: The cattrs converter behind :func:`encode` and :func:`decode`.
converter: Final = _make_converter()

_dumps: Final[Callable[[object], str]] = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode
_dumps_ascii: Final[Callable[[object], str]] = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, separators=(",", ":")
).encode


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_loads: Final[Callable[[str], Any]] = json.JSONDecoder(parse_constant=_reject_constant).decode


def encode(message: Message) -> str:
    """Serialise ``message`` to the JSON text of one WebSocket frame.

    Raises :class:`LocalProtocolError` if an opaque payload is not JSON
    (a set, a NaN, an object that JSON cannot hold).
    """
    type_ = message.type if isinstance(message, UnknownMessage) else message.TYPE
    try:
        if isinstance(message, UnknownMessage):
            obj: dict[str, Any] = message.raw
        else:
            obj = {"type": type_, **converter.unstructure(message)}
        text = _dumps(obj)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: escape it, as JSON.stringify does
                text = _dumps_ascii(obj)
        return text
    except (TypeError, ValueError, RecursionError) as exc:
        raise LocalProtocolError(f"cannot encode {type_!r}: {exc}") from None


def decode(data: str | bytes) -> Message:
    """Parse one frame into its message class.

    Raises :class:`RemoteProtocolError` for anything that is not a JSON object
    with a string ``type`` and the known fields of that type; an unknown
    ``type`` gives an :class:`UnknownMessage` holding the raw object.
    """
    obj = _parse_object(data)
    type_ = obj.get("type")
    if not isinstance(type_, str):
        raise RemoteProtocolError("message has no string 'type' field")
    cls = MESSAGE_TYPES.get(type_)
    if cls is None:
        return UnknownMessage(type=type_, raw=obj)
    try:
        message: Message = converter.structure(obj, cls)
    except cattrs.ClassValidationError as exc:
        raise RemoteProtocolError(f"{type_}: {_describe(exc)}") from None
    return message


def _parse_object(data: str | bytes) -> dict[str, Any]:
    try:
        if isinstance(data, bytes):  # as json.loads reads bytes
            data = data.decode(json.detect_encoding(data), "surrogatepass")
        obj = _loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise RemoteProtocolError(f"frame is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"frame is a JSON {_json_type(obj)}, not an object")
    return obj


def _describe(exc: cattrs.ClassValidationError) -> str:
    problems = []
    for sub in exc.exceptions:
        notes = getattr(sub, "__notes__", [])
        name = next((wire_name(n.name) for n in notes if hasattr(n, "name")), "?")
        if isinstance(sub, KeyError):
            problems.append(f"field {name!r} is missing")
        else:
            problems.append(f"field {name!r}: {format_exception(sub, None)}")
    return "; ".join(problems)
