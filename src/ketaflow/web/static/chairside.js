// The nurse in the chair: classify vitals as they are typed (before charting), submit a comfort
// toggle as soon as it changes, and show the drug fields only for a drug intervention.
// Plain JS, no libraries; every form still works without it.
(function () {
  // ---- vitals as they are typed ---------------------------------------------------------------
  const form = document.getElementById("vitals-form");
  const out = document.getElementById("vitals-check");
  if (form && out) {
    const BP = /^\s*\d{2,3}\s*\/\s*\d{2,3}\s*$/;
    let timer = null;
    let asked = 0;
    const field = (name) => form.elements[name].value.trim();

    function show(body, ok) {
      out.textContent = "";
      if (!ok) { out.className = "vitals-check error"; out.textContent = body.error; return; }
      out.className = "vitals-check";
      const level = document.createElement("span");
      level.className = "level level-" + body.level;
      level.textContent = body.level;
      out.append("Before charting: ", level);
      body.alerts.forEach((a) => { out.append(document.createElement("br"), a.message); });
      if (body.level !== "normal") body.actions.forEach((a) => { out.append(document.createElement("br"), a); });
    }

    function check() {
      const bp = field("bp");
      const params = new URLSearchParams();
      if (bp) { if (!BP.test(bp)) { out.textContent = ""; return; } params.set("bp", bp); }
      ["heart_rate", "spo2", "respiratory_rate", "sedation"].forEach((name) => { if (field(name)) params.set(name, field(name)); });
      if ([...params.keys()].length === 0) { out.textContent = ""; return; }
      const mine = ++asked;
      fetch(out.dataset.url + "?" + params.toString(), { credentials: "same-origin" })
        .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
        .then(({ ok, body }) => { if (mine === asked) show(body, ok); })
        .catch(() => { if (mine === asked) out.textContent = "Could not check these values now; they are checked again when charted."; });
    }
    form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 400); });
  }

  // ---- comfort toggles submit on change ---------------------------------------------------------
  document.querySelectorAll("form[data-autosubmit]").forEach((f) => {
    f.querySelectorAll(".js-hide").forEach((b) => { b.hidden = true; });
    f.addEventListener("change", () => f.requestSubmit ? f.requestSubmit() : f.submit());
  });

  // ---- drug fields only for a drug intervention ---------------------------------------------------
  document.querySelectorAll("form[data-intervention]").forEach((f) => {
    const kind = f.elements["kind"];
    const sync = () => f.querySelectorAll("[data-drug]").forEach((el) => { el.hidden = kind.value !== "drug"; });
    kind.addEventListener("change", sync);
    sync();
  });
})();
