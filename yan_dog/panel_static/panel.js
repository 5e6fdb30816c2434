// The yan-dog teach panel: plain JS, no build step. Talks to yan_dog/panel_server.py:
// POST /api/action and /api/cue, GET /api/robot, and the status / camera socket /ws.
"use strict";
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const DRIVE_PERIOD_MS = 100;    // joystick commands while it is held
const CUE_RECORD_S = 1.5;       // a recorded cue: a word or a whistle
const RECONNECT_MS = 1000;
const LOG_CHARS = 160;          // an answer's message as the log shows it (a reset answers its whole status)
const $ = (id) => document.getElementById(id);
let robot = null;
let lastAnswer = 0;
let status = {};

function url(path) {
  if (!TOKEN) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}

async function act(action, args = {}) {
  const r = await fetch(url("/api/action"), {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({action, ...args}),
  });
  const answer = await r.json().catch(() => ({ok: false, message: r.statusText}));
  if (!answer.ok) logLine(action, false, answer.message);
  return answer;
}

function logLine(action, ok, message) {
  const li = document.createElement("li");
  li.textContent = `${action}: ${String(message).slice(0, LOG_CHARS)}`;
  if (!ok) li.className = "bad";
  $("answers").appendChild(li);
  $("answers").scrollTop = 1e9;
}

