"""REST: aiohttp handlers over the core, request schemas, and the OpenAPI document.

Routes are declared once (`Route`), and both the router and the OpenAPI
document are built from the declarations. May import: `app.chat`,
`app.auth`, `app.schemas`, aiohttp, marshmallow, apispec. Never storage,
Redis or RQ.
"""
