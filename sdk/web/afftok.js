/*! AffTok Web SDK 1.0: landing and thank-you page tracking through /pixel. No dependencies, no API key. */
/*
 * Landing page: keeps the click id the tracking link put in the URL
 * (?click_id=...) in a first-party cookie and localStorage for the
 * attribution window. Thank-you page: AffTok.conversion({...}) reports the
 * sale to <endpoint>/pixel as an image request (no CORS needed), or with
 * navigator.sendBeacon. Reports that fail wait in a bounded queue in
 * localStorage and are retried with backoff, also on the next page load.
 * A repeated call for the same transaction is sent once.
 *
 * Configuration: attributes of the script tag (data-endpoint, data-param,
 * data-days, data-cookie-domain, data-transport) or AffTok.init({...}).
 * Conversions can be declared without inline script (strict CSP):
 * data-transaction-id, data-amount, data-currency, data-event on the tag.
 *
 * Written in ES5 with a statement per line, so the build's minifier (terser,
 * or sed stripping comments and indentation) cannot change its meaning.
 */
(function (window, document) {
'use strict';

var prior = window.AffTok;
var script = document.currentScript;
if (prior && prior.version) {
	/* Loaded twice: the first copy does the work, this tag's conversion too. */
	if (script && script.getAttribute && script.getAttribute('data-transaction-id')) {
		prior.conversion({
			transaction_id: script.getAttribute('data-transaction-id'),
			amount: script.getAttribute('data-amount'),
			currency: script.getAttribute('data-currency'),
			event: script.getAttribute('data-event')
		});
	}
	return;
}

var ID_RE = /^[0-9A-Za-z_-]{1,40}$/;
var AMOUNT_RE = /^[0-9]{1,12}(\.[0-9]{1,6})?$/;
var CURRENCY_RE = /^[A-Za-z]{3}$/;
var STORE_KEY = 'afftok';
var QUEUE_KEY = 'afftok_queue';
var SENT_KEY = 'afftok_sent';
var DAY_MS = 86400000;

var cfg = {
	endpoint: '',
	param: 'click_id',
	days: 30,
	cookie: 'afftok_cid',
	cookieDomain: '',
	transport: 'image',
	queueMax: 20,
	sentMax: 100,
	maxAttempts: 12,
	timeoutMs: 10000
};

var memory = {};
var inflight = {};
var timer = null;

function now() {
	return new Date().getTime();
}

/* localStorage may be missing or refuse writes (private mode, quota):
 * then this page's memory stands in, so the SDK still works for the visit. */
function load(key, fallback) {
	var v = null;
	try {
		v = window.localStorage.getItem(key);
	} catch (e) {
		v = null;
	}
	if (v === null && memory.hasOwnProperty(key)) {
		v = memory[key];
	}
	if (v === null) {
		return fallback;
	}
	try {
		return JSON.parse(v);
	} catch (e2) {
		return fallback;
	}
}

function save(key, value) {
	var v = JSON.stringify(value);
	memory[key] = v;
	try {
		window.localStorage.setItem(key, v);
	} catch (e) {
		/* memory keeps it for this page */
	}
}

function readCookie(name) {
	var parts = document.cookie ? document.cookie.split(/;\s*/) : [];
	for (var i = 0; i < parts.length; i++) {
		var eq = parts[i].indexOf('=');
		if (eq > 0 && parts[i].substring(0, eq) === name) {
			try {
				return decodeURIComponent(parts[i].substring(eq + 1));
			} catch (e) {
				return null;
			}
		}
	}
	return null;
}

function writeCookie(name, value, maxAgeS) {
	var c = name + '=' + encodeURIComponent(value) + '; Max-Age=' + maxAgeS + '; Path=/; SameSite=Lax';
	if (cfg.cookieDomain) {
		c += '; Domain=' + cfg.cookieDomain;
	}
	if (window.location.protocol === 'https:') {
		c += '; Secure';
	}
	document.cookie = c;
}

function urlParam(name) {
	var q = window.location.search.replace(/^\?/, '').split('&');
	for (var i = 0; i < q.length; i++) {
		var eq = q[i].indexOf('=');
		var k = eq < 0 ? q[i] : q[i].substring(0, eq);
		if (k === name && eq >= 0) {
			try {
				return decodeURIComponent(q[i].substring(eq + 1).replace(/\+/g, ' '));
			} catch (e) {
				return null;
			}
		}
	}
	return null;
}

/* The click id of the landing URL, if any, replaces the stored one: the
 * last click before the sale is the one credited. */
function capture() {
	var id = urlParam(cfg.param);
	if (id === null || !ID_RE.test(id)) {
		return;
	}
	var windowMs = cfg.days * DAY_MS;
	save(STORE_KEY, {cid: id, at: now(), exp: now() + windowMs});
	writeCookie(cfg.cookie, id, Math.floor(windowMs / 1000));
}

function clickId() {
	var c = readCookie(cfg.cookie);
	if (c !== null && ID_RE.test(c)) {
		return c;
	}
	/* The cookie may have been cut short (browsers cap script cookies). */
	var s = load(STORE_KEY, null);
	if (s && typeof s.cid === 'string' && ID_RE.test(s.cid) && s.exp > now()) {
		return s.cid;
	}
	return null;
}

function text(v, max) {
	if (v === undefined || v === null || v === '') {
		return null;
	}
	v = String(v);
	return v.length <= max ? v : undefined;
}

/* Amounts go out as plain decimals: numbers are written with toFixed so
 * 0.1 + 0.2 or 1e21 never reach the server as float text. */
function amountText(v) {
	if (v === undefined || v === null || v === '') {
		return null;
	}
	if (typeof v === 'number') {
		if (!isFinite(v) || v < 0) {
			return undefined;
		}
		v = v.toFixed(6).replace(/\.?0+$/, '');
	}
	v = String(v);
	return AMOUNT_RE.test(v) ? v : undefined;
}

function enc(k, v) {
	return encodeURIComponent(k) + '=' + encodeURIComponent(v);
}

function buildQuery(p) {
	var out = [];
	var names = ['click_id', 'transaction_id', 'amount', 'currency', 'event'];
	for (var i = 0; i < names.length; i++) {
		if (p[names[i]] !== null && p[names[i]] !== undefined) {
			out.push(enc(names[i], p[names[i]]));
		}
	}
	return out.join('&');
}

function endpoint() {
	return cfg.endpoint.replace(/\/+$/, '');
}

function sentKeys() {
	var s = load(SENT_KEY, []);
	return s instanceof Array ? s : [];
}

function markSent(key) {
	var s = sentKeys();
	if (s.indexOf(key) < 0) {
		s.push(key);
	}
	while (s.length > cfg.sentMax) {
		s.shift();
	}
	save(SENT_KEY, s);
}

function queue() {
	var q = load(QUEUE_KEY, []);
	return q instanceof Array ? q : [];
}

function setQueue(q) {
	while (q.length > cfg.queueMax) {
		q.shift();
	}
	save(QUEUE_KEY, q);
}

function removeFromQueue(key) {
	var q = queue();
	var kept = [];
	for (var i = 0; i < q.length; i++) {
		if (q[i].k !== key) {
			kept.push(q[i]);
		}
	}
	setQueue(kept);
}

/* 1 s, 2 s, 4 s ... up to 5 minutes, with jitter so a site's visitors do
 * not come back all at once after an outage. */
function backoff(attempts) {
	var base = Math.min(300000, 1000 * Math.pow(2, Math.max(0, attempts - 1)));
	return Math.round(base * (0.75 + Math.random() * 0.5));
}

function sendImage(url, done) {
	var img = new window.Image();
	var finished = false;
	var t = window.setTimeout(function () {
		finish(false);
	}, cfg.timeoutMs);
	function finish(ok) {
		if (finished) {
			return;
		}
		finished = true;
		window.clearTimeout(t);
		img.onload = img.onerror = null;
		done(ok);
	}
	img.onload = function () {
		finish(true);
	};
	img.onerror = function () {
		finish(false);
	};
	img.referrerPolicy = 'no-referrer-when-downgrade';
	img.src = url;
}

/* sendBeacon only says the browser took the request, so it counts as sent;
 * the server's transaction id de-duplicates whatever is sent twice. */
function sendBeacon(item, done) {
	var ok = false;
	try {
		var body = new window.Blob([buildQuery(item.p)], {type: 'application/x-www-form-urlencoded'});
		ok = window.navigator.sendBeacon(endpoint() + '/pixel', body);
	} catch (e) {
		ok = false;
	}
	done(!!ok);
}

function schedule() {
	var q = queue();
	var next = null;
	for (var i = 0; i < q.length; i++) {
		if (!inflight[q[i].k] && (next === null || q[i].t < next)) {
			next = q[i].t;
		}
	}
	if (timer !== null) {
		window.clearTimeout(timer);
		timer = null;
	}
	if (next !== null) {
		timer = window.setTimeout(flush, Math.max(0, next - now()));
	}
}

function attempt(item) {
	inflight[item.k] = true;
	var handler = function (ok) {
		delete inflight[item.k];
		var q = queue();
		var kept = [];
		for (var i = 0; i < q.length; i++) {
			if (q[i].k !== item.k) {
				kept.push(q[i]);
				continue;
			}
			if (ok) {
				continue;
			}
			q[i].n = (q[i].n || 0) + 1;
			q[i].t = now() + backoff(q[i].n);
			if (q[i].n < cfg.maxAttempts) {
				kept.push(q[i]);
			}
		}
		if (ok) {
			markSent(item.k);
		}
		setQueue(kept);
		settle(item.k, ok ? 'sent' : 'queued');
		schedule();
	};
	if (cfg.transport === 'beacon' && window.navigator.sendBeacon) {
		sendBeacon(item, handler);
	} else {
		sendImage(endpoint() + '/pixel?' + buildQuery(item.p), handler);
	}
}

/* Sends every queued report that is due; at a page load (all) every one,
 * since a new page is the natural moment to try again. */
function flush(all) {
	timer = null;
	if (!endpoint()) {
		return;
	}
	if (window.navigator.onLine === false) {
		return; /* the 'online' event calls flush again */
	}
	var q = queue();
	for (var i = 0; i < q.length; i++) {
		if (!inflight[q[i].k] && (all === true || q[i].t <= now())) {
			attempt(q[i]);
		}
	}
	schedule();
}

/* Promises of conversion() calls, resolved when their first try ends. */
var waiting = {};

function settle(key, status) {
	var w = waiting[key];
	delete waiting[key];
	for (var i = 0; w && i < w.length; i++) {
		w[i](status);
	}
}

function promise(fn) {
	if (typeof window.Promise === 'function') {
		return new window.Promise(fn);
	}
	var result = {then: function (cb) {
		fn(cb);
		return result;
	}};
	return result;
}

/* AffTok.conversion({transaction_id, amount, currency, event}): resolves
 * to 'sent', 'queued' (will be retried), 'duplicate' (already reported from
 * this browser), 'no_click' (no click id within the attribution window) or
 * 'invalid' (a field is malformed; nothing is sent). */
function conversion(o) {
	o = o || {};
	return promise(function (resolve) {
		var cid = clickId();
		if (cid === null) {
			resolve('no_click');
			return;
		}
		var p = {
			click_id: cid,
			transaction_id: text(o.transaction_id, 128),
			amount: amountText(o.amount),
			currency: o.currency ? (CURRENCY_RE.test(String(o.currency)) ? String(o.currency).toUpperCase() : undefined) : null,
			event: text(o.event, 64)
		};
		for (var f in p) {
			if (p.hasOwnProperty(f) && p[f] === undefined) {
				resolve('invalid');
				return;
			}
		}
		/* Without a transaction id the server derives one from click and
		 * event, so the same goes for the local de-duplication. */
		var key = cid + '|' + (p.transaction_id !== null ? 't:' + p.transaction_id : 'e:' + (p.event || 'conversion'));
		var q = queue();
		for (var i = 0; i < q.length; i++) {
			if (q[i].k === key) {
				resolve('duplicate');
				return;
			}
		}
		if (sentKeys().indexOf(key) >= 0) {
			resolve('duplicate');
			return;
		}
		q.push({k: key, p: p, n: 0, t: now()});
		setQueue(q);
		(waiting[key] = waiting[key] || []).push(resolve);
		if (!endpoint() || window.navigator.onLine === false) {
			settle(key, 'queued');
			return;
		}
		flush();
	});
}

function readTag() {
	if (!script || !script.getAttribute) {
		return {};
	}
	var o = {};
	var src = script.getAttribute('src') || '';
	var m = /^(https?:)?\/\/[^\/]+/.exec(src);
	/* By default the endpoint is where the SDK itself was loaded from. */
	o.endpoint = script.getAttribute('data-endpoint') || (m ? m[0] : window.location.protocol + '//' + window.location.host);
	if (o.endpoint.indexOf('//') === 0) {
		o.endpoint = window.location.protocol + o.endpoint;
	}
	var map = {param: 'data-param', days: 'data-days', cookieDomain: 'data-cookie-domain', transport: 'data-transport'};
	for (var k in map) {
		if (map.hasOwnProperty(k) && script.getAttribute(map[k])) {
			o[k] = script.getAttribute(map[k]);
		}
	}
	return o;
}

function init(o) {
	o = o || {};
	for (var k in o) {
		if (o.hasOwnProperty(k) && cfg.hasOwnProperty(k) && o[k] !== undefined && o[k] !== null) {
			cfg[k] = typeof cfg[k] === 'number' ? Number(o[k]) : o[k];
		}
	}
	if (!(cfg.days > 0)) {
		cfg.days = 30;
	}
	capture();
	flush(true);
	return api;
}

var api = {
	version: '1.0.0',
	init: init,
	conversion: conversion,
	clickId: clickId,
	flush: flush,
	/* For tests and support: how many reports wait in the queue. */
	pending: function () {
		return queue().length;
	}
};

window.AffTok = api;
init(readTag());

if (window.addEventListener) {
	window.addEventListener('online', function () {
		flush(true);
	});
	/* Leaving the page: what waits goes out as beacons, and stays queued
	 * until an image request confirms it on a later page. */
	window.addEventListener('pagehide', function () {
		var q = queue();
		for (var i = 0; i < q.length && window.navigator.sendBeacon; i++) {
			if (inflight[q[i].k]) {
				sendBeacon(q[i], function () {});
			}
		}
	});
}

/* Calls made before the SDK loaded (the async snippet's stub queue). */
if (prior && prior.q instanceof Array) {
	for (var i = 0; i < prior.q.length; i++) {
		var c = prior.q[i];
		if (c && api.hasOwnProperty(c[0]) && typeof api[c[0]] === 'function') {
			var r = api[c[0]].apply(api, c.slice(1));
			if (c[2] && typeof c[2] === 'function' && r && r.then) {
				r.then(c[2]);
			}
		}
	}
}

/* Declarative conversion on the tag (no inline script needed). */
if (script && script.getAttribute && (script.getAttribute('data-transaction-id') || script.getAttribute('data-event'))) {
	conversion({
		transaction_id: script.getAttribute('data-transaction-id'),
		amount: script.getAttribute('data-amount'),
		currency: script.getAttribute('data-currency'),
		event: script.getAttribute('data-event')
	});
}
})(window, document);
