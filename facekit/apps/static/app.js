// The page: send a photo to /analyze, draw its faces' boxes and labels over it (SVG in the photo's own pixels),
// show a face's probabilities on hover or tap. No build step, no library.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const status = $("status"), result = $("result"), photo = $("photo"), overlay = $("overlay"), details = $("details");
let photoUrl = null;

function say(text, state) {  // state: busy, done, error (tests wait on data-state)
  status.textContent = text;
  status.dataset.state = state;
  status.classList.toggle("error", state === "error");
}

function label(face) {  // as facekit.vision.drawing.face_label: "F 32 Asian"
  return `${face.gender[0].toUpperCase()} ${Math.round(face.age)} ${face.race}`;
}

function svg(tag, attributes, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  parent.appendChild(node);
  return node;
}

function table(title, probabilities) {
  const rows = Object.entries(probabilities).map(([name, p]) =>
    `<tr><td>${name}</td><td class="bar"><span style="width:${Math.round(p * 100)}%"></span></td>` +
    `<td>${(p * 100).toFixed(1)} %</td></tr>`).join("");
  return `<table><caption>${title}</caption>${rows}</table>`;
}

function choose(group, face) {
  for (const other of overlay.querySelectorAll(".face.chosen")) other.classList.remove("chosen");
  group.classList.add("chosen");
  const p = face.probabilities;
  details.innerHTML = `<p><b>${face.gender}, ${face.age.toFixed(1)} &plusmn; ${face.age_std.toFixed(1)} years, ` +
    `${face.race}</b> (detection score ${face.score.toFixed(2)})</p>` +
    table("gender", p.gender) + table("race", p.race) + table("age group", p.age_group);
}

function draw(answer) {
  const { width, height, faces } = answer;
  overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
  overlay.replaceChildren();
  const size = Math.max(12, Math.max(width, height) / 45), line = Math.max(2, size / 6);
  overlay.style.setProperty("--line", line);
  faces.forEach((face, index) => {
    const { x, y, width: w, height: h } = face.box;
    const group = svg("g", { class: `face ${face.gender}`, "data-index": index, tabindex: 0 }, overlay);
    svg("rect", { class: "box", x, y, width: w, height: h }, group);
    const tag = svg("rect", { class: "tag" }, group);
    const text = svg("text", { class: "face-label", "font-size": size }, group);
    text.textContent = label(face);
    const textWidth = text.getComputedTextLength() || size * 0.6 * text.textContent.length;
    const pad = size * 0.25, tagHeight = size * 1.3;
    const tagX = Math.min(Math.max(x, 0), Math.max(width - textWidth - 2 * pad, 0));
    const tagY = y >= tagHeight ? y - tagHeight : y;  // above the box, or inside it at the top edge
    Object.entries({ x: tagX, y: tagY, width: textWidth + 2 * pad, height: tagHeight })
      .forEach(([name, value]) => tag.setAttribute(name, value));
    text.setAttribute("x", tagX + pad);
    text.setAttribute("y", tagY + tagHeight - size * 0.35);
    for (const event of ["mouseenter", "click", "focus"]) group.addEventListener(event, () => choose(group, face));
  });
}

async function analyze(file) {
  if (!file) return;
  say(`Analysing ${file.name} ...`, "busy");
  overlay.replaceChildren();
  details.textContent = "Point at a face for its probabilities.";
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  photo.src = photoUrl;
  const form = new FormData();
  form.append("file", file);
  let answer;
  try {
    const response = await fetch("/analyze", { method: "POST", body: form });
    answer = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
    if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
  } catch (error) {
    result.hidden = true;
    say(`${file.name}: ${error.message}`, "error");
    return;
  }
  result.hidden = false;
  draw(answer);
  const n = answer.faces.length;
  say(n ? `${n} face${n === 1 ? "" : "s"} found in ${file.name}.` : `No face found in ${file.name}.`, "done");
}

for (const input of [$("file"), $("camera")]) {
  input.addEventListener("change", () => { analyze(input.files[0]); input.value = ""; });
}
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  analyze(event.dataTransfer.files[0]);
});
photo.addEventListener("error", () => {
  if (status.dataset.state !== "error") say("This browser cannot show this photo; its faces are listed only by the API.", status.dataset.state);
});
