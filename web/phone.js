/*
 * phone.js: the Trunkline web phone (issue 14). No framework, nothing
 * fetched from elsewhere: it talks to the controller that served it over
 * the WebSocket at /ws (the protocol in proto/PROTOCOL.md, "Browser
 * signalling"), logs in with a digest challenge (the password never
 * leaves the page), places and hangs up calls, mutes, sends DTMF in the
 * media (RFC 4733 through RTCRtpSender.dtmf) and shows the call state
 * and the received audio level.
 *
 * For automated tests the page takes URL parameters: ?user=&pass=
 * logs in at once, &call=NUMBER dials (after &delay=MS), &hold=MS hangs
 * up after that long, &autoanswer=1 answers an incoming call, and the
 * outcome is printed on the console as one line "RESULT {json}"
 * (headless Chromium copies the console to stderr).
 */
"use strict";

/* ---- MD5 (RFC 1321), for the digest response: WebCrypto has none ---- */
function md5(str) {
	const bytes = new TextEncoder().encode(str);
	const n = (((bytes.length + 8) >>> 6) + 1) * 16;
	const w = new Array(n).fill(0);
	for (let i = 0; i < bytes.length; i++)
		w[i >> 2] |= bytes[i] << ((i % 4) * 8);
	w[bytes.length >> 2] |= 0x80 << ((bytes.length % 4) * 8);
	w[n - 2] = bytes.length * 8;
	const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
	const K = [];
	for (let i = 0; i < 64; i++)
		K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;
	let a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
	for (let off = 0; off < n; off += 16) {
		let a = a0, b = b0, c = c0, d = d0;
		for (let i = 0; i < 64; i++) {
			let f, g;
			if (i < 16) { f = (b & c) | (~b & d); g = i; }
			else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
			else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
			else { f = c ^ (b | ~d); g = (7 * i) % 16; }
			const t = d;
			d = c;
			c = b;
			const x = (a + f + K[i] + w[off + g]) | 0;
			const s = S[(i >> 4) * 4 + (i % 4)];
			b = (b + ((x << s) | (x >>> (32 - s)))) | 0;
			a = t;
		}
		a0 = (a0 + a) | 0; b0 = (b0 + b) | 0; c0 = (c0 + c) | 0; d0 = (d0 + d) | 0;
	}
	let hex = "";
	for (const v of [a0, b0, c0, d0])
		for (let i = 0; i < 4; i++)
			hex += ((v >>> (i * 8)) & 0xff).toString(16).padStart(2, "0");
	return hex;
}

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const auto = params.has("user");
let ws = null, seq = 0, pc = null, callId = null, sender = null, stream = null;
let password = "", callSeq = 0, levelTimer = null, result = { ok: false };
let incoming = null, early = false;	/* "early" applied for this call */

function log(line) {
	$("log").textContent += line + "\n";
	console.log("LOG " + line);
}

function setState(s) {
	$("state").textContent = s;
	log("state: " + s);
}

function send(msg) {
	msg.seq = ++seq;
	ws.send(JSON.stringify(msg));
}

function report() {
	console.log("RESULT " + JSON.stringify(result));
}

function connect() {
	const scheme = location.protocol === "https:" ? "wss:" : "ws:";
	ws = new WebSocket(scheme + "//" + location.host + "/ws");
	ws.onopen = () => { setState("connected"); send({ type: "hello", version: 1 }); };
	ws.onclose = (e) => { setState("disconnected (" + e.code + " " + e.reason + ")"); endCall(); };
	ws.onmessage = (e) => onMessage(JSON.parse(e.data));
}

function login() {
	password = $("pass").value;
	send({ type: "login", username: $("user").value });
}

