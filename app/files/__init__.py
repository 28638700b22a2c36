"""File storage adapters: implementations of the core's `BlobStore` port (local disk by default)."""
