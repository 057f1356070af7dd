"""What the OpenAPI document says beyond flask-smorest's reading of the schemas: the rules across a schema's fields.

marshmallow checks such rules in `@validates_schema` methods (exactly one of RequestId and IdempotencyKey, Task
with Queue, ...), which apispec cannot read. Each schema that has one states it beside the method, as JSON Schema
in a `DOCUMENT_RULES` class attribute, and this plugin adds it to the schema's component. What no document can
state (the provider's catalog, the operator's settings, a cursor's seal) is listed in `schemas.api.BEYOND_THE_DOCUMENT`.
"""

from __future__ import annotations

from apispec import BasePlugin
from marshmallow import Schema


class DocumentRulesPlugin(BasePlugin):
    """Adds a schema's DOCUMENT_RULES to its component in the OpenAPI document."""

    def schema_helper(self, name: str, definition: dict, **kwargs: object) -> dict | None:
        schema = kwargs.get("schema")
        schema_class = schema if isinstance(schema, type) else type(schema)
        if not isinstance(schema_class, type) or not issubclass(schema_class, Schema):
            return None
        rules = getattr(schema_class, "DOCUMENT_RULES", None)
        return dict(rules) if rules else None