// --- status socket ---------------------------------------------------------------------------------------
function connect() {
  const ws = new WebSocket(url(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`));
  ws.binaryType = "blob";
  ws.onopen = () => { $("conn").textContent = "online"; $("conn").className = "ok"; };
  ws.onclose = () => {
    $("conn").textContent = "offline"; $("conn").className = "bad";
    setTimeout(connect, RECONNECT_MS);
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") { showStatus(JSON.parse(ev.data)); return; }
    const img = $("camera"), old = img.src;
    img.src = URL.createObjectURL(ev.data);
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  };
}

function showStatus(s) {
  status = s;
  const teach = s.teach || {}, brain = s.brain || {}, sim = s.sim || {};
  $("st-mode").textContent = teach.mode || brain.mode || "-";
  $("st-skill").textContent = teach.skill || brain.skill || "-";
  $("st-cue").textContent = teach.cue || "-";
  $("st-steps").textContent = teach.learner_steps ?? brain.learner_steps ?? 0;
  $("st-loss").textContent = teach.loss == null ? "-" : teach.loss.toFixed(4);
  $("st-success").textContent = sim.success === undefined ? "-"
    : sim.success ? "success" : sim.fallen ? "fallen" : "not yet";
  $("st-success").dataset.success = sim.success ? "1" : "0";
  $("try").checked = !!teach.trying;
  $("demo-live").textContent = teach.mode === "demonstrating" ? `recording ${teach.demo_s.toFixed(1)} s` : "";
  $("demos").replaceChildren(...(teach.demos || []).map((d) => {
    const li = document.createElement("li");
    li.textContent = `${d.skill}: ${d.seconds.toFixed(1)} s (${d.ticks} ticks) ${d.kept ? "kept" : "discarded"}`;
    if (!d.kept) li.className = "bad";
    return li;
  }));
  showSkills(teach.skills || []);
  for (const a of s.answers || []) {
    if (a.seq > lastAnswer) { lastAnswer = a.seq; logLine(a.action, a.ok, a.message); }
  }
}

function showSkills(skills) {
  const key = JSON.stringify(skills);
  if ($("skills").dataset.key === key) return;  // unchanged: keep the buttons under the finger
  $("skills").dataset.key = key;
  $("skills").replaceChildren(...skills.map((k) => {
    const li = document.createElement("li");
    li.append(`${k.name} (cue ${k.cue || "-"}, ${k.demos ?? "?"} demos${k.in_library ? "" : ", not saved"}) `);
    const button = (text, fn) => { const b = document.createElement("button"); b.textContent = text;
                                   b.onclick = fn; li.append(b, " "); };
    button("pick", () => { act("set_skill", {name: k.name}); if (k.cue) act("set_cue", {cue: k.cue}); });
    button("rename", () => { const n = prompt(`new name for ${k.name}`); if (n) act("rename_skill", {name: k.name, new_name: n}); });
    button("delete", () => { if (confirm(`delete ${k.name}?`)) act("delete_skill", {name: k.name}); });
    button("export", async () => {
      const a = await act("export_skill", {name: k.name});
      if (a.ok) setTimeout(() => { location.href = url(`/api/export/${encodeURIComponent(k.name)}`); }, 1000);
    });
    return li;
  }));
}

// --- driving ---------------------------------------------------------------------------------------------
const KEYS = {w: [1, 0, 0], s: [-1, 0, 0], a: [0, 1, 0], d: [0, -1, 0], q: [0, 0, 1], e: [0, 0, -1], x: [0, 0, 0]};
function drive(unit) {
  const m = robot.max_speed;
  return act("drive", {vx: unit[0] * m.vx, vy: unit[1] * m.vy, wz: unit[2] * m.wz});
}

function setupJoystick() {
  const pad = $("joystick"), knob = $("knob");
  let held = null, timer = null;
  const place = (x, y) => { knob.style.left = `${45 + x * 45}px`; knob.style.top = `${45 + y * 45}px`; };
  const move = (ev) => {
    const r = pad.getBoundingClientRect();
    let x = (ev.clientX - r.left) / r.width * 2 - 1, y = (ev.clientY - r.top) / r.height * 2 - 1;
    const n = Math.hypot(x, y); if (n > 1) { x /= n; y /= n; }
    held = [-y, 0, -x];  // up walks forward, left turns left
    place(x, y);
  };
  pad.onpointerdown = (ev) => {
    pad.setPointerCapture(ev.pointerId); move(ev);
    timer = setInterval(() => held && drive(held), DRIVE_PERIOD_MS);
  };
  pad.onpointermove = (ev) => { if (timer) move(ev); };
  pad.onpointerup = pad.onpointercancel = () => {
    clearInterval(timer); timer = null; held = null; place(0, 0); drive([0, 0, 0]);
  };
  document.querySelectorAll("#keys button").forEach((b) => { b.onclick = () => drive(KEYS[b.dataset.key]); });
  document.addEventListener("keydown", (ev) => {
    if (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
    if (KEYS[ev.key]) drive(KEYS[ev.key]);
    else if (ev.key === " ") drive(KEYS.x);
  });
}

// --- postures and the pose editor ------------------------------------------------------------------------
function setupPostures() {
  for (const name of Object.keys(robot.postures)) {
    const b = document.createElement("button");
    b.textContent = name.replace("_", " "); b.dataset.posture = name;
    b.onclick = () => act("posture", {name});  // the editor keeps its own pose
    $("postures").append(b, " ");
  }
  robot.joint_names.forEach((joint, i) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    Object.assign(input, {type: "range", min: robot.lower[i], max: robot.upper[i], step: 0.01,
                          value: robot.stand[i], id: `j${i}`, className: "joint-slider"});
    const value = document.createElement("span");
    value.textContent = robot.stand[i].toFixed(2);
    input.oninput = () => { value.textContent = Number(input.value).toFixed(2); };
    label.append(joint, input, value);
    $("sliders").append(label);
  });
  $("pose-from-stand").onclick = () => setSliders(robot.stand);
  for (const name of Object.keys(robot.postures)) {  // start the editor from a preset
    const o = document.createElement("option"); o.value = o.textContent = name; $("pose-preset").append(o);
  }
  $("pose-preset").onchange = () => {
    const name = $("pose-preset").value;
    if (name) setSliders(robot.postures[name]);
  };
  $("pose-apply").onclick = () => act("pose", {targets: sliders()});
}
const sliders = () => robot.joint_names.map((_, i) => Number($(`j${i}`).value));
function setSliders(values) {
  values.forEach((v, i) => { const s = $(`j${i}`); s.value = v; s.oninput(); });
}

// --- the cue: pick a sound, or record one with the microphone --------------------------------------------
function setupCues() {
  for (const cue of robot.cues) {
    const o = document.createElement("option"); o.value = o.textContent = cue; $("cue-select").append(o);
  }
  $("cue-set").onclick = () => {
    const word = $("cue-word").value.trim();
    act("set_cue", {cue: word ? (word.startsWith("say:") ? word : `say:${word}`) : $("cue-select").value});
  };
  $("cue-play").onclick = () => act("play_cue");
  $("cue-record").onclick = recordCue;
}

async function recordCue() {
  const name = ($("skill-name").value.trim() || (status.teach || {}).skill || "cue") + "_cue";
  if (!navigator.mediaDevices) { logLine("record cue", false, "no microphone here (the page needs https or localhost)"); return; }
  $("cue-record").classList.add("active");
  $("cue-info").textContent = "recording...";
  try {
    const stream = await navigator.mediaDevices.getUserMedia({audio: true});
    const ctx = new AudioContext();
    const source = ctx.createMediaStreamSource(stream);
    const proc = ctx.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    proc.onaudioprocess = (ev) => chunks.push(new Float32Array(ev.inputBuffer.getChannelData(0)));
    source.connect(proc); proc.connect(ctx.destination);
    await new Promise((done) => setTimeout(done, CUE_RECORD_S * 1000));
    source.disconnect(); proc.disconnect(); stream.getTracks().forEach((t) => t.stop());
    const wav = encodeWav(chunks, ctx.sampleRate);
    await ctx.close();
    const r = await fetch(url(`/api/cue?name=${encodeURIComponent(name)}`), {method: "POST", body: wav,
                                                                             headers: {"Content-Type": "audio/wav"}});
    const answer = await r.json();
    $("cue-info").textContent = answer.ok ? `cue ${name} (${answer.seconds.toFixed(2)} s)` : answer.message;
    if (!answer.ok) logLine("record cue", false, answer.message);
  } catch (err) {
    $("cue-info").textContent = String(err);
    logLine("record cue", false, String(err));
  } finally {
    $("cue-record").classList.remove("active");
  }
}

function encodeWav(chunks, rate) {  // mono 16-bit PCM
  const n = chunks.reduce((k, c) => k + c.length, 0);
  const buf = new ArrayBuffer(44 + 2 * n), v = new DataView(buf);
  const str = (o, s) => [...s].forEach((ch, i) => v.setUint8(o + i, ch.charCodeAt(0)));
  str(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); str(8, "WAVE"); str(12, "fmt ");
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
  v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  str(36, "data"); v.setUint32(40, 2 * n, true);
  let o = 44;
  for (const c of chunks) for (const x of c) { v.setInt16(o, Math.max(-1, Math.min(1, x)) * 32767, true); o += 2; }
  return new Blob([buf], {type: "audio/wav"});
}

// --- teaching buttons ------------------------------------------------------------------------------------
function setupTeach() {
  $("skill-set").onclick = () => act("set_skill", {name: $("skill-name").value.trim()});
  $("demo-start").onclick = () => act("start_demo");
  $("demo-stop").onclick = () => act("stop_demo");
  $("demo-discard").onclick = () => act("discard_demo");
  $("save").onclick = () => act("save_skill");
  $("reset-sim").onclick = () => act("reset_sim");
  $("try").onchange = () => act("set_trying", {on: $("try").checked});
  $("learn").onchange = () => act("set_learning", {on: $("learn").checked});
}

async function main() {
  const r = await fetch(url("/api/robot"));
  robot = await r.json();
  setupJoystick(); setupPostures(); setupCues(); setupTeach();
  connect();
}
main();
