"""Records: dataclasses that cost little to define.

The standard ``dataclasses`` module imports ``inspect`` (and with it ``ast``, ``dis`` and
``tokenize``) and generates each class's methods with its own machinery: together about a third
of the ``nanobragg`` command's start-up, paid on every frame of a shell loop. A record is declared
as a dataclass is (annotated fields, defaults, ``field(default_factory=...)``) and gets the same
``__init__`` (one small ``exec``), ``__repr__`` and ``__eq__``, frozen or not.

To their users records are dataclasses: ``dataclasses.fields``, ``replace``, ``asdict`` and
``is_dataclass`` work on them, because ``__dataclass_fields__`` is made on first use by the
dataclasses module itself, from a twin class with the same declaration. Code of ours uses
:func:`field_names` and :func:`field_types`, which need no import.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T")
else:

    def dataclass_transform(**_kwargs):  # typing's, for type checkers only
        return lambda f: f


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


_MISSING: Any = _Missing()


class _Field:
    """What :func:`field` returns inside a class body."""

    __slots__ = ("default", "default_factory")

    def __init__(self, default: Any, default_factory: Any) -> None:
        self.default = default
        self.default_factory = default_factory


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | Any = _MISSING) -> Any:
    """A field's default (``dataclasses.field``'s two arguments records use)."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return _Field(default, default_factory)


class _DataclassFields:
    """``__dataclass_fields__``, built by the dataclasses module on first access."""

    def __get__(self, obj: object, cls: type) -> dict[str, Any]:
        import dataclasses

        body: dict[str, Any] = {"__annotations__": dict(getattr(cls, "__record_types__")), "__module__": cls.__module__,
                                "__qualname__": cls.__qualname__}
        for name, (default, factory) in getattr(cls, "__record_defaults__").items():
            if factory is not _MISSING:
                body[name] = dataclasses.field(default_factory=factory)
            elif default is not _MISSING:
                body[name] = dataclasses.field(default=default)
        twin: Any = dataclasses.dataclass(frozen=getattr(cls, "__record_frozen__"))(type(cls.__name__, (), body))
        fields: dict[str, Any] = twin.__dataclass_fields__
        type.__setattr__(cls, "__dataclass_fields__", fields)
        type.__setattr__(cls, "__dataclass_params__", twin.__dataclass_params__)
        return fields


def _frozen_setattr(self: object, name: str, value: object) -> None:
    import dataclasses

    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    import dataclasses

    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _make(cls: type, frozen: bool) -> type:
    types: dict[str, str] = {}
    for klass in reversed(cls.__mro__[1:]):
        types.update(getattr(klass, "__record_types__", {}))
    own = cls.__dict__.get("__annotations__", {})
    types.update({name: str(t) for name, t in own.items() if "ClassVar" not in str(t)})
    defaults: dict[str, tuple[Any, Any]] = {}
    for klass in reversed(cls.__mro__[1:]):
        defaults.update(getattr(klass, "__record_defaults__", {}))
    for name in own:
        if name not in types:
            continue
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Field):
            defaults[name] = (value.default, value.default_factory)
            if value.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
        elif value is not _MISSING:
            defaults[name] = (value, _MISSING)
    names = list(types)
    env: dict[str, Any] = {"_MISSING": _MISSING}
    params, lines = [], []
    for name in names:
        default, factory = defaults.get(name, (_MISSING, _MISSING))
        if factory is not _MISSING:
            env[f"_f_{name}"] = factory
            params.append(f"{name}=_MISSING")
            value = f"_f_{name}() if {name} is _MISSING else {name}"
        else:
            if default is not _MISSING:
                env[f"_d_{name}"] = default
                params.append(f"{name}=_d_{name}")
            elif any("=" in p for p in params):
                raise TypeError(f"{cls.__name__}: non-default field {name!r} follows a default one")
            else:
                params.append(name)
            value = name
        # A frozen record's fields go straight into its __dict__ (its __setattr__ refuses).
        lines.append(f"    _values[{name!r}] = {value}" if frozen else f"    self.{name} = {value}")
    if frozen:
        lines.insert(0, "    _values = self.__dict__")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(lines) or "    pass") + "\n"
    exec(source, env)  # noqa: S102 (generated from the class's own field names, as dataclasses does)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    fields = tuple(names)

    def __repr__(self: Any) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in fields)})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in fields)

    methods: dict[str, Any] = {"__init__": init, "__repr__": __repr__, "__eq__": __eq__}
    if frozen:

        def __hash__(self: Any) -> int:
            return hash(tuple(getattr(self, n) for n in fields))

        methods.update(__hash__=__hash__, __setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
    else:
        methods["__hash__"] = None
    methods.update(__match_args__=fields, __record_types__=types, __record_defaults__=defaults,
                   __record_frozen__=frozen, __dataclass_fields__=_DataclassFields())
    for name, value in methods.items():
        setattr(cls, name, value)
    return cls


@dataclass_transform(field_specifiers=(field,))
def record(cls: Any = None, /, *, frozen: bool = False) -> Any:
    """Make ``cls`` a record (``@record`` or ``@record(frozen=True)``), as ``@dataclass`` would."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)


def field_names(obj: object) -> tuple[str, ...]:
    """The fields of a record (class or instance), in declaration order."""
    cls = obj if isinstance(obj, type) else type(obj)
    return tuple(cls.__record_types__)  # type: ignore[attr-defined]


def field_types(obj: object) -> dict[str, str]:
    """Each field's annotation as written, by name."""
    cls = obj if isinstance(obj, type) else type(obj)
    return dict(cls.__record_types__)  # type: ignore[attr-defined]


def replace(obj: _T, **changes: Any) -> _T:
    """A copy of the record ``obj`` with ``changes`` (``dataclasses.replace``)."""
    values = {name: getattr(obj, name) for name in field_names(obj)}
    values.update(changes)
    return type(obj)(**values)
