"""A load plan as one interactive web page: `write_plan_page(plan, path)` (`LoadPlan.to_html`).

The page is a single self-contained HTML file that opens from disk with no network: plotly.js
(its 3D bundle, vendored in `plotly_gl3d/`) draws the 3D scene, which the reader turns, zooms and
pans with the mouse. Each placed box is one solid (a `mesh3d` trace) coloured by its kind (its
name), with a legend; hovering shows a box's name and copy, clicking lists all it is known by
(position, lengths as placed, orientation, supported fraction, place in the loading order). A
slider and step buttons show the load as it stands after step k, the box of step k outlined; a
page opened as `plan.html#step=k` starts there. The boxes that did not fit are listed under the
scene.

Names are data, never markup: the plan travels as JSON inside a `<script type="application/json">`
block with `<`, `>` and `&` written as escapes, the page writes text with `textContent`, and what
plotly draws (legend, hover labels) is HTML-escaped first, since plotly reads a few tags there.
"""
import html
import json
import os
from pathlib import Path

PLOTLY_BUNDLE = Path(__file__).parent / "plotly_gl3d" / "plotly-gl3d.min.js"


# Qualitative colours for box kinds (plotly's and D3's palettes); kinds beyond them get hues.
KIND_COLOURS = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692",
                "#b6e880", "#ff97ff", "#fecb52", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def kind_colours(num_kinds: int):
  """One CSS colour per kind, in the order the kinds are first loaded."""
  if num_kinds <= len(KIND_COLOURS):
    return list(KIND_COLOURS[:num_kinds])
  # Successive kinds a golden angle apart on the colour wheel: neighbours in the loading order differ.
  return [f"hsl({round(137.508 * kind) % 360}, 70%, 55%)" for kind in range(num_kinds)]


def plan_data(plan) -> dict:
  """What the page's script draws: the container, the placed boxes in loading order, the unplaced."""
  kinds = list(dict.fromkeys(placement.name for placement in plan.placements))
  colours = dict(zip(kinds, kind_colours(len(kinds))))
  boxes = [{"order": p.order, "name": p.name, "copy": p.copy, "corner": [p.x, p.y, p.z],
            "lengths": [p.x_len, p.y_len, p.z_len], "orientation": p.orientation,
            "supported": round(p.supported, 4), "colour": colours[p.name]} for p in plan.placements]
  return {"container": list(plan.container), "boxes": boxes}


def _unplaced_rows(plan) -> str:
  """Table rows of the boxes that did not fit, one row per kind and size."""
  counts = {}
  for placement in plan.unplaced:
    key = (placement.name, placement.x_len, placement.y_len, placement.z_len)
    counts[key] = counts.get(key, 0) + 1
  return "\n".join(f"<tr><td>{html.escape(name)}</td><td>{count}</td><td>{x} &times; {y} &times; {z}</td></tr>"
                   for (name, x, y, z), count in counts.items())


def _json_for_script(value) -> str:
  """JSON that cannot end the `<script>` block holding it, nor open a comment in it."""
  text = json.dumps(value, ensure_ascii=False)
  return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def page_html(plan) -> str:
  """The page's HTML (see the module docstring)."""
  total = len(plan.placements) + len(plan.unplaced)
  heading = f"Load plan: {plan.utilization:.1%} of the container's volume"
  summary = (f"{len(plan.placements)} of {total} boxes placed, packed by {plan.policy}; "
             f"container {' × '.join(map(str, plan.container))} mm (x length, y width, z height)")
  if not plan.placements:
    summary = f"No box was placed: none of the {total} boxes fits. " + summary
  unplaced = ("<p>Every box was placed.</p>" if not plan.unplaced else
              f"<table><thead><tr><th>box</th><th>how many</th><th>lengths (mm)</th></tr></thead>"
              f"<tbody>{_unplaced_rows(plan)}</tbody></table>")
  return PAGE.format(title=html.escape(heading), heading=html.escape(heading),
                     summary=html.escape(summary),
                     num_unplaced=len(plan.unplaced), unplaced=unplaced,
                     plotly=PLOTLY_BUNDLE.read_text(encoding="utf-8"), data=_json_for_script(plan_data(plan)),
                     script=SCRIPT)


