"""The one error every store raises when its server does not answer."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """A store's server did not answer; the request gets a 503 naming the store."""

    def __init__(self, store: str, reason: str = "", kind: str = "session"):
        super().__init__(f"the {store} {kind} store is not answering" + (f" ({reason})" if reason else ""))
        self.store = store
        self.reason = reason
        self.kind = kind