function onMessage(m) {
	switch (m.type) {
	case "hello":
		if (auto || $("user").value) login();
		break;
	case "challenge": {
		const rnd = new Uint8Array(12);
		crypto.getRandomValues(rnd);
		const cnonce = Array.from(rnd, (b) => b.toString(16).padStart(2, "0")).join("");
		const ha1 = md5(m.username + ":" + m.realm + ":" + password);
		send({ type: "auth", cnonce: cnonce, response: md5(ha1 + ":" + m.nonce + ":" + cnonce) });
		password = "";
		break;
	}
	case "logged_in":
		$("login").hidden = true;
		$("phone").hidden = false;
		$("me").textContent = m.username;
		setState("idle");
		result.logged_in = true;
		if (params.has("call")) {
			$("number").value = params.get("call");
			setTimeout(dial, Number(params.get("delay") || 0));
		}
		break;
	case "incoming":
		if (pc || incoming) break;	/* busy: the server tries elsewhere */
		incoming = m;
		setState("incoming call from " + m.from);
		$("answer").hidden = false;
		$("hangup").disabled = false;
		if (params.has("autoanswer")) answerCall();
		break;
	case "calling":
		setState("calling");
		break;
	case "ringing":
		setState("ringing");
		break;
	case "early":
		/* A 18x with SDP: applied as the answer now (early media); the
		 * relay's leg stays the same, so "answered" only confirms it. */
		if (m.call !== callId || !pc || early) break;
		early = true;
		pc.setRemoteDescription({ type: "answer", sdp: m.sdp })
			.then(() => { setState("early media"); result.early = true; })
			.catch((e) => { log("early answer refused: " + e); hangup(); });
		break;
	case "answered":
		if (m.call !== callId || !pc) break;
		if (early) {
			setState("connected call"); result.answered = true; afterAnswer();
			break;
		}
		pc.setRemoteDescription({ type: "answer", sdp: m.sdp })
			.then(() => { setState("connected call"); result.answered = true; afterAnswer(); })
			.catch((e) => { log("answer refused: " + e); hangup(); });
		break;
	case "ended":
		if (m.call === callId) {
			log("ended: " + m.code + " " + (m.reason || ""));
			result.ended = { code: m.code, reason: m.reason };
			endCall();
		}
		break;
	case "error":
		log("error " + m.code + " (" + (m.in || "") + "): " + m.message);
		result.error = m.code;
		if (m.in === "auth") setState("login refused");
		if (m.in === "call") endCall();
		break;
	default:
		log("message " + m.type);
	}
}

/* Wait for the end of ICE gathering: one offer with every candidate. */
function gathered(p) {
	return new Promise((resolve) => {
		if (p.iceGatheringState === "complete") return resolve();
		const t = setTimeout(resolve, 3000);
		p.addEventListener("icegatheringstatechange", () => {
			if (p.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
		});
	});
}

async function dial() {
	const to = $("number").value.trim();
	if (!to || pc) return;
	try {
		stream = await navigator.mediaDevices.getUserMedia({ audio: true });
	} catch (e) {
		log("no microphone: " + e);
		result.error = "getUserMedia";
		report();
		return;
	}
	pc = new RTCPeerConnection({ iceServers: [] });
	const track = stream.getAudioTracks()[0];
	const tr = pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] });
	sender = tr.sender;
	/* G.711 and telephone-event: what the SIP side has too. */
	const caps = RTCRtpSender.getCapabilities("audio").codecs.filter((c) =>
		c.mimeType === "audio/PCMU" || c.mimeType === "audio/PCMA" ||
		(c.mimeType === "audio/telephone-event" && c.clockRate === 8000));
	if (tr.setCodecPreferences && caps.length) tr.setCodecPreferences(caps);
	pc.ontrack = (e) => { $("remote").srcObject = e.streams[0] || new MediaStream([e.track]); };
	pc.onconnectionstatechange = () => log("pc: " + pc.connectionState);
	await pc.setLocalDescription(await pc.createOffer());
	await gathered(pc);
	callId = "c" + (++callSeq);
	send({ type: "call", call: callId, to: to, sdp: pc.localDescription.sdp });
	$("dial").disabled = true;
	$("hangup").disabled = false;
	$("mute").disabled = false;
}

