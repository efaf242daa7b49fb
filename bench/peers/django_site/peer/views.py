"""The two pages the bench loads, the same as authdemo's /bench/baseline and /bench/protected."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


def baseline(request):
    """No session, no database: Django's yardstick (sent without a cookie)."""
    return HttpResponse("ok\n", content_type="text/plain")


@login_required
def protected(request):
    """The smallest protected page: the session is read and the user loaded, nothing is written."""
    return HttpResponse(f"{request.user.username}\n", content_type="text/plain")
