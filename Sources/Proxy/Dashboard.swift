/// The built-in dashboard on the admin port (`GET /dashboard`): plain HTML and a small script that
/// reads `/stats` every 5 seconds and draws, per flag, a segment × variant table with the window's
/// figures and each promotion gate's verdict (green pass, red fail, grey inconclusive). No build
/// step, no external assets: it works on an air-gapped pod through `kubectl port-forward`.
enum Dashboard {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>ModelFlag</title>
        <style>
          body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
          h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
          table { border-collapse: collapse; margin-bottom: 1em; }
          th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; vertical-align: top; }
          th { background: #f4f4f4; } td.segment { text-align: left; font-weight: 600; }
          .verdict { display: inline-block; padding: 1px 6px; border-radius: 3px; margin: 1px; font-size: 12px; }
          .pass { background: #2e7d32; color: #fff; } .fail { background: #c62828; color: #fff; }
          .inconclusive { background: #9e9e9e; color: #fff; }
          #status { color: #666; }
        </style>
        </head>
        <body>
        <h1>ModelFlag</h1>
        <p id="status">loading /stats …</p>
        <div id="flags"></div>
        <script>
        function fmt(v, digits) { return v === null || v === undefined ? "–" : Number(v).toFixed(digits); }
        // Names come from the rules file and labels carry < and >: never markup.
        function esc(t) {
          return String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
        }
        function cell(row) {
          if (!row) return "<td>–</td>";
          let s = row.requests + " req, " + fmt(100 * (row.error_rate || 0), 1) + " % err";
          if (row.latency_ms) s += "<br>p99 " + fmt(row.latency_ms.p99, 1) + " ms";
          if (row.scores) s += "<br>ROUGE-L " + fmt(row.scores.rouge_l_mean, 2) + " (p5 " + fmt(row.scores.rouge_l_p5, 2) + ")";
          if (row.fallback_rate !== undefined) s += "<br>fallback " + fmt(100 * row.fallback_rate, 1) + " %";
          for (const [name, e] of Object.entries(row.evaluator || {}))
            s += "<br>" + esc(name) + " " + fmt(e.mean, 2) + " (p5 " + fmt(e.p5, 2) + ", n " + e.n + ")";
          for (const g of row.gates || []) {
            const v = g.verdict.toLowerCase();
            const need = g.vsBaseline !== undefined ? "vs noise floor ± " + g.vsBaseline
              : g.vsStable !== undefined ? "≤ stable + " + g.vsStable
              : g.max !== undefined ? "≤ " + g.max : "≥ " + g.min;
            s += '<br><span class="verdict ' + esc(v) + '" title="' + esc(g.metric) + " " + fmt(g.value, 3) + " [" + fmt(g.low, 3) + ", " +
              fmt(g.high, 3) + "] needs " + esc(need) + ", n " + g.n + '">' + esc(g.metric) + " " + esc(g.verdict) + "</span>";
          }
          return "<td>" + s + "</td>";
        }
        function render(stats) {
          const flags = {};
          for (const r of stats.rows) {
            const f = flags[r.flag] = flags[r.flag] || { columns: new Set(), segments: new Set(), rows: {} };
            const col = r.variant + " · " + r.role;
            f.columns.add(col); f.segments.add(r.segment);
            f.rows[r.segment + "|" + col] = r;
          }
          let html = "";
          for (const [name, f] of Object.entries(flags)) {
            const cols = [...f.columns].sort();
            const segs = [...f.segments].sort((a, b) => a === "*" ? -1 : b === "*" ? 1 : a.localeCompare(b));
            html += "<h2>flag " + esc(name) + "</h2><table><tr><th>segment</th>" + cols.map(c => "<th>" + esc(c) + "</th>").join("") + "</tr>";
            for (const s of segs) {
              html += '<tr><td class="segment">' + (s === "*" ? "* (all)" : esc(s)) + "</td>" + cols.map(c => cell(f.rows[s + "|" + c])).join("") + "</tr>";
            }
            html += "</table>";
          }
          document.getElementById("flags").innerHTML = html || "<p>No flagged traffic in the window yet.</p>";
          document.getElementById("status").textContent =
            "window " + stats.window_seconds / 60 + " min, α " + stats.alpha + " · updated " + new Date().toLocaleTimeString();
        }
        async function refresh() {
          try {
            const res = await fetch("/stats");
            render(await res.json());
          } catch (e) {
            document.getElementById("status").textContent = "cannot read /stats: " + e;
          }
        }
        refresh();
        setInterval(refresh, 5000);
        </script>
        </body>
        </html>

        """#
}