/* Answer the incoming call: our answer after ICE gathering, like an offer. */
async function answerCall() {
	const m = incoming;
	if (!m || pc) return;
	$("answer").hidden = true;
	callId = m.call;
	try {
		stream = await navigator.mediaDevices.getUserMedia({ audio: true });
	} catch (e) {
		log("no microphone: " + e);
		hangup();
		return;
	}
	pc = new RTCPeerConnection({ iceServers: [] });
	pc.ontrack = (e) => { $("remote").srcObject = e.streams[0] || new MediaStream([e.track]); };
	pc.onconnectionstatechange = () => log("pc: " + pc.connectionState);
	await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
	const tr = pc.getTransceivers()[0];
	tr.direction = "sendrecv";
	await tr.sender.replaceTrack(stream.getAudioTracks()[0]);
	sender = tr.sender;
	await pc.setLocalDescription(await pc.createAnswer());
	await gathered(pc);
	send({ type: "answer", call: callId, sdp: pc.localDescription.sdp });
	$("mute").disabled = false;
	setState("connected call");
	result.answered = true;
	afterAnswer();
}

function afterAnswer() {
	levelTimer = setInterval(async () => {
		if (!pc) return;
		const stats = await pc.getStats();
		stats.forEach((s) => {
			if (s.type === "inbound-rtp" && s.kind === "audio") {
				$("level").value = s.audioLevel || 0;
				result.packetsReceived = s.packetsReceived;
				result.totalAudioEnergy = s.totalAudioEnergy;
			}
			if (s.type === "outbound-rtp" && s.kind === "audio")
				result.packetsSent = s.packetsSent;
			if (s.type === "transport")
				result.dtlsState = s.dtlsState;
		});
	}, 500);
	if (params.has("hold")) {
		setTimeout(() => { if (sender && sender.dtmf) sender.dtmf.insertDTMF("1"); }, 200);
		setTimeout(() => { result.ok = true; hangup(); }, Number(params.get("hold")));
	}
}

function hangup() {
	const id = callId || (incoming && incoming.call);
	if (id) send({ type: "hangup", call: id });
	endCall();
}

function endCall() {
	if (result.answered && result.packetsReceived !== undefined) result.ok = true;
	incoming = null;
	$("answer").hidden = true;
	if (levelTimer) clearInterval(levelTimer);
	levelTimer = null;
	if (pc) pc.close();
	if (stream) stream.getTracks().forEach((t) => t.stop());
	pc = null; stream = null; sender = null; callId = null; early = false;
	$("dial").disabled = false;
	$("hangup").disabled = true;
	$("mute").disabled = true;
	if (auto) report();
}

function mute() {
	if (!stream) return;
	const t = stream.getAudioTracks()[0];
	t.enabled = !t.enabled;
	$("mute").textContent = t.enabled ? "Mute" : "Unmute";
}

function dtmf(d) {
	if (!sender || !sender.dtmf || !callId) return;
	sender.dtmf.insertDTMF(d, 120, 70);
	send({ type: "dtmf", call: callId, digits: d });
}

for (const d of "123456789*0#") {
	const b = document.createElement("button");
	b.textContent = d;
	b.onclick = () => dtmf(d);
	$("keypad").appendChild(b);
}
$("loginbtn").onclick = () => { if (ws && ws.readyState === 1) login(); };
$("dial").onclick = dial;
$("answer").onclick = answerCall;
$("hangup").onclick = hangup;
$("mute").onclick = mute;
if (auto) {
	$("user").value = params.get("user");
	result.user = params.get("user");
	$("pass").value = params.get("pass") || "";
	setTimeout(() => { if (!result.ok) { result.timeout = true; report(); } },
		Number(params.get("deadline") || 30000));
}
connect();
