"""The canonical Socket.IO protocol (namespace `/`); the contract is docs/asyncapi (served at /api/asyncapi.json)."""
