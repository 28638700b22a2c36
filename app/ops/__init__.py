"""Operations: readiness, Prometheus metrics, structured logs and the graceful stop of a web node.

`context` (standard library only) holds the ids that log lines carry; the gateway, the REST
adapter and the worker set them. The other modules are used by `app/web.py` and `app/rest/ops.py`.
"""
