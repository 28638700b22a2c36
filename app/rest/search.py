"""REST: full-text search over the messages of my rooms."""

from __future__ import annotations

from app.chat.errors import Code
from app.rest.api import Call, Route, v1
from app.rest.schemas import SearchQuerySchema
from app.schemas.payloads import SearchResultsSchema


async def search_messages(call: Call) -> dict:
    data = call.data
    results = await call.chat.search.search(
        call.user, data["q"], room_id=data.get("room_id"), cursor=data.get("cursor"), limit=data["limit"]
    )
    return results.record()


ROUTES = [
    Route("GET", v1("/search"), search_messages,
          "Search the persisted messages of my rooms (or of one room): every word must match, best first", "search",
          query=SearchQuerySchema, response=SearchResultsSchema,
          errors=(Code.SEARCH_QUERY_INVALID, Code.SEARCH_TOO_BROAD, Code.INVALID_PAYLOAD, Code.ROOM_NOT_FOUND,
                  Code.NOT_MEMBER)),
]  # fmt: skip
