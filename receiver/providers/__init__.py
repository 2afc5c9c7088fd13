"""Provider adapters: each gateway's HTTP contract, mapped onto ``TaskSnapshot``.

Adapters know HTTP and their provider's JSON, nothing of storage.
"""
