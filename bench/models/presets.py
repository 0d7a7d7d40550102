"""Named presets: model sizes as data, not as subclasses.

A decoder class declares one ``Params`` class; a preset is a name plus values for some of its
fields (``possm-gru-large`` = the POSSM decoder with ``dim=256, hidden=512, ...``) and what differs
about that configuration as a whole (trained on all sessions at once, the paper's size). The
registry gives each preset name a class bound to it (``bind``): the same decoder, whose
``Params()`` defaults are the preset's values, so a suite's ``params`` override the preset and a
record's defaults are the preset's. Nothing else is generated: forward code, parameter names and
state_dict keys are the decorated class's.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError, create_model

from bench.errors import BenchError


class PresetError(BenchError):
    """A preset names a parameter its class does not have, or a value it rejects."""


@dataclass(frozen=True)
class Preset:
    """One named configuration of a decoder class.

    ``values`` set the Params fields that differ from the class's defaults; ``multi_session`` and
    ``paper_parameters`` replace the class's attributes when not None.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    multi_session: bool | None = None
    paper_parameters: int | None = None


def params_with_defaults(params_cls: type[BaseModel], values: Mapping[str, Any], name: str) -> type[BaseModel]:
    """``params_cls`` with ``values`` as the defaults of those fields; constraints, descriptions
    and the class name kept, so validation and its messages are unchanged."""
    unknown = sorted(set(values) - set(params_cls.model_fields))
    if unknown:
        raise PresetError(
            f"Preset '{name}' sets {', '.join(repr(u) for u in unknown)}, which {params_cls.__name__} does not "
            f"have; its fields are: {', '.join(sorted(params_cls.model_fields))}."
        )
    try:
        params_cls(**values)
    except ValidationError as exc:
        raise PresetError(f"Preset '{name}' has values {params_cls.__name__} rejects: {exc}") from None
    fields = {}
    for key, value in values.items():
        info = copy.copy(params_cls.model_fields[key])
        if info.default_factory is not None:
            # a field declared with default_factory (e.g. a list) keeps a factory: each instance
            # gets its own copy of the preset's value, and pydantic refuses default + factory
            info.default_factory = functools.partial(copy.deepcopy, value)
        else:
            info.default = value
        fields[key] = (info.annotation, info)
    return create_model(params_cls.__name__, __base__=params_cls, __module__=params_cls.__module__, **fields)


def bind(cls: type, name: str, preset: Preset) -> type:
    """The class a preset name resolves to: ``cls`` with the preset's Params defaults and
    class attributes, carrying the preset in ``cls.preset``."""
    attrs: dict[str, Any] = {
        "Params": params_with_defaults(cls.Params, preset.values, name),
        "preset": preset,
        "registry_name": name,
        "__module__": cls.__module__,
        "__doc__": preset.description or cls.__doc__,
    }
    if preset.multi_session is not None:
        attrs["multi_session"] = preset.multi_session
    if preset.paper_parameters is not None:
        attrs["paper_parameters"] = preset.paper_parameters
    return type(f"{cls.__name__}[{name}]", (cls,), attrs)
