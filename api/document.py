"""What the OpenAPI document says beyond flask-smorest's reading of the schemas: the rules across a schema's fields.

marshmallow checks such rules in `@validates_schema` methods (exactly one of RequestId and IdempotencyKey, Task
with Queue, ...), which apispec cannot read. A schema that has one states it beside the method as the shapes it
takes (`DOCUMENT_VARIANTS`: each variant requires some of its fields and leaves others out, the schema being
`oneOf` or `anyOf` them). The document then holds one component per variant, `OrderRequestByRequestId`, ..., and
the schema's own component is their `oneOf`/`anyOf`: plain objects that a client generator makes into types, where
a bare `oneOf` of `required` lists would leave it with none. What no document can state (the provider's catalog,
the operator's settings, a cursor's seal) is listed in `schemas.api.BEYOND_THE_DOCUMENT`.
"""

from __future__ import annotations

import copy

from apispec import APISpec, BasePlugin
from marshmallow import Schema

REF = "#/components/schemas/"


class DocumentVariantsPlugin(BasePlugin):
    """Notes the components of schemas with DOCUMENT_VARIANTS; `write_variants` then writes them as variants."""

    def __init__(self) -> None:
        super().__init__()
        self._variants: dict[str, dict] = {}

    def schema_helper(self, name: str, definition: dict, **kwargs: object) -> None:
        schema = kwargs.get("schema")
        schema_class = schema if isinstance(schema, type) else type(schema)
        if isinstance(schema_class, type) and issubclass(schema_class, Schema):
            variants = getattr(schema_class, "DOCUMENT_VARIANTS", None)
            if variants:
                self._variants[name] = variants

    def write_variants(self, spec: APISpec) -> None:
        """Replace each noted component by the `oneOf`/`anyOf` of its variants (call once every schema is in)."""
        components = spec.components.schemas
        for name, variants in self._variants.items():
            whole = components[name]
            for suffix, variant in variants["variants"].items():
                spec.components.schema(f"{name}{suffix}", component=_variant(whole, **variant))
            refs = [{"$ref": f"{REF}{name}{suffix}"} for suffix in variants["variants"]]
            combined = {variants["combine"]: refs}
            if "description" in whole:
                combined["description"] = whole["description"]
            components[name] = combined


def _variant(whole: dict, *, required: list[str], without: tuple[str, ...] = ()) -> dict:
    """`whole` with `required` fields required and the fields `without` left out (no others may be added)."""
    variant = copy.deepcopy(whole)
    variant["properties"] = {key: value for key, value in whole["properties"].items() if key not in without}
    variant["required"] = sorted({*whole.get("required", ()), *required} - set(without))
    variant["additionalProperties"] = False
    return variant
