"""Reading ``conf/<env>/runtime.yml``, and the shape of its settings that name a catalog dataset per
pipeline (``dead_letter``, ``quality_results``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext


class DatasetPerPipeline(BaseModel):
    """A catalog dataset for every pipeline (``default``), or one of its own (``pipelines``; a
    ``null`` turns it off for that pipeline)."""

    model_config = ConfigDict(extra="forbid")

    default: str | None = None
    pipelines: dict[str, str | None] = Field(default_factory=dict)

    def for_pipeline(self, name: str) -> str | None:
        """The dataset of ``name``, if any."""
        return self.pipelines.get(name, self.default)


def runtime_config(context: KedroContext) -> dict[str, Any]:
    """The project's ``runtime.yml`` (empty when it has none)."""
    try:
        return dict(context.config_loader["runtime"] or {})
    except KeyError:
        return {}
