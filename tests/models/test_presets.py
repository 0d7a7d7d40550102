"""Presets set Params defaults, including fields declared with ``default_factory`` (lists)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from bench.models.presets import PresetError, params_with_defaults
from bench.results.identity import non_default


class ListParams(BaseModel):
    streams: list[str] = Field(default_factory=list, description="a list field with a factory")
    size: int = Field(4, ge=1)


def test_preset_sets_a_default_factory_field_with_a_copy_per_instance():
    bound = params_with_defaults(ListParams, {"streams": ["spike_band_power"], "size": 8}, "demo")
    a, b = bound(), bound()
    assert a.streams == ["spike_band_power"] and a.size == 8
    a.streams.append("changed")
    assert b.streams == ["spike_band_power"]  # one instance's list is not another's
    assert bound().streams == ["spike_band_power"]
    assert bound(streams=[]).streams == []  # a suite's params still override the preset
    assert bound.model_fields["streams"].description == "a list field with a factory"
    # the preset's value is the default: an instance with it has no non-default settings
    assert non_default(bound()) == {}
    assert ListParams().streams == []  # the base class is untouched


def test_preset_value_is_validated_for_factory_fields():
    with pytest.raises(PresetError, match="streams"):
        params_with_defaults(ListParams, {"streams": "not a list"}, "demo")


def test_registered_possm_preset_with_feature_streams():
    from possm.decoder import POSSMParams

    bound = params_with_defaults(POSSMParams, {"n_latents": 4, "feature_streams": ["spike_band_power"]}, "demo")
    assert bound().feature_streams == ["spike_band_power"] and bound().n_latents == 4
