"""What both session interfaces do to the response: the cookie's Secure flag, and the 503 when a save fails."""

from __future__ import annotations

from flask import Flask, Response, request

from ..drivers import StoreUnavailable


class StoreBackedCookies:
    """Cookie policy and outage answers shared by the server-side and the signed-cookie interfaces."""

    @staticmethod
    def vary_on_cookie(response: Response) -> None:
        """Vary: Cookie, so no shared cache serves one visitor's page to another.

        Set directly when the response has no Vary yet: ``response.vary.add``
        parses and rewrites the header through a callback (~6 % of a
        logged-in request in the profile).
        """
        vary = response.headers.get("Vary")
        if vary is None:
            response.headers["Vary"] = "Cookie"
        elif "cookie" not in vary.lower():
            response.vary.add("Cookie")

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when configured (production) and whenever the request came over HTTPS."""
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)

    @staticmethod
    def answer_unavailable(app: Flask, response: Response, error: StoreUnavailable) -> None:
        """Turn the response already built into the app's StoreUnavailable answer: the session could not be saved.

        The answer is whatever the app registered for StoreUnavailable (the
        errors module's 503 page); the view's cookie and redirect are dropped.
        """
        replacement = app.make_response(app.handle_user_exception(error))
        response.status_code = replacement.status_code
        response.set_data(replacement.get_data())
        response.content_type = replacement.content_type
        for header in ("Set-Cookie", "Location"):
            response.headers.pop(header, None)
        for header in ("Retry-After",):
            if header in replacement.headers:
                response.headers[header] = replacement.headers[header]
