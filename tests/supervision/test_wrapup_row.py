"""The wallboard's operator rows say when an operator is wrapping a contact up."""

import pytest

from helpdesk.models import Availability
from supervision import frames
from tests.factories import OperatorFactory

pytestmark = pytest.mark.django_db


def test_operator_row_marks_the_media_an_operator_wraps_up_on():
    operator = OperatorFactory(available=["chat", "voice"])
    Availability.objects.filter(operator=operator, media="chat").update(wrap_ups=1)
    row = frames.operator_row(operator, list(operator.availabilities.all()))
    assert {media["media"]: media["wrap_up"] for media in row["media"]} == {
        "chat": True,
        "video": False,
        "voice": False,
    }
