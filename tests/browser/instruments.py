"""What a page did that a person hears or sees outside the DOM, recorded by the test itself.

The product code keeps no counters for tests: `ALERTS` is added with `add_init_script` before the
page loads, wraps the browser's AudioContext and Notification, and records every sound played
(the frequencies of its notes) and every notification shown.
"""

ALERTS = """
(() => {
  window.__sounds = [];
  window.__notifications = [];
  const NativeAudioContext = window.AudioContext;
  if (NativeAudioContext) {
    window.AudioContext = class extends NativeAudioContext {
      createOscillator() {
        const oscillator = super.createOscillator();
        const start = oscillator.start.bind(oscillator);
        oscillator.start = (when) => {
          // One sound is the notes started together: a beep is one note, a chime a few 0.16 s apart.
          const offset = when === undefined ? 0 : when - this.currentTime;
          if (offset < 0.01 || !window.__sounds.length) window.__sounds.push([]);
          window.__sounds.at(-1).push(oscillator.frequency.value);
          start(when);
        };
        return oscillator;
      }
    };
  }
  const NativeNotification = window.Notification;
  if (NativeNotification) {
    window.Notification = class extends NativeNotification {
      constructor(title, options = {}) {
        super(title, options);
        window.__notifications.push({ title, body: options.body || "", tag: options.tag || "" });
      }
    };
  }
})();
"""

BEEP = [880]  # a new chat or a message in the background (static/js/core/sound.js)
OFFER_CHIME = [880, 660, 880]  # an incoming transfer


def open_instrumented(new_page, *, user=None, path: str):
    """`new_page`, with ALERTS in place before the page's scripts run."""
    page = new_page(user=user, path=None)
    page.add_init_script(ALERTS)
    page.goto(path)
    return page


def sounds(page, notes: list[int]) -> int:
    """How many times the page played the sound made of `notes`."""
    return page.evaluate("notes => window.__sounds.filter((s) => s.join() === notes.join()).length", notes)


def notifications(page, title: str | None = None) -> int:
    """How many browser notifications the page showed (with that title, if given)."""
    return page.evaluate("title => window.__notifications.filter((n) => !title || n.title === title).length", title)


def wait_for_sounds_above(page, notes: list[int], count: int) -> None:
    page.wait_for_function(
        "([notes, count]) => window.__sounds.filter((s) => s.join() === notes.join()).length > count",
        arg=[notes, count],
    )


def wait_for_notifications_above(page, count: int) -> None:
    page.wait_for_function("count => window.__notifications.length > count", arg=count)
