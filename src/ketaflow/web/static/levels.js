// Draw the predicted plasma (Cp) and effect-site (Ce) ketamine levels for an infusion,
// refreshed every 30 seconds from the JSON API. Plain canvas, no libraries.
(function () {
  const canvas = document.getElementById("levels");
  if (!canvas) return;
  const summary = document.getElementById("levels-summary");
  const ctx = canvas.getContext("2d");

  function draw(data) {
    const W = canvas.width, H = canvas.height, L = 50, R = 10, T = 10, B = 30;
    ctx.clearRect(0, 0, W, H);
    const tMax = data.t_min[data.t_min.length - 1];
    const yMax = Math.max(50, ...data.cp_ng_per_ml, ...data.ce_ng_per_ml) * 1.1;
    const x = (t) => L + (t / tMax) * (W - L - R);
    const y = (c) => H - B - (c / yMax) * (H - T - B);
    ctx.strokeStyle = "#d9e0e6"; ctx.fillStyle = "#5b6b7a"; ctx.font = "12px system-ui";
    for (let c = 0; c <= yMax; c += 50) { ctx.beginPath(); ctx.moveTo(L, y(c)); ctx.lineTo(W - R, y(c)); ctx.stroke(); ctx.fillText(c, 8, y(c) + 4); }
    for (let t = 0; t <= tMax; t += 30) { ctx.fillText(t + " min", x(t) - 12, H - 10); }
    ctx.setLineDash([4, 4]); ctx.strokeStyle = "#a4262c";
    ctx.beginPath(); ctx.moveTo(L, y(data.clear_level_ng_per_ml)); ctx.lineTo(W - R, y(data.clear_level_ng_per_ml)); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(x(data.now_min), T); ctx.lineTo(x(data.now_min), H - B); ctx.strokeStyle = "#1d2733"; ctx.stroke();
    ctx.setLineDash([]);
    [["cp_ng_per_ml", "#2a6f97"], ["ce_ng_per_ml", "#c4661f"]].forEach(([key, colour]) => {
      ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.beginPath();
      data.t_min.forEach((t, i) => { const px = x(t), py = y(data[key][i]); i ? ctx.lineTo(px, py) : ctx.moveTo(px, py); });
      ctx.stroke();
    });
    ctx.lineWidth = 1;
    const clear = data.minutes_until_clear === null ? "already below" : "in about " + Math.round(data.minutes_until_clear) + " min";
    summary.textContent = "Now: plasma " + data.cp_now_ng_per_ml + " ng/mL, effect site " + data.ce_now_ng_per_ml +
      " ng/mL; " + data.given_mg + " mg given. Predicted below " + data.clear_level_ng_per_ml + " ng/mL " + clear +
      ". Blue: plasma, orange: effect site (" + data.model + " model; predicted, not measured).";
  }

  function load() {
    fetch(canvas.dataset.url, { credentials: "same-origin" })
      .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
      .then(({ ok, body }) => { if (ok) draw(body); else summary.textContent = body.error; })
      .catch(() => { summary.textContent = "Could not load the predicted levels; they will retry in 30 seconds."; });
  }
  load();
  setInterval(load, 30000);
})();
