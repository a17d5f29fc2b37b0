// The console's two dialogs: a confirmation that repeats what is about to be done, and the
// form that edits an active alert (its answer is the body of PATCH /api/v1/alerts/{id}).

import { el } from "./alerts.js";

const $ = (id) => document.getElementById(id);

export function confirmDialog(title, ok, { what = [], text = "", warn = "" } = {}) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-warn").textContent = warn;
  $("confirm-warn").hidden = !warn;
  $("confirm-what").replaceChildren(...what.flatMap(([term, value]) => [el("dt", "", term), el("dd", "", value)]));
  $("confirm-ok").textContent = ok;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

// The edited level, kinds and message, or null when cancelled.
export function askEdit(alert, title) {
  const dialog = $("edit");
  $("edit-title").textContent = title;
  for (const r of dialog.querySelectorAll('input[name="edit-level"]')) r.checked = r.value === alert.level;
  const kinds = new Set((alert.threats || []).map((k) => k.kind));
  for (const c of dialog.querySelectorAll('input[name="edit-kind"]')) c.checked = kinds.has(c.value);
  $("edit-message-uk").value = alert.message?.uk || "";
  $("edit-message-en").value = alert.message?.en || "";
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) =>
    dialog.addEventListener(
      "close",
      () => {
        if (dialog.returnValue !== "ok") return resolve(null);
        const uk = $("edit-message-uk").value.trim();
        const en = $("edit-message-en").value.trim();
        resolve({
          level: dialog.querySelector('input[name="edit-level"]:checked')?.value || alert.level,
          threats: [...dialog.querySelectorAll('input[name="edit-kind"]:checked')].map((c) => c.value),
          message: uk || en ? { ...(uk ? { uk } : {}), ...(en ? { en } : {}) } : null,
        });
      },
      { once: true },
    ),
  );
}
