"""The ``pool`` data source: the recordings of several sources as one dataset, for pretraining.

A pretraining run trains one model on many sessions across datasets and animals; a suite's run
is one model on one dataset. The pool makes those sessions one dataset: each member is any data
source with its own parameters, optionally restricted to some of its sessions (by index, in the
member's order), so that sessions and whole animals can be held out for fine-tuning:

```yaml
- name: nhp_pool
  source: pool
  params:
    members:
      - {source: simulator, params: {preset: c_co_2010}, sessions: [0, 1, 2, 3]}   # session 4 held out
      - {source: simulator, params: {preset: t_co}}
```

Members are validated with the suite (unknown sources or parameters name ``members[i]``); the
pool's parameters, and so a pretraining run's identity, list every member and selection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bench.errors import BenchError, DataError
from bench.registry import data_sources
from bench.data.sources import DataSource, SourceParams


class PoolMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=100, description="a registered data source (not pool)")
    params: dict[str, Any] = Field(default_factory=dict)
    sessions: list[int] | None = Field(None, min_length=1, max_length=100_000,
                                       description="indices of the member's recordings to take; default all")


class PoolParams(SourceParams):
    members: list[PoolMember] = Field(min_length=1, max_length=1000)

    @field_validator("members")
    @classmethod
    def _members_valid(cls, members: list[PoolMember]) -> list[PoolMember]:
        for i, m in enumerate(members):
            if m.source == "pool":
                raise ValueError(f"members[{i}].source: a pool cannot contain a pool; list its members instead")
            try:
                source_cls = data_sources.get(m.source)
            except BenchError as exc:
                raise ValueError(f"members[{i}].source: {exc}") from None
            try:
                source_cls.Params.model_validate(m.params)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"members[{i}].params.{where}: {first['msg']}") from None
            if m.sessions is not None and any(s < 0 for s in m.sessions):
                raise ValueError(f"members[{i}].sessions: indices start at 0; got {m.sessions[:10]}")
        return members


@data_sources.register("pool")
class PoolSource(DataSource):
    """Several data sources' recordings as one dataset (pretraining across datasets and animals)."""

    Params = PoolParams

    def materialize(self, progress: bool = True) -> list[Path]:
        files: list[Path] = []
        for i, m in enumerate(self.params.members):
            source_cls = data_sources.get(m.source)
            member = source_cls(source_cls.Params.model_validate(m.params), cache_dir=self.cache_dir,
                                base_dir=self.base_dir)
            paths = member.materialize(progress=progress)
            if m.sessions is not None:
                bad = [s for s in m.sessions if s >= len(paths)]
                if bad:
                    raise DataError(f"Data source 'pool', field 'members[{i}].sessions': indices {bad[:10]} are out of "
                                    f"range; member {i} ({m.source}) has {len(paths)} recording(s), indices "
                                    f"0..{len(paths) - 1}.")
                paths = [paths[s] for s in m.sessions]
            files.extend(paths)
        if len(set(files)) != len(files):
            raise DataError("Data source 'pool' lists one recording twice (two members select the same file); "
                            "each session may enter a pool once.")
        return files
