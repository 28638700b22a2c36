"""The development token route of the test page: present (and documented) only in DEV_MODE, absent otherwise."""

from __future__ import annotations

from app.rest import dev


async def test_without_dev_mode_the_token_route_does_not_exist(api_with, user_id):
    api = await api_with(DEV_MODE="0")
    reply = await api.post("/api/v1/dev/token", json={"user_id": user_id("anyone")})
    assert (reply.status, reply.code) == (404, "not_found"), reply
    assert (await api.get("/api/v1/dev/token")).status == 404
    document = (await api.get("/api/v1/openapi.json")).body
    assert not any(path.startswith("/api/v1/dev") for path in document["paths"])
    assert dev.DEV_AUTH not in api.app
    # The page still works: it offers a pasted token instead.
    page = await api.client.get("/")
    assert page.status == 200 and 'data-dev-mode="off"' in await page.text()


async def test_in_dev_mode_it_mints_a_token_that_signs_in_as_anyone(api_with, user_id):
    api = await api_with(DEV_MODE="1")
    someone = user_id("qa")
    reply = await api.post("/api/v1/dev/token", json={"user_id": someone, "name": "Quinn <b>QA</b>"})
    assert reply.status == 201, reply
    assert set(reply.body) == {"token", "user_id", "expires_at"} and reply.body["user_id"] == someone
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {reply.body['token']}"})
    assert (me.status, me.body["id"], me.body["name"]) == (200, someone, "Quinn <b>QA</b>")
    page = await api.client.get("/")
    assert 'data-dev-mode="on"' in await page.text()
    # With a username, for the clients that address people by it (seed 003's sockets).
    named = await api.post("/api/v1/dev/token", json={"user_id": someone, "username": f"{someone}.qa"})
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {named.body['token']}"})
    assert (me.status, me.body["username"]) == (200, f"{someone}.qa")


async def test_in_dev_mode_the_route_is_documented_and_checks_its_input(api_with, user_id):
    api = await api_with(DEV_MODE="1")
    document = (await api.get("/api/v1/openapi.json")).body
    operation = document["paths"]["/api/v1/dev/token"]["post"]
    assert operation["security"] == [] and set(operation["responses"]) >= {"201", "400"}
    assert "DevTokenBody" in document["components"]["schemas"]
    routed = {
        (route.method.lower(), route.resource.canonical)
        for route in api.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/v1/") and route.method != "HEAD"
    }
    assert ("post", "/api/v1/dev/token") in routed
    assert (await api.post("/api/dev/token", json={"user_id": user_id("qa")})).status == 404  # not at the root
    for body, code in (
        ({}, "invalid_payload"),
        ({"user_id": " padded "}, "invalid_payload"),
        ({"user_id": user_id("qa"), "name": "nul\x00"}, "content_invalid"),
        ({"user_id": user_id("qa"), "ttl": 5}, "invalid_payload"),
        ({"user_id": user_id("qa"), "username": "has space"}, "invalid_payload"),
        ({"user_id": user_id("qa"), "role": "admin"}, "invalid_payload"),
    ):
        reply = await api.post("/api/v1/dev/token", json=body)
        assert (reply.status, reply.code) == (400, code), (body, reply)
