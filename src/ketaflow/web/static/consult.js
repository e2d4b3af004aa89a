// Live preview of the consultation screening as the psychiatrist types (saves nothing).
(function () {
  const form = document.querySelector("form.consult");
  if (!form) return;
  const out = document.getElementById("screen-preview");
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const lines = (name) => form.elements[name].value.split("\n").map((s) => s.trim()).filter(Boolean);
  let timer = null;
  async function preview() {
    const drinks = form.elements.drinks_per_week.value.trim();
    const body = {
      medications: lines("medications"),
      conditions: lines("conditions"),
      drinks_per_week: drinks === "" ? null : Number(drinks),
      alcohol_on_infusion_day: form.elements.alcohol_on_infusion_day.checked,
      bp: form.elements.bp.value.trim(),
      pregnancy_status: form.elements.pregnancy_status.value,
      route: form.elements.route.value,
    };
    try {
      const r = await fetch(form.dataset.screenUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf },
        body: JSON.stringify(body),
      });
      const data = await r.json();
      if (!r.ok) { out.innerHTML = `<p class="error">${esc(data.error || "")}</p>`; return; }
      const rows = data.findings.map((f) =>
        `<tr><td><span class="screen-level level-${esc(f.level)}">${esc(f.level.replace(/_/g, " "))}</span></td>` +
        `<td>${esc(f.item)}</td><td>${esc(f.matched)}</td><td>${esc(f.reason)}</td><td>${esc(f.advice)}</td><td><small>${esc(f.source)}</small></td></tr>`).join("");
      out.innerHTML = `<h3>Screening preview: <span class="screen-level level-${esc(data.level)}">${esc(data.level.replace(/_/g, " "))}</span></h3>` +
        (rows ? `<table class="grid findings"><thead><tr><th>Level</th><th>What was written</th><th>Matched</th><th>Why</th><th>What to do</th><th>Source</th></tr></thead><tbody>${rows}</tbody></table>` : "<p class=\"muted\">No findings.</p>");
    } catch (e) { out.textContent = ""; }
  }
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 400); });
  preview();
})();
