// Short alert sounds made with Web Audio (no files to load): one AudioContext per page.

let audio = null;

function context() {
  audio = audio || new AudioContext();
  return audio;
}

/** One short beep: a new chat or a message in the background. */
export function beep() {
  try {
    const ctx = context();
    const oscillator = ctx.createOscillator();
    const gain = ctx.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
    oscillator.connect(gain).connect(ctx.destination);
    oscillator.start();
    oscillator.stop(ctx.currentTime + 0.4);
  } catch {
    // no audio device: the title and the notification still tell
  }
}

/** A few notes 0.16 s apart (a transfer offered, a transfer accepted). */
export function chime(notes) {
  try {
    const ctx = context();
    notes.forEach((frequency, index) => {
      const start = ctx.currentTime + index * 0.16;
      const oscillator = ctx.createOscillator();
      const gain = ctx.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.18, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.15);
      oscillator.connect(gain).connect(ctx.destination);
      oscillator.start(start);
      oscillator.stop(start + 0.16);
    });
  } catch {
    // no audio device: the prompt and the notification still tell
  }
}
