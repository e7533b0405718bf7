"""Call control: every change of state of a call, a leg or a conference.

- acts.py: the acts of the phone console, the caller and the provider, one function each;
- repairs.py: the ring countdown, the clean-up sweep's repairs and the reactions to core signals;
- supervisor_legs.py: a supervisor's leg on a call (listen, coach, barge, leave, take over);
- provider_events.py: provider events applied once, in order, dispatched to an act or a repair;
- steps.py: the locked view of a call (lock order: engagement, call, legs) and the steps the
  acts share; provider_requests.py: what the provider is asked to do once a change commits.

Names starting with `_` in steps.py and provider_requests.py are private to this package: the
rest of the product calls only the functions below (`from telephony import services`).
"""

from .acts import (
    answer_leg,
    cold_transfer,
    conference,
    decline_leg,
    end_conference,
    hang_up,
    hang_up_consult,
    offer_routed_call,
    place_call,
    put_on_hold,
    release_call,
    start_consult,
    take_off_hold,
    validate_phone_number,
)
from .provider_events import apply_provider_event
from .repairs import (
    end_open_legs,
    expire_ringing_leg,
    reconcile_provider_ended,
    requeue_customer_alone_on_hold,
    withdraw_ringing_legs,
)
from .supervisor_legs import leave_supervised_call, supervise_call, take_over_call

__all__ = [
    "answer_leg",
    "apply_provider_event",
    "cold_transfer",
    "conference",
    "decline_leg",
    "end_conference",
    "end_open_legs",
    "expire_ringing_leg",
    "hang_up",
    "hang_up_consult",
    "leave_supervised_call",
    "offer_routed_call",
    "place_call",
    "put_on_hold",
    "reconcile_provider_ended",
    "release_call",
    "requeue_customer_alone_on_hold",
    "start_consult",
    "supervise_call",
    "take_off_hold",
    "take_over_call",
    "validate_phone_number",
    "withdraw_ringing_legs",
]
