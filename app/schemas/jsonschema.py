"""Marshmallow schemas to JSON Schema, for the OpenAPI and AsyncAPI documents."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from app.chat.rules import MAX_ID_LENGTH
from app.schemas.fields import MAX_SEQUENCE, Identifier, Sequence

OPENAPI_VERSION = "3.1.0"


def _ranges(self, field, **kwargs) -> dict:
    """What the custom fields enforce, stated in the documents."""
    if isinstance(field, Identifier):
        return {"type": ["string", "integer"], "minLength": 1, "maxLength": MAX_ID_LENGTH}
    if isinstance(field, Sequence):
        return {"minimum": 0, "maximum": MAX_SEQUENCE}
    return {}


def new_spec(title: str, version: str, description: str) -> tuple[APISpec, MarshmallowPlugin]:
    """An OpenAPI 3.1 spec with the marshmallow plugin, knowing this project's custom fields."""
    plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    spec = APISpec(
        title=title,
        version=version,
        openapi_version=OPENAPI_VERSION,
        info={"description": description},
        plugins=[plugin],
    )
    plugin.converter.add_attribute_function(_ranges)
    return spec, plugin


def schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[: -len("Schema")] if name.endswith("Schema") and name != "Schema" else name


def to_json_schema(plugin: MarshmallowPlugin, schema: type[Schema] | Schema) -> dict:
    """The schema as JSON Schema, nested schemas referenced under `#/components/schemas/`."""
    return plugin.converter.schema2jsonschema(schema)