def write_plan_page(plan, path) -> Path:
  """Writes `page_html(plan)` to `path` (whole or not at all; its folder made if missing); returns
  the path."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  temporary = path.with_name(path.name + ".tmp")
  temporary.write_text(page_html(plan), encoding="utf-8")
  os.replace(temporary, path)
  return path


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 1em 2em; color: #222; }}
  h1 {{ font-size: 1.4em; margin-bottom: 0.2em; }}
  #scene {{ width: 100%; height: 70vh; min-height: 420px; }}
  #controls {{ display: flex; align-items: center; gap: 0.6em; margin: 0.5em 0; }}
  #step {{ flex: 1; }}
  #box-info {{ min-height: 1.5em; background: #f4f4f4; padding: 0.4em 0.8em; }}
  table {{ border-collapse: collapse; }}
  td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
</style>
</head>
<body>
<h1>{heading}</h1>
<p id="summary">{summary}</p>
<div id="controls">
  <button id="step-back" title="one box back">&#9664;</button>
  <input id="step" type="range" min="0" max="0" value="0" aria-label="loading step">
  <button id="step-forward" title="one box on">&#9654;</button>
  <output id="step-label" for="step"></output>
</div>
<div id="scene"></div>
<p id="box-info">Drag to turn the load, scroll to zoom, right-drag to pan; click a box for its details.</p>
<h2>Not placed ({num_unplaced})</h2>
{unplaced}
<script>{plotly}</script>
<script type="application/json" id="plan-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

# Trace 0 is the container's frame, trace 1 the outlines of the boxes shown, trace 2 the outline of
# the box of the current step, then one mesh3d per kind of box: a few traces draw far faster than
# one a box, so each kind's boxes are the 8 vertices and 12 triangles each of one mesh, and a step
# hides a box by leaving its triangles out.
SCRIPT = r"""
"use strict";
const plan = JSON.parse(document.getElementById("plan-data").textContent);
const boxes = plan.boxes;
const FIRST_KIND_TRACE = 3;
const CUBE_TRIANGLES = {i: [7, 0, 0, 0, 4, 4, 6, 6, 4, 0, 3, 2], j: [3, 4, 1, 2, 5, 6, 5, 2, 0, 1, 6, 3],
                        k: [0, 7, 2, 3, 6, 7, 1, 1, 5, 5, 7, 6]};
// What plotly reads as markup in its text; it knows these three entities (not &quot;).
const escapeHtml = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const millimetres = (values) => values.join(" \u00d7 ") + " mm";
const farCorner = (box) => box.corner.map((c, axis) => c + box.lengths[axis]);

