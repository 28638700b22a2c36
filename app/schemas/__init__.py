"""Marshmallow schemas of the wire payloads that REST and Socket.IO share.

They validate what clients send (in each transport's own request schemas,
built from the fields here) and describe what the service returns, so
the OpenAPI and AsyncAPI documents are generated from the same source.
May import: `app.chat`, marshmallow, apispec.
"""
