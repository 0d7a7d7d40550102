"""The import spec: how to read one recording from a file (docs/import_schema.md), as a pydantic schema."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.data.importers.messages import fail, validation_message
from bench.data.importers.recipes import recipe_names
from bench.data.sources import SourceParams

FORMATS = ("npz", "mat", "csv", "nwb")

# Bin widths (s): below a microsecond or above an hour they are a unit mistake, and 1e-300 overflows.
MIN_BIN_S, MAX_BIN_S = 1e-6, 3600.0
MAX_SEED = 2**63 - 1


def safe_file_name(value: str | None, field: str) -> str | None:
    """``value`` when it can name a file inside a folder (no separator, not '.', '..' or hidden); else ValueError.

    Recording ids and cache names become file and folder names: '../../x' or '/tmp/x' would write
    outside the folder the user chose.
    """
    if value is None:
        return value
    bad = (not value.strip() or value in (".", "..") or value.startswith(".") or any(c in value for c in "/\\\0:")
           or len(value) > 200)
    if bad:
        raise ValueError(
            f"{field} {value[:80]!r} must be a plain name for a file (letters, digits, '_', '-', '.'; not starting "
            "with '.', without '/', '\\' or ':', at most 200 characters): it names the output file inside the "
            "import folder or cache"
        )
    return value

# Canonical array names a file may provide (``fields`` maps them to the names used in the file).
CANONICAL_KEYS = (
    "counts",
    "behaviour",
    "trial_id",
    "label",
    "labels",
    "unit_ids",
    "trial_counts",
    "trial_lengths",
    "trial_behaviour",
    "trial_split",
    "trial_ids",
    "spike_times",
    "spike_units",
    "behaviour_timestamps",
    "trial_start",
    "trial_end",
    "trial_valid",
)

# A CSV column: 0-based position (int) or header name (str).
Column = int | str
# CSV column lists also take selectors: "a:b" (a range), "unit_*" (a glob), or one such string alone.
Columns = Annotated[list[Column], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)]


class TrialStruct(BaseModel):
    """A MATLAB struct array whose elements are trials (e.g. ``train_trial``, 91 x 8)."""

    model_config = ConfigDict(extra="forbid")
    variable: str
    split: Literal["train", "valid", "test"] | None = None


class FeatureSpec(BaseModel):
    """One regular per-channel feature stream (binned threshold crossings, spike-band power, ...)."""

    model_config = ConfigDict(extra="forbid")
    key: str | None = Field(None, description="npz / mat: the array (default: the stream's name); mat: may be dotted")
    columns: Columns | None = Field(None, description="csv: the stream's columns (default: all of its file)")
    path: str | None = Field(None, description="csv: the file holding the columns (default: the spec's path)")
    kind: Literal["counts", "continuous"] = Field("counts", description="counts: whole event counts per bin")
    bin_size_s: float | None = Field(None, ge=MIN_BIN_S, le=MAX_BIN_S, allow_inf_nan=False,
                                     description="the stream's bin width (default: the spec's bin_size_s)")
    transpose: bool = Field(False, description="stored as (channels, bins)")
    channel_ids: str | None = Field(None, description="npz / mat: array of channel names (csv: the header)")


class ImportSpec(SourceParams):
    """How to read one recording from a file (see docs/import_schema.md). Extra keys are refused."""

    recipe: str | None = Field(None, description="named spec in bench/data/importers/recipes/")
    format: Literal["npz", "mat", "csv", "nwb"] | None = Field(None, description="default: from the file extension")
    layout: Literal["continuous", "trials", "spikes", "single_letters"] | None = Field(
        None, description="default: from the keys; single_letters: a singleLetters.mat (bench/data/importers/single_letters.py)")
    path: str | None = Field(None, description="the data file (recipes: the folder holding the files)")
    targets_path: str | None = Field(None, description="csv, continuous: per-bin targets file")
    behaviour_path: str | None = Field(None, description="csv, spikes: behaviour samples file")
    trials_path: str | None = Field(None, description="csv, spikes: one row per trial")
    # NWB files: which behaviour series, and what the values of the trials' split column mean
    behaviour_series: str | None = Field(None, description="nwb: 'MODULE/NAME[/SERIES]' (default: the one *vel* / *pos* series)")
    valid_column: str | None = Field(None, description="nwb: trials column marking valid trials (bool, 0/1, or 'R' / 'success')")
    split_names: dict[str, Literal["train", "valid", "test", "exclude"]] = Field(
        default_factory=dict, description="nwb: split column value -> split, or exclude (NLB: {val: test, none: exclude})"
    )
    fields: dict[str, str] = Field(default_factory=dict, description="canonical key -> name in the file")
    # csv column selection: an int is a 0-based position, a str a header name, a range or a glob
    header: bool | None = Field(None, description="csv files have a header row (default: detect)")
    counts_columns: Columns | None = None
    behaviour_columns: Columns | None = Field(None, description="behaviour dims to keep (csv: columns)")
    label_column: Column | None = None
    trial_column: Column | None = None
    split_column: Column | None = None
    spike_time_column: Column = 0
    spike_unit_column: Column = 1
    behaviour_time_column: Column = 0
    trial_start_column: Column = 0
    trial_end_column: Column = 1
    # MATLAB struct arrays of trials
    trial_structs: list[TrialStruct] | None = None
    counts_field: str = "spikes"
    id_field: str | None = None
    label_field: str | None = None
    label_axis: int | None = Field(None, ge=0, le=64, description="label = 0-based index along this struct-array axis")
    behaviour_field: str | None = None
    # meaning of the arrays
    bin_size_s: float | None = Field(None, ge=MIN_BIN_S, le=MAX_BIN_S, allow_inf_nan=False)
    transpose_counts: bool = Field(False, description="counts are stored the other way round")
    behaviour_kind: Literal["position", "velocity"] = "velocity"
    behaviour_name: Literal["hand", "cursor", "finger"] = "hand"
    label_offset: int = Field(0, ge=-(2**31), le=2**31, description="subtracted from integer labels (1-8 -> 0-7 with 1)")
    spike_placement: Literal["even", "jitter"] = "even"
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of the jittered spike placement")
    trial_gap_s: float = Field(0.1, ge=0, le=MAX_BIN_S, allow_inf_nan=False, description="binned trials: minimum gap between trials")
    trial_align_s: float = Field(0.1, ge=0, le=MAX_BIN_S, allow_inf_nan=False, description="binned trials start on multiples of this (0: off)")
    split_seed: int = Field(42, ge=0, le=MAX_SEED)
    valid_fraction_of_train: float = Field(0.125, ge=0, lt=1)
    recording_id: str | None = None
    subject_id: str = "unknown"
    brainset: str = "imported"
    task_type: Literal["center_out", "random_target", "unknown"] | None = None
    features: dict[str, FeatureSpec] = Field(default_factory=dict, description="name -> feature stream to import")

    @model_validator(mode="before")
    @classmethod
    def _no_pickle_from_files(cls, data):
        """Unpickling runs code from the file: only the person running the import may allow it."""
        if isinstance(data, dict) and "allow_pickle" in data:
            raise ValueError(
                "allow_pickle cannot be set in an import spec or a suite file (unpickling an .npz object array "
                "can run code from the file, and a spec may come from someone else); whoever runs the import "
                "allows it for files they trust: `bench import SPEC --out DIR --allow-pickle`, or "
                "allow_pickle=True to import_file / import_from_spec / load_spec. A suite can then use the "
                "imported folder with the 'hdf5' data source"
            )
        return data

    @field_validator("recording_id")
    @classmethod
    def _plain_recording_id(cls, v: str | None) -> str | None:
        return safe_file_name(v, "recording_id")

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(CANONICAL_KEYS))
        if unknown:
            raise ValueError(f"unknown canonical key(s) {unknown}; known: {', '.join(CANONICAL_KEYS)}")
        return v

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, v: str | None) -> str | None:
        if v is not None and v not in recipe_names():
            raise ValueError(f"unknown recipe '{v}'; known recipes: {', '.join(recipe_names())}")
        return v

    @field_validator("features")
    @classmethod
    def _stream_names(cls, v: dict[str, FeatureSpec]) -> dict[str, FeatureSpec]:
        bad = [name for name in v if not name or "/" in name or name == "spikes"]
        if bad:
            raise ValueError(f"invalid feature stream name(s) {bad}: a name is non-empty, has no '/' and is not 'spikes'")
        return v



def validate_spec(spec: dict | ImportSpec, what: str = "import spec") -> ImportSpec:
    """A validated ImportSpec, or a DataError listing every bad field."""
    if isinstance(spec, ImportSpec):
        return spec
    if not isinstance(spec, dict):
        raise fail(
            f"Invalid {what}: expected a mapping of fields (path, bin_size_s, ...), got {type(spec).__name__}. "
            "See docs/import_schema.md."
        )
    try:
        return ImportSpec(**spec)
    except ValidationError as exc:
        raise fail(validation_message(exc, what)) from None
    except TypeError as exc:
        raise fail(f"Invalid {what}: {exc}.") from None
