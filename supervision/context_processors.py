"""`is_supervisor` for the top bar's Supervisor link; lazy, so pages that never ask pay nothing."""

from django.utils.functional import SimpleLazyObject

from .permissions import is_supervisor


def supervision(request):
    return {"is_supervisor": SimpleLazyObject(lambda: is_supervisor(request.user))}