function edges(shown) {
  const xs = [], ys = [], zs = [];
  const segment = (a, b) => { xs.push(a[0], b[0], null); ys.push(a[1], b[1], null); zs.push(a[2], b[2], null); };
  for (const box of shown) {
    const [x0, y0, z0] = box.corner, [x1, y1, z1] = farCorner(box);
    for (const z of [z0, z1]) {
      segment([x0, y0, z], [x1, y0, z]); segment([x1, y0, z], [x1, y1, z]);
      segment([x1, y1, z], [x0, y1, z]); segment([x0, y1, z], [x0, y0, z]);
    }
    for (const [x, y] of [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) segment([x, y, z0], [x, y, z1]);
  }
  return {x: xs, y: ys, z: zs};
}

// The boxes of each kind, in loading order; a kind's mesh holds its boxes' vertices in that order.
const kinds = new Map();
for (const box of boxes) {
  if (!kinds.has(box.name)) kinds.set(box.name, []);
  kinds.get(box.name).push(box);
}
const kindBoxes = [...kinds.values()];

function kindMesh(members) {
  const mesh = {x: [], y: [], z: [], text: []};
  for (const box of members) {
    const [x0, y0, z0] = box.corner, [x1, y1, z1] = farCorner(box);
    mesh.x.push(x0, x0, x1, x1, x0, x0, x1, x1);
    mesh.y.push(y0, y1, y1, y0, y0, y1, y1, y0);
    mesh.z.push(z0, z0, z0, z0, z1, z1, z1, z1);
    const hover = `<b>${escapeHtml(box.name)}</b> #${box.copy}<br>step ${box.order} of ${boxes.length}` +
      `<br>at (${box.corner.join(", ")}) mm<br>${millimetres(box.lengths)} as placed`;
    for (let vertex = 0; vertex < 8; vertex++) mesh.text.push(hover);
  }
  return {type: "mesh3d", name: escapeHtml(members[0].name), showlegend: true, color: members[0].colour,
          opacity: 1, flatshading: true, hovertemplate: "%{text}<extra></extra>", ...mesh};
}

// The triangles of the boxes of `members` loaded by `step`.
function triangles(members, step) {
  const shown = {i: [], j: [], k: []};
  members.forEach((box, index) => {
    if (box.order > step) return;
    for (const corner of ["i", "j", "k"]) shown[corner].push(...CUBE_TRIANGLES[corner].map((v) => v + 8 * index));
  });
  return shown;
}

function stepTraces(step) {
  const current = boxes[step - 1];
  const outline = edges(boxes.slice(0, step)), highlight = edges(current ? [current] : []);
  const shown = kindBoxes.map((members) => triangles(members, step));
  return {x: [outline.x, highlight.x], y: [outline.y, highlight.y], z: [outline.z, highlight.z],
          i: shown.map((t) => t.i), j: shown.map((t) => t.j), k: shown.map((t) => t.k)};
}

const [length, width, height] = plan.container;
const frame = edges([{corner: [0, 0, 0], lengths: plan.container}]);
const requested = /^#step=(\d+)$/.exec(window.location.hash);
let step = Math.min(boxes.length, requested ? Number(requested[1]) : boxes.length);
const first = stepTraces(step);
const lines = (colour, width, points) => ({type: "scatter3d", mode: "lines", showlegend: false,
                                           hoverinfo: "skip", line: {color: colour, width: width}, ...points});
const traces = [
  lines("#444", 3, frame),
  lines("#222", 1.5, {x: first.x[0], y: first.y[0], z: first.z[0]}),
  lines("#000", 7, {x: first.x[1], y: first.y[1], z: first.z[1]}),
  ...kindBoxes.map((members, kind) => ({...kindMesh(members), i: first.i[kind], j: first.j[kind], k: first.k[kind]})),
];
const longest = Math.max(length, width, height);
const layout = {
  margin: {l: 0, r: 0, t: 0, b: 0}, legend: {title: {text: "box kinds"}, itemsizing: "constant"},
  scene: {
    aspectmode: "manual", aspectratio: {x: length / longest, y: width / longest, z: height / longest},
    xaxis: {title: {text: "x: length (mm)"}, range: [0, length]},
    yaxis: {title: {text: "y: width (mm)"}, range: [0, width]},
    zaxis: {title: {text: "z: height (mm)"}, range: [0, height]},
    camera: {eye: {x: -1.1, y: -1.3, z: 0.9}},
  },
};

const scene = document.getElementById("scene");
const slider = document.getElementById("step");
const label = document.getElementById("step-label");
const info = document.getElementById("box-info");
slider.max = boxes.length;

function showLabel() {
  slider.value = step;
  const current = boxes[step - 1];
  label.textContent = step === 0 ? `step 0 of ${boxes.length}: the empty container`
    : `step ${step} of ${boxes.length}: ${current.name} #${current.copy}`;
}

function showStep(wanted) {
  step = Math.max(0, Math.min(boxes.length, wanted));
  showLabel();
  const traces = stepTraces(step);
  Plotly.restyle(scene, {x: traces.x, y: traces.y, z: traces.z}, [1, 2]);
  if (kindBoxes.length) {
    Plotly.restyle(scene, {i: traces.i, j: traces.j, k: traces.k},
                   kindBoxes.map((_, kind) => FIRST_KIND_TRACE + kind));
  }
}

function describe(box) {
  info.textContent = `${box.name} #${box.copy}: step ${box.order} of ${boxes.length}; corner at ` +
    `x ${box.corner[0]}, y ${box.corner[1]}, z ${box.corner[2]} mm; ${millimetres(box.lengths)} as placed ` +
    `(orientation ${box.orientation}); ${(100 * box.supported).toFixed(1)}% of its base supported`;
}

showLabel();
Plotly.newPlot(scene, traces, layout, {responsive: true, displaylogo: false}).then(() => {
  scene.on("plotly_click", (event) => {
    const point = event.points[0];
    if (point && point.curveNumber >= FIRST_KIND_TRACE) {
      describe(kindBoxes[point.curveNumber - FIRST_KIND_TRACE][Math.floor(point.pointNumber / 8)]);
    }
  });
  slider.addEventListener("input", () => showStep(Number(slider.value)));
  document.getElementById("step-back").addEventListener("click", () => showStep(step - 1));
  document.getElementById("step-forward").addEventListener("click", () => showStep(step + 1));
  document.body.dataset.ready = "true";
});
"""
