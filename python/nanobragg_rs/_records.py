"""Records: dataclasses that cost little to define.

The standard ``dataclasses`` module imports ``inspect`` (and with it ``ast``, ``dis`` and
``tokenize``) and generates each class's methods with its own machinery: together about a third
of the ``nanobragg`` command's start-up, paid on every frame of a shell loop. A record is declared
as a dataclass is (annotated fields, defaults, ``field(default_factory=...)``) and gets the same
``__init__``, ``__repr__`` and ``__eq__``, frozen or not. The ``__init__`` is generic for a
class's first few instances and then compiled for it (one small ``exec``), so classes made once
per command never pay for the compilation.

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


#: Instances made by the generic ``__init__`` before a record class gets its own, compiled
#: one. Compiling costs about 15 us a field (the configuration's classes together 1.6 ms), which
#: a class made a few times per command (a configuration section) never repays; one made by
#: the hundred (a schema Setting) does.
_COMPILE_AFTER = 8


def _compiled_init(cls: type, names: list[str], defaults: dict[str, tuple[Any, Any]], frozen: bool) -> Any:
    """``__init__`` for ``cls`` as dataclasses writes it: one ``exec`` of its own source."""
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
    return init


def _first_init(cls: type, names: list[str], defaults: dict[str, tuple[Any, Any]], frozen: bool) -> Any:
    """An ``__init__`` binding arguments as the compiled one would, with the same errors; after
    :data:`_COMPILE_AFTER` instances it puts the compiled one in its place."""
    qualname = f"{cls.__qualname__}.__init__()"
    known = frozenset(names)
    required = [n for n in names if all(x is _MISSING for x in defaults.get(n, (_MISSING, _MISSING)))]
    made = [0]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if type(self) is cls:
            made[0] += 1
            if made[0] == _COMPILE_AFTER:
                type.__setattr__(cls, "__init__", _compiled_init(cls, names, defaults, frozen))
        if len(args) > len(names):
            raise TypeError(f"{qualname} takes {len(names) + 1} positional arguments but {len(args) + 1} were given")
        for name in kwargs:
            if name not in known:
                raise TypeError(f"{qualname} got an unexpected keyword argument {name!r}")
        given = dict(zip(names, args))
        for name in kwargs:
            if name in given:
                raise TypeError(f"{qualname} got multiple values for argument {name!r}")
        given.update(kwargs)
        missing = [n for n in required if n not in given]
        if missing:
            raise TypeError(f"{qualname} missing {len(missing)} required argument{'s' if len(missing) > 1 else ''}: "
                            + ", ".join(repr(n) for n in missing))
        values = self.__dict__
        for name in names:
            if name in given:
                value = given[name]
            else:
                default, factory = defaults[name]
                value = factory() if factory is not _MISSING else default
            if frozen:
                values[name] = value
            else:
                setattr(self, name, value)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


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
    seen_default = False
    for name in names:
        default, factory = defaults.get(name, (_MISSING, _MISSING))
        if default is _MISSING and factory is _MISSING:
            if seen_default:
                raise TypeError(f"{cls.__name__}: non-default field {name!r} follows a default one")
        else:
            seen_default = True
    init = _first_init(cls, names, defaults, frozen)
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
