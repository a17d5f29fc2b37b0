// A siren on the open page: a tone rising and falling, made with the Web Audio API (no
// sound file to fetch). Browsers let a page sound only after a click, so it is a button
// that the person turns on; the choice is kept in this browser.

const KEY = "tryvoha.siren";
let context = null;

export const sirenOn = () => {
  try {
    return localStorage.getItem(KEY) === "on";
  } catch {
    return false;
  }
};

export function setSiren(on) {
  try {
    if (on) localStorage.setItem(KEY, "on");
    else localStorage.removeItem(KEY);
  } catch {
    /* private mode */
  }
}

// Called from the click that turns it on: the audio context may start only then.
export function unlockSiren() {
  context ||= new AudioContext();
  return context.resume();
}

// `seconds` of a wailing tone; resolves when it has been scheduled.
export function playSiren(seconds = 6) {
  context ||= new AudioContext();
  const now = context.currentTime;
  const osc = context.createOscillator();
  const gain = context.createGain();
  osc.type = "sawtooth";
  for (let t = 0; t < seconds; t += 2) {
    osc.frequency.setValueAtTime(440, now + t);
    osc.frequency.linearRampToValueAtTime(880, now + t + 1);
    osc.frequency.linearRampToValueAtTime(440, now + t + 2);
  }
  gain.gain.setValueAtTime(0.0001, now);
  gain.gain.exponentialRampToValueAtTime(0.2, now + 0.2);
  gain.gain.setValueAtTime(0.2, now + seconds - 0.3);
  gain.gain.exponentialRampToValueAtTime(0.0001, now + seconds);
  osc.connect(gain).connect(context.destination);
  osc.start(now);
  osc.stop(now + seconds);
  window.dispatchEvent(new CustomEvent("tryvoha:siren", { detail: { seconds } }));
}
