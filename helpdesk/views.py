from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from .realtime import end_operator_sessions
from .services.presence import set_offline_everywhere


@login_required
def home(request):
    """Operators land on their console, managers on the admin."""
    if hasattr(request.user, "operator"):
        return redirect("console")
    return redirect("admin:index")


@require_POST
def logout_view(request):
    """Logging out takes the operator offline everywhere, which withdraws offers to them."""
    operator = getattr(request.user, "operator", None)
    if operator is not None:
        set_offline_everywhere(operator=operator, reason="logged_out")
        end_operator_sessions(operator.pk)
    logout(request)
    return redirect("login")
